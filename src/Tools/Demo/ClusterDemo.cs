using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

namespace Switchyard.Demo;

/// <summary>
/// `switchyard demo --cluster` (issue 12): builds <see cref="ClusterTopology"/>, starts the appliances, waits for
/// the router's ECMP route over all of them, runs long-lived TCP (IPv4, IPv6) and MPTCP streams through the VIPs,
/// then drains, SIGTERMs, SIGKILLs and restarts appliances while printing, for each event, when the router's
/// route changed, when the traffic moved, and whether any established connection broke. The tests run the same
/// <see cref="ClusterScenario"/> and assert on its results.
/// </summary>
public static class ClusterDemo
{
    public const string Usage = """
        usage: switchyard-demo --cluster [--appliances N] [--backends N] [--verbose]
          Builds a router namespace running BIRD 2 (BGP, ECMP), N appliances (default 3) announcing the VIPs through
          gobgpd, N backends (default 3) and an MPTCP client with several addresses; streams TCP and MPTCP through
          the VIPs while appliances are drained, stopped (SIGTERM), killed (SIGKILL) and brought back; prints the
          time from each event to the route change and to the traffic moving, and the broken connections (0 expected).
          Needs root, gobgpd and bird2 (build/install-deps.sh).
        """;

    public static int Run(string[] args, TextWriter log)
    {
        int appliances = 3, backends = 3;
        bool verbose = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--cluster": break;
                case "--verbose": verbose = true; break;
                case "--appliances" when i + 1 < args.Length: appliances = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--backends" when i + 1 < args.Length: backends = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "-h" or "--help": log.WriteLine(Usage); return 0;
                default: log.WriteLine($"switchyard-demo: unknown argument '{args[i]}'\n{Usage}"); return 2;
            }
        }
        if (!args.Contains("--cluster")) { log.WriteLine("switchyard-demo: only --cluster is a subcommand; the single-appliance demo is `./build.sh run`\n" + Usage); return 2; }
        if (appliances is < 2 or > 8 || backends is < 1 or > 8) { log.WriteLine("switchyard-demo: 2..8 appliances, 1..8 backends"); return 2; }
        var spec = new ClusterSpec { Prefix = ClusterSpec.RandomPrefix(), Appliances = appliances, Backends = backends };
        try
        {
            using var topo = ClusterTopology.Create(spec, m => log.WriteLine($"cluster: {m}"));
            topo.Verbose = verbose;
            var result = ClusterScenario.Run(topo, Path.Combine(AppContext.BaseDirectory, "switchyard-peer.dll"), m => log.WriteLine($"cluster: {m}"), full: true);
            log.WriteLine(result.Summary());
            return result.Ok ? 0 : 1;
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException or System.Net.Sockets.SocketException)
        {
            // The topology is gone by now (ClusterScenario disposes it on the way out).
            log.WriteLine($"switchyard-demo --cluster failed: {e.Message}");
            return 1;
        }
    }
}
