using System.Text.Json;
using Switchyard.Demo;

namespace Switchyard.Tests.Infrastructure;

/// <summary>
/// A steady arrival of short connections in the background: `switchyard-peer client --stop-on-stdin --interval-ms I`
/// (C workers, each one connection after another with a pause of I ms), every connection's outcome and wall-clock
/// start written to a details file, so a test can tell which step of its timeline each connection belongs to.
/// </summary>
public sealed class ArrivalsPeer
{
    public sealed record Arrival(string Client, long Conn, bool Ok, string? Backend, string? Reason, long StartUnixMs, double Ms, string? Local)
    {
        public DateTimeOffset Start => DateTimeOffset.FromUnixTimeMilliseconds(StartUnixMs);
        public override string ToString() => $"{Client}#{Conn} {Local} at {Start:HH:mm:ss.fff}: {(Ok ? "ok" : "FAILED " + Reason)} -> {Backend} ({Ms} ms)";
    }

    /// <summary>Parses one line of `switchyard-peer client --details`.</summary>
    public static Arrival Parse(string client, string line)
    {
        var e = JsonDocument.Parse(line).RootElement;
        return new Arrival(client, e.GetProperty("conn").GetInt64(), e.GetProperty("ok").GetBoolean(),
            e.GetProperty("backend").GetString(), e.GetProperty("reason").GetString(),
            e.GetProperty("startUnixMs").GetInt64(), e.GetProperty("ms").GetDouble(),
            e.TryGetProperty("local", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString() : null);
    }

    public string Name { get; }
    readonly BackgroundProcess _p;
    readonly string _details;

    ArrivalsPeer(string name, BackgroundProcess p, string details) { Name = name; _p = p; _details = details; }

    public static ArrivalsPeer Start(Topology t, string name, string ns, string target, int port, string dir,
        int concurrency = 2, int intervalMs = 40, int bytes = 8192, string? sourcePorts = null)
    {
        var details = Path.Combine(dir, $"arrivals-{name}.jsonl");
        var args = new List<string> { PeerProcess.DllPath, "client", "--target", target,
            "--port", port.ToString(), "--connections", "1000000", "--concurrency", concurrency.ToString(), "--bytes", bytes.ToString(),
            "--interval-ms", intervalMs.ToString(), "--timeout-ms", "10000", "--deadline-ms", "600000", "--stop-on-stdin",
            "--json", "--details", details };
        if (sourcePorts is not null) args.AddRange(["--source-ports", sourcePorts]);
        var p = new BackgroundProcess(t.StartProcess(ns, PeerProcess.Dotnet, args.ToArray()));
        return new ArrivalsPeer(name, p, details);
    }

    /// <summary>Stops starting connections, lets the ones in flight finish, returns the exit code, the summary and
    /// every connection (the client writes its details at exit).</summary>
    public (int ExitCode, JsonElement? Summary, IReadOnlyList<Arrival> Arrivals, string Output) Stop(TimeSpan timeout)
    {
        try { _p.Process.StandardInput.WriteLine("stop"); _p.Process.StandardInput.Flush(); }
        catch (IOException) { }
        if (!_p.Process.WaitForExit(timeout))
        {
            ProcessRunner.KillTree(_p.Process);
            throw new TimeoutException($"arrivals client {Name} did not stop within {timeout.TotalSeconds}s:\n{_p.StdOut}\n{_p.StdErr}");
        }
        _p.Process.WaitForExit();
        var line = _p.StdOut.Split('\n').LastOrDefault(l => l.StartsWith('{'));
        JsonElement? summary = line is null ? null : JsonDocument.Parse(line).RootElement.Clone();
        var list = new List<Arrival>();
        if (File.Exists(_details))
            foreach (var l in File.ReadLines(_details))
            {
                if (!l.StartsWith('{')) continue;
                list.Add(Parse(Name, l));
            }
        return (_p.Process.ExitCode, summary, list, $"{_p.StdOut}\n{_p.StdErr}");
    }
}
