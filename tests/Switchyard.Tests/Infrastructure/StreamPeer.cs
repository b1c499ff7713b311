using System.Text.Json;
using Switchyard.Demo;

namespace Switchyard.Tests.Infrastructure;

/// <summary>
/// `switchyard-peer stream` in a topology namespace: long-lived connections that stream pattern bytes to a
/// server's --stream-port and verify the echo byte by byte. <see cref="Status"/> reads its live status file;
/// <see cref="Stop"/> asks it to finish (every byte echoed, then the server's FIN) and returns its summary.
/// The topology kills the process on Dispose if a test fails before stopping it.
/// </summary>
public sealed class StreamPeer
{
    /// <summary>One connection as the stream client last reported it.</summary>
    public sealed record Connection(string Client, long Id, string Backend, string Local, string State, string? Error,
        double? FailedAtMs, long Sent, long Verified, double LastVerifiedMs, int Subflows, bool? Fallback,
        IReadOnlyList<long> SubflowBytesAcked)
    {
        public string Key => $"{Client}#{Id}";
        public bool Alive => State is "streaming" or "finishing";
        public override string ToString() =>
            $"{Key} {Local} -> {Backend}: {State}{(Error is null ? "" : $" ({Error} at {FailedAtMs} ms)")}, sent {Sent}, verified {Verified}, " +
            $"last progress {LastVerifiedMs} ms" + (Fallback is null ? "" : $", mptcp fallback={Fallback} subflows={Subflows} acked=[{string.Join(",", SubflowBytesAcked)}]");
    }

    public string Name { get; }
    public BackgroundProcess Process { get; }
    public JsonElement Ready { get; }
    readonly string _statusFile;

    StreamPeer(string name, BackgroundProcess p, string statusFile, JsonElement ready)
    {
        Name = name; Process = p; _statusFile = statusFile; Ready = ready;
    }

    /// <summary>Starts a stream client in ns and waits for its READY line (every wanted connection streaming).</summary>
    /// <param name="want">Connections to keep per backend name, e.g. {b1: 2, b2: 2}.</param>
    public static StreamPeer Start(Topology t, string name, string ns, string target, int port, IReadOnlyDictionary<string, int> want,
        string statusDir, bool mptcp = false, int chunk = 4096, int intervalMs = 50, TimeSpan? readyTimeout = null)
    {
        var status = Path.Combine(statusDir, $"stream-{name}.json");
        var args = new List<string> { PeerProcess.DllPath, "stream", "--target", target, "--port", port.ToString(),
            "--want", string.Join(",", want.Select(kv => $"{kv.Key}:{kv.Value}")), "--max-attempts", "400",
            "--chunk", chunk.ToString(), "--interval-ms", intervalMs.ToString(), "--status", status, "--status-ms", "200",
            "--timeout-ms", "10000", "--finish-timeout-ms", "8000" };
        if (mptcp) args.AddRange(["--mptcp", "--expect-subflows", "2", "--subflow-wait-ms", "10000"]);
        var bp = new BackgroundProcess(t.StartProcess(ns, PeerProcess.Dotnet, args.ToArray()));
        var until = DateTime.UtcNow + (readyTimeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var line = bp.StdOut.Split('\n').FirstOrDefault(l => l.StartsWith("READY ", StringComparison.Ordinal));
            if (line is not null)
                return new StreamPeer(name, bp, status, JsonDocument.Parse(line["READY ".Length..]).RootElement.Clone());
            if (bp.Process.HasExited)
                throw new InvalidOperationException($"stream client {name} in {ns} exited ({bp.Process.ExitCode}) before READY:\n{bp.StdOut}\n{bp.StdErr}");
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"stream client {name} in {ns} not READY:\n{bp.StdOut}\n{bp.StdErr}");
            Thread.Sleep(50);
        }
    }

    /// <summary>The connections as of the client's latest status file (rewritten every 200 ms, atomically).</summary>
    public IReadOnlyList<Connection> Status()
    {
        var root = JsonDocument.Parse(File.ReadAllText(_statusFile)).RootElement;
        var list = new List<Connection>();
        foreach (var c in root.GetProperty("connections").EnumerateArray())
        {
            var mp = c.GetProperty("mptcp");
            bool mptcp = mp.ValueKind == JsonValueKind.Object;
            var subs = mptcp ? mp.GetProperty("subflows").EnumerateArray().ToList() : [];
            list.Add(new Connection(Name, c.GetProperty("id").GetInt64(), c.GetProperty("backend").GetString()!,
                c.GetProperty("local").GetString()!, c.GetProperty("state").GetString()!,
                c.GetProperty("error").ValueKind == JsonValueKind.String ? c.GetProperty("error").GetString() : null,
                c.GetProperty("failedAtMs").ValueKind == JsonValueKind.Number ? c.GetProperty("failedAtMs").GetDouble() : null,
                c.GetProperty("sent").GetInt64(), c.GetProperty("verified").GetInt64(), c.GetProperty("lastVerifiedMs").GetDouble(),
                subs.Count(s => s.GetProperty("state").GetInt32() == 1), mptcp ? mp.GetProperty("fallback").GetBoolean() : null,
                subs.Select(s => s.GetProperty("bytesAcked").GetInt64()).ToList()));
        }
        return list;
    }

    /// <summary>"stop" on stdin: the client stops sending, half-closes, waits for the whole echo and the server's FIN,
    /// prints its summary and exits (0: every connection ended cleanly). Returns the exit code, the summary and the
    /// final per-connection status.</summary>
    public (int ExitCode, JsonElement? Summary, IReadOnlyList<Connection> Final) Stop(TimeSpan timeout)
    {
        try { Process.Process.StandardInput.WriteLine("stop"); Process.Process.StandardInput.Flush(); }
        catch (IOException) { }
        if (!Process.Process.WaitForExit(timeout))
        {
            ProcessRunner.KillTree(Process.Process);
            throw new TimeoutException($"stream client {Name} did not finish within {timeout.TotalSeconds}s:\n{Process.StdOut}\n{Process.StdErr}");
        }
        Process.Process.WaitForExit();
        var line = Process.StdOut.Split('\n').LastOrDefault(l => l.StartsWith('{'));
        JsonElement? summary = line is null ? null : JsonDocument.Parse(line).RootElement.Clone();
        return (Process.Process.ExitCode, summary, Status());
    }
}
