using System.Text.Json;
using Switchyard.Demo;

namespace Switchyard.Tests.Infrastructure;

/// <summary>switchyard-peer in MPTCP mode (--mptcp) inside topology namespaces: servers that report each connection's
/// token and subflows, clients that wait for the joins and report per-subflow byte counts.</summary>
public static class MptcpPeer
{
    /// <summary>One connection as an MPTCP server saw it ("MPTCP {json}" lines on its stdout).</summary>
    public sealed record ServerConnection(string Id, string Remote, string Local, bool Mptcp, string? Token, int Subflows,
        long Bytes, string Digest, IReadOnlyList<ServerSubflow> SubflowDetails);

    public sealed record ServerSubflow(string Local, string Remote, long BytesReceived);

    /// <summary>Starts an MPTCP server in ns and waits for its READY lines; the topology kills it on Dispose.</summary>
    public static BackgroundProcess StartServer(Topology t, string ns, string id, int port, params string[] listen)
    {
        var args = new List<string> { PeerProcess.DllPath, "server", "--port", port.ToString(), "--id", id, "--mptcp" };
        foreach (var l in listen) { args.Add("--listen"); args.Add(l); }
        var bp = new BackgroundProcess(t.StartProcess(ns, PeerProcess.Dotnet, args.ToArray()));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (bp.StdOut.Split('\n').Count(l => l.StartsWith("READY")) < listen.Length)
        {
            if (bp.Process.HasExited) throw new InvalidOperationException($"mptcp peer server {id} in {ns} exited ({bp.Process.ExitCode}):\n{bp.StdErr}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"mptcp peer server {id} in {ns} not ready:\n{bp.StdOut}\n{bp.StdErr}");
            Thread.Sleep(50);
        }
        return bp;
    }

    /// <summary>The connections a server reported so far (parsed from its stdout).</summary>
    public static List<ServerConnection> ServerConnections(BackgroundProcess server)
    {
        var list = new List<ServerConnection>();
        foreach (var line in server.StdOut.Split('\n'))
        {
            if (!line.StartsWith("MPTCP {", StringComparison.Ordinal)) continue;
            var e = JsonDocument.Parse(line["MPTCP ".Length..]).RootElement;
            var subs = e.GetProperty("subflowDetails").ValueKind == JsonValueKind.Array
                ? e.GetProperty("subflowDetails").EnumerateArray().Select(s => new ServerSubflow(
                    s.GetProperty("local").GetString()!, s.GetProperty("remote").GetString()!, s.GetProperty("bytesReceived").GetInt64())).ToList()
                : [];
            list.Add(new ServerConnection(e.GetProperty("id").GetString()!, e.GetProperty("remote").GetString() ?? "",
                e.GetProperty("local").GetString() ?? "", e.GetProperty("mptcp").GetBoolean(), e.GetProperty("token").GetString(),
                e.GetProperty("subflows").GetInt32(), e.GetProperty("bytes").GetInt64(), e.GetProperty("digest").GetString()!, subs));
        }
        return list;
    }

    /// <summary>Waits until a server reported at least n connections (it reports at each client's EOF, before answering,
    /// so after a successful client run they are all there; this only guards against stdout buffering).</summary>
    public static List<ServerConnection> WaitForServerConnections(BackgroundProcess server, int n, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            var l = ServerConnections(server);
            if (l.Count >= n || DateTime.UtcNow > until) return l;
            Thread.Sleep(50);
        }
    }

    public sealed record ClientConnection(long Conn, bool Ok, string? Backend, bool Mptcp, bool? Fallback, string? Token,
        bool ReachedExpectedSubflows, double SubflowWaitMs, IReadOnlyList<ClientSubflow> Subflows);

    public sealed record ClientSubflow(string Local, string Remote, long BytesSent, long BytesAcked, long BytesReceived);

