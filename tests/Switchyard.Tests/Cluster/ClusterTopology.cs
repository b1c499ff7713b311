using Switchyard.Demo;
using Switchyard.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Switchyard.Tests.Cluster;

// The scale-out test harness (issue 12). The topology itself (router namespace with BIRD 2 learning ECMP routes over
// BGP, N appliances each with its own DPDK --file-prefix on net_af_packet, exception-path tap and managed gobgpd,
// M backends with the VIPs on lo, an MPTCP client with several addresses) is
// src/Tools/Demo/ClusterTopology.cs, because `switchyard-demo --cluster` builds the same one; the scenario
// (streams, arrivals, drain/SIGTERM/SIGKILL/add with timings) is src/Tools/Demo/ClusterScenario.cs.
// This file is what tests use: privilege and tool checks, a unique prefix per run, log lines into the test output,
// and an assertion that nothing is left behind. Reuse it as
//     using var c = ClusterHarness.Create(output, appliances: 3, backends: 3);
//     c.Topology.StartAppliance(0, cfg => cfg["Bgp"]!["MinHealthyBackends"] = 2);
//     c.Topology.WaitForNextHops(ClusterTopology.VipV4, h => h.Count == 1, TimeSpan.FromSeconds(30), "a0 announced");
// Every name it creates starts with its prefix ("cl" + 4 hex digits): namespaces PREFIX-r/-c/-aI/-bJ, DPDK file
// prefixes PREFIX-aI (removed from /var/run/dpdk), a temp folder with configs, sockets and BIRD's files.

/// <summary>A <see cref="ClusterTopology"/> for one test, torn down (and checked gone) on Dispose.</summary>
public sealed class ClusterHarness : IDisposable
{
    public ClusterTopology Topology { get; }
    readonly ITestOutputHelper _out;
    readonly string _prefix;

    ClusterHarness(ClusterTopology t, ITestOutputHelper output, string prefix) { Topology = t; _out = output; _prefix = prefix; }

    public static void RequireTools()
    {
        Namespaces.RequireRoot();
        foreach (var (tool, pkg) in new[] { ("bird", "bird2"), ("birdc", "bird2"), ("gobgpd", "gobgpd"), ("setpriv", "util-linux") })
            if (ProcessRunner.Which(tool) is null && !File.Exists($"/usr/sbin/{tool}"))
                throw new InvalidOperationException($"cluster tests need '{tool}' (Debian package {pkg}; build/install-deps.sh installs it)");
        Integration.Appliance.RequireShim();
    }

    public static ClusterHarness Create(ITestOutputHelper output, int appliances = 3, int backends = 3, int drainHoldDownSeconds = 2)
    {
        RequireTools();
        string prefix = ClusterSpec.RandomPrefix();
        void Log(string m) { try { output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {m}"); } catch (InvalidOperationException) { } }
        var t = ClusterTopology.Create(new ClusterSpec { Prefix = prefix, Appliances = appliances, Backends = backends, DrainHoldDownSeconds = drainHoldDownSeconds }, Log);
        t.Verbose = true;
        return new ClusterHarness(t, output, prefix);
    }

    public string PeerDll => PeerProcess.DllPath;

    public void Dispose()
    {
        Topology.Dispose();
        var left = ClusterTopology.ListNamespaces(_prefix);
        var dpdk = Directory.Exists("/var/run/dpdk") ? Directory.GetDirectories("/var/run/dpdk", _prefix + "-*") : [];
        if (left.Count > 0 || dpdk.Length > 0)
            throw new Xunit.Sdk.XunitException($"cluster {_prefix} left behind: {string.Join(", ", left.Concat(dpdk))}");
    }
}
