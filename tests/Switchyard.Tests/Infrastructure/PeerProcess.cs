using System.Text.Json;
using Switchyard.Demo;

namespace Switchyard.Tests.Infrastructure;

/// <summary>Starts switchyard-peer (copied next to the test assembly by the project reference) inside namespaces.</summary>
public static class PeerProcess
{
    public static string DllPath
    {
        get
        {
            var p = Path.Combine(AppContext.BaseDirectory, "switchyard-peer.dll");
            return File.Exists(p) ? p : throw new FileNotFoundException($"switchyard-peer.dll not found next to the tests ({p}); build src/Peer");
        }
    }

    public static string Dotnet => Environment.ProcessPath is { } pp && Path.GetFileNameWithoutExtension(pp) == "dotnet"
        ? pp : ProcessRunner.Which("dotnet") ?? "dotnet";

    /// <summary>Starts a server in ns and waits for its READY lines (one per listen address). The topology kills it on Dispose.</summary>
    public static BackgroundProcess StartServer(Topology t, string ns, string id, int port, bool udp, params string[] listen)
    {
        var args = new List<string> { DllPath, "server", "--port", port.ToString(), "--id", id };
        foreach (var l in listen) { args.Add("--listen"); args.Add(l); }
        if (udp) args.Add("--udp");
        var bp = new BackgroundProcess(t.StartProcess(ns, Dotnet, args.ToArray()));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (bp.StdOut.Split('\n').Count(l => l.StartsWith("READY")) < listen.Length)
        {
            if (bp.Process.HasExited) throw new InvalidOperationException($"peer server {id} in {ns} exited ({bp.Process.ExitCode}):\n{bp.StdErr}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"peer server {id} in {ns} not ready:\n{bp.StdOut}\n{bp.StdErr}");
            Thread.Sleep(50);
        }
        return bp;
    }

    public sealed record ClientRun(ProcessResult Process, JsonElement? Summary)
    {
        public int Succeeded => Summary?.GetProperty("succeeded").GetInt32() ?? 0;
        public int Failed => Summary?.GetProperty("failed").GetInt32() ?? -1;
        public Dictionary<string, int> Backends => Summary is { } s
            ? s.GetProperty("backends").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32()) : new();
        public override string ToString() => Process.Describe("switchyard-peer client");
    }

    /// <summary>Runs a client to completion in ns (bounded: the run's own deadline, and a hard kill after that).</summary>
    public static ClientRun RunClient(string ns, string target, int port, int connections, int concurrency, int bytes,
        bool udp = false, int timeoutMs = 5000, int deadlineMs = 120_000)
    {
        var args = new List<string> { "netns", "exec", ns, Dotnet, DllPath, "client", "--target", target, "--port", port.ToString(),
            "--connections", connections.ToString(), "--concurrency", concurrency.ToString(), "--bytes", bytes.ToString(),
            "--timeout-ms", timeoutMs.ToString(), "--deadline-ms", deadlineMs.ToString(), "--json" };
        if (udp) args.Add("--udp");
        var r = ProcessRunner.Run("ip", args, TimeSpan.FromMilliseconds(deadlineMs + 30_000));
        JsonElement? summary = null;
        var line = r.StdOut.Split('\n').LastOrDefault(l => l.StartsWith('{'));
        if (line is not null) summary = JsonDocument.Parse(line).RootElement.Clone();
        return new ClientRun(r, summary);
    }
}