    public sealed record ClientRun(ProcessResult Process, JsonElement? Summary, IReadOnlyList<ClientConnection> Connections)
    {
        public int Succeeded => Summary?.GetProperty("succeeded").GetInt32() ?? 0;
        public int Failed => Summary?.GetProperty("failed").GetInt32() ?? -1;
        public double ElapsedMs => Summary?.GetProperty("elapsedMs").GetDouble() ?? 0;
        public JsonElement Mptcp => Summary?.GetProperty("mptcp") ?? default;
        public int MptcpConnections => Mptcp.GetProperty("mptcpConnections").GetInt32();
        public int FallbackToTcp => Mptcp.GetProperty("fallbackToTcp").GetInt32();
        public int AllSubflowsCarryingData => Mptcp.GetProperty("connectionsWithAllSubflowsCarryingData").GetInt32();
        public Dictionary<int, int> SubflowsHistogram => Mptcp.GetProperty("subflowsHistogram").EnumerateObject()
            .ToDictionary(p => int.Parse(p.Name), p => p.Value.GetInt32());
        public Dictionary<string, int> JoinRemotes => Mptcp.GetProperty("joinRemotes").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        public Dictionary<string, int> JoinLocalAddresses => Mptcp.GetProperty("joinLocalAddresses").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        public Dictionary<string, int> Backends => Summary is { } s
            ? s.GetProperty("backends").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32()) : new();
        public override string ToString() => Process.Describe("switchyard-peer client --mptcp");
    }

    /// <summary>Runs an MPTCP client to completion in ns: connections of `bytes` each; each waits up to subflowWaitMs
    /// for expectSubflows subflows after the first primeBytes. Bounded by the run's deadline and a hard kill after it.</summary>
    public static ClientRun RunClient(string ns, string target, int port, int connections, int concurrency, int bytes,
        int expectSubflows = 2, int subflowWaitMs = 3000, int primeBytes = 4096, string? bind = null,
        int timeoutMs = 15_000, int deadlineMs = 120_000, string? sourcePorts = null)
    {
        var details = Path.Combine(Path.GetTempPath(), $"sy-mptcp-{Guid.NewGuid():N}.jsonl");
        try
        {
            var args = new List<string> { "netns", "exec", ns, PeerProcess.Dotnet, PeerProcess.DllPath, "client", "--target", target,
                "--port", port.ToString(), "--connections", connections.ToString(), "--concurrency", concurrency.ToString(),
                "--bytes", bytes.ToString(), "--timeout-ms", timeoutMs.ToString(), "--deadline-ms", deadlineMs.ToString(), "--json",
                "--mptcp", "--expect-subflows", expectSubflows.ToString(), "--subflow-wait-ms", subflowWaitMs.ToString(),
                "--prime-bytes", primeBytes.ToString(), "--details", details };
            if (bind is not null) { args.Add("--bind"); args.Add(bind); }
            if (sourcePorts is not null) { args.Add("--source-ports"); args.Add(sourcePorts); }
            var r = ProcessRunner.Run("ip", args, TimeSpan.FromMilliseconds(deadlineMs + 30_000));
            JsonElement? summary = null;
            var line = r.StdOut.Split('\n').LastOrDefault(l => l.StartsWith('{'));
            if (line is not null) summary = JsonDocument.Parse(line).RootElement.Clone();
            var conns = File.Exists(details) ? File.ReadAllLines(details).Where(l => l.StartsWith('{')).Select(ParseConn).ToList() : [];
            return new ClientRun(r, summary, conns);
        }
        finally { File.Delete(details); }
    }

    static ClientConnection ParseConn(string line)
    {
        var e = JsonDocument.Parse(line).RootElement;
        var subs = e.GetProperty("subflows").ValueKind == JsonValueKind.Array
            ? e.GetProperty("subflows").EnumerateArray().Select(s => new ClientSubflow(s.GetProperty("local").GetString()!,
                s.GetProperty("remote").GetString()!, s.GetProperty("bytesSent").GetInt64(), s.GetProperty("bytesAcked").GetInt64(),
                s.GetProperty("bytesReceived").GetInt64())).ToList()
            : [];
        return new ClientConnection(e.GetProperty("conn").GetInt64(), e.GetProperty("ok").GetBoolean(),
            e.GetProperty("backend").GetString(), e.GetProperty("mptcp").GetBoolean(),
            e.GetProperty("fallback").ValueKind == JsonValueKind.Null ? null : e.GetProperty("fallback").GetBoolean(),
            e.GetProperty("token").GetString(), e.GetProperty("reachedExpectedSubflows").GetBoolean(),
            e.GetProperty("subflowWaitMs").GetDouble(), subs);
    }

    /// <summary>Runs `ip mptcp monitor` in ns for a bounded time in the background; the returned task yields its output.</summary>
    public static Task<ProcessResult> Monitor(string ns, TimeSpan duration) =>
        Task.Run(() => ProcessRunner.Run("timeout", ["-s", "INT", ((int)Math.Ceiling(duration.TotalSeconds)).ToString(), "ip", "-n", ns, "mptcp", "monitor"],
            duration + TimeSpan.FromSeconds(10)));
}
