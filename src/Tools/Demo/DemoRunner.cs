using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Switchyard.Management.Host;
using Switchyard.Management.Options;

namespace Switchyard.Demo;

public sealed class DemoException(string message) : Exception(message);

/// <summary>
/// The demo behind the README's run command: builds the one-arm L2 DSR topology (network
/// namespaces, a bridge, clients, the configured backends), starts the appliance on the same
/// configuration as a child process inside the topology (with Demo.Enabled=false), drives real
/// Linux TCP connections from the clients to the VIPs, prints what happened per backend, and
/// removes everything it created, also when something fails.
/// </summary>
public sealed class DemoRunner(CommandLine cl, ApplianceOptions o, TextWriter log)
{
    void Log(string m) => log.WriteLine($"demo: {m}");

    public int Run()
    {
        if (geteuid() != 0)
            throw new DemoException("the demo creates network namespaces and needs root (run it with sudo)");
        var backends = o.Pools.SelectMany(p => p.Backends).ToList();
        if (backends.Count is < 1 or > 9) throw new DemoException("the demo topology holds 1 to 9 backends");
        var vip4 = o.Vips.FirstOrDefault(v => IPAddress.Parse(v.Address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            ?? throw new DemoException("the demo needs an IPv4 VIP");
        var vip6 = o.Vips.FirstOrDefault(v => IPAddress.Parse(v.Address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6);
        string iface = $"{o.Demo.Prefix}-lb0";
        if (!o.Eal.Vdevs.Any(v => v.Contains($"iface={iface}", StringComparison.Ordinal)))
            throw new DemoException($"Eal.Vdevs must attach net_af_packet to the demo interface 'iface={iface}' (Demo.Prefix is '{o.Demo.Prefix}')");

        int removed = Topology.CleanupStale(o.Demo.Prefix);
        if (removed > 0) Log($"removed {removed} namespace(s) left over from an earlier run");
        using var topo = Topology.Create(new TopologySpec
        {
            Prefix = o.Demo.Prefix,
            Clients = Math.Max(1, o.Demo.Clients),
            Backends = backends.Count,
            IPv6 = vip6 is not null,
            VipV4 = IPAddress.Parse(vip4.Address),
            VipV6 = vip6 is null ? IPAddress.Parse("2001:db8::100") : IPAddress.Parse(vip6.Address),
        });
        CheckBackendsMatch(topo, backends);
        Log($"topology up: {topo.Clients.Count} client(s), {topo.Backends.Count} backend(s), appliance on {iface} in namespace {topo.ApplianceNamespace}");

        string peer = Path.Combine(AppContext.BaseDirectory, "switchyard-peer.dll");
        if (!File.Exists(peer)) throw new DemoException($"{peer} not found (build the solution)");
        var servers = new List<Process>();
        for (int i = 0; i < topo.Backends.Count; i++)
        {
            var b = topo.Backends[i];
            var listen = new List<string> { "server", "--listen", "0.0.0.0", "--port", vip4.Port.ToString(), "--id", backends[i].Name, "--max-seconds", "600" };
            if (vip6 is not null) { listen.Add("--listen"); listen.Add("::"); }
            servers.Add(topo.StartProcess(b.Namespace, "dotnet", [peer, .. listen]));
        }

        var childArgs = new List<string>(cl.ConfigArgs) { "--Demo:Enabled=false" };
        if (cl.EalArgs.Length > 0) { childArgs.Add("--"); childArgs.AddRange(cl.EalArgs); }
        try
        {
            using var appliance = ApplianceProcess.Start(topo.ApplianceNamespace, Path.GetFullPath(cl.ConfigPath), childArgs,
                line => log.WriteLine($"  [appliance] {line}"));
            var results = RunClients(topo, peer, vip4, vip6);
            var counters = appliance.Stop();
            Report(results, counters, backends);
            return results.All(r => r.Failed == 0 && r.Total > 0) ? 0 : 1;
        }
        catch (InvalidOperationException e) { throw new DemoException(e.Message); }
        finally
        {
            foreach (var s in servers) { try { if (!s.HasExited) s.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }
            Log("removing the topology");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc")] static extern uint geteuid();

    static void CheckBackendsMatch(Topology topo, List<BackendOptions> backends)
    {
        for (int i = 0; i < backends.Count; i++)
        {
            var want = topo.Backends[i];
            if (!string.Equals(backends[i].Mac, want.Mac, StringComparison.OrdinalIgnoreCase) || backends[i].Address != want.V4?.ToString())
                throw new DemoException($"backend '{backends[i].Name}' must have Address {want.V4} and Mac {want.Mac} to match the demo topology");
        }
    }

    sealed record ClientResult(string Client, string Target, int Total, int Succeeded, int Failed, Dictionary<string, int> PerBackend, string Raw);

    List<ClientResult> RunClients(Topology topo, string peer, VipOptions vip4, VipOptions? vip6)
    {
        int perClient = Math.Max(1, o.Demo.Connections / topo.Clients.Count);
        var tasks = topo.Clients.Select((c, i) => Task.Run(() =>
        {
            var vip = (i % 2 == 1 && vip6 is not null) ? vip6 : vip4;
            var args = new[] { "netns", "exec", c.Namespace, "dotnet", peer, "client", "--target", vip.Address, "--port", vip.Port.ToString(),
                "--connections", perClient.ToString(), "--concurrency", Math.Max(1, o.Demo.Concurrency / topo.Clients.Count).ToString(),
                "--bytes", o.Demo.BytesPerConnection.ToString(), "--json", "--deadline-ms", "120000" };
            Log($"client {c.Namespace}: {perClient} connections to {vip.Address}:{vip.Port}");
            var r = Shell.Try("ip", args, timeoutMs: 150_000);
            return Parse(c.Namespace, $"{vip.Address}:{vip.Port}", r.StdOut, r.StdErr);
        })).ToArray();
        Task.WaitAll(tasks);
        return tasks.Select(t => t.Result).ToList();
    }

    static ClientResult Parse(string client, string target, string stdout, string stderr)
    {
        try
        {
            using var doc = JsonDocument.Parse(stdout);
            var root = doc.RootElement;
            var per = new Dictionary<string, int>();
            if (root.TryGetProperty("backends", out var pb))
                foreach (var kv in pb.EnumerateObject()) per[kv.Name] = kv.Value.GetInt32();
            return new ClientResult(client, target, root.GetProperty("total").GetInt32(), root.GetProperty("succeeded").GetInt32(),
                root.GetProperty("failed").GetInt32(), per, stdout);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return new ClientResult(client, target, 0, 0, 1, new(), $"unreadable client output: {stdout} {stderr}");
        }
    }

    void Report(List<ClientResult> results, JsonElement c, List<BackendOptions> backends)
    {
        Console.Out.WriteLine();
        Console.Out.WriteLine("Clients (real Linux TCP through the appliance, bytes checked by SHA-256):");
        foreach (var r in results)
            Console.Out.WriteLine($"  {r.Client,-10} -> {r.Target,-20} {r.Succeeded}/{r.Total} connections ok, {r.Failed} failed");
        var perBackend = new Dictionary<string, int>();
        foreach (var r in results) foreach (var (k, v) in r.PerBackend) perBackend[k] = perBackend.GetValueOrDefault(k) + v;

        Console.Out.WriteLine();
        Console.Out.WriteLine($"  {"backend",-10} {"weight",6} {"conns(client)",14} {"flows(appliance)",17} {"packets",10} {"bytes",12}");
        int total = perBackend.Values.Sum();
        foreach (var b in backends)
        {
            long flows = 0, packets = 0, bytes = 0;
            foreach (var be in c.GetProperty("backends").EnumerateArray())
                    if (be.GetProperty("name").GetString() == b.Name)
                    { flows = be.GetProperty("newFlows").GetInt64(); packets = be.GetProperty("packets").GetInt64(); bytes = be.GetProperty("bytes").GetInt64(); }
            int conns = perBackend.GetValueOrDefault(b.Name);
            Console.Out.WriteLine($"  {b.Name,-10} {b.Weight,6} {conns,8} ({(total == 0 ? 0 : 100.0 * conns / total),4:0}%) {flows,17} {packets,10} {bytes,12}");
        }
        {
            var tot = c.GetProperty("totals");
            Console.Out.WriteLine();
            Console.Out.WriteLine($"Appliance totals: rx {tot.GetProperty("rxPackets")}, forwarded {tot.GetProperty("forwarded")}, " +
                $"ARP replies {tot.GetProperty("arpReplied")}, NDP replies {tot.GetProperty("ndpReplied")}, dropped {tot.GetProperty("dropped")}");
            var drops = tot.GetProperty("drops").EnumerateObject().Where(d => d.Value.GetInt64() > 0).Select(d => $"{d.Name} {d.Value}");
            Console.Out.WriteLine($"Drops by reason: {string.Join(", ", drops.DefaultIfEmpty("none"))}");
        }
    }
}
