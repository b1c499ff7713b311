using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Switchyard.Demo;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Integration;
using Xunit.Abstractions;

namespace Switchyard.Tests.Cluster;

/// <summary>
/// BGP coupled to the appliance's state, through a real router (BIRD 2) and a real speaker (gobgpd), with the BGP
/// session itself carried by the exception path (DPDK owns the data port; the tap carries the address). Needs root,
/// bird2 and gobgpd: without them these FAIL, never skip.
/// </summary>
[Trait("Category", "EndToEnd")]
[Collection(ApplianceCollection.Name)]
public sealed class ClusterBgpTests(ITestOutputHelper output)
{
    static readonly TimeSpan RouteTimeout = TimeSpan.FromSeconds(120); // conditions are waited for; generous for loaded machines
    static string A(int i) => ClusterTopology.ApplianceV4(i).ToString();

    /// <summary>The next hops are exactly these appliances (in the hops' family).</summary>
    static bool Only(IReadOnlyList<IPAddress> hops, params int[] appliances) =>
        hops.Select(h => h.ToString()).Order().SequenceEqual(appliances.Select(i =>
            (hops.Count > 0 && hops[0].AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? ClusterTopology.ApplianceV6(i) : ClusterTopology.ApplianceV4(i)).ToString()).Order());

    [Fact]
    public void A_vip_is_withdrawn_below_MinHealthyBackends_and_announced_again_when_the_pool_recovers()
    {
        using var c = ClusterHarness.Create(output, appliances: 2, backends: 3);
        var t = c.Topology;
        // a0 needs all three backends serving, a1 only one: taking one backend out on a0 leaves the route via a1 only.
        t.StartAppliance(0, cfg => cfg["Pools"]![0]!["MinHealthyBackends"] = 3);
        t.StartAppliance(1);
        t.WaitForNextHops(ClusterTopology.VipV4, h => Only(h, 0, 1), RouteTimeout, "ECMP over a0 and a1");
        t.WaitForNextHops(ClusterTopology.VipV6, h => Only(h, 0, 1), RouteTimeout, "ECMP over a0 and a1 (IPv6)");
        var sock = t.ControlSocket(0);

        var sw = Stopwatch.StartNew();
        ApplianceCtl.Result(sock, "backend", "disable", "web", "b2");
        var withdrawn = t.WaitForNextHops(ClusterTopology.VipV4, h => Only(h, 1), RouteTimeout, "a0 withdrawn (2 of 3 backends)");
        t.WaitForNextHops(ClusterTopology.VipV6, h => Only(h, 1), RouteTimeout, "a0 withdrawn (IPv6)");
        output.WriteLine($"backend disabled -> router dropped a0 after {withdrawn.TotalMilliseconds:F0} ms");
        var bgp = ApplianceCtl.Result(sock, "bgp");
        var p4 = bgp["prefixes"]!.AsArray().Single(p => p!["prefix"]!.ToString() == "203.0.113.10/32")!;
        Assert.False(p4["announced"]!.GetValue<bool>());
        Assert.Contains("2 serving backend(s), fewer than MinHealthyBackends 3", p4["reason"]!.ToString());
        // The session list is refreshed once a second and a 3-second hold time can flap on a loaded host: wait for the
        // session to show established (withdrawn by an UPDATE, the session itself stays up) rather than sampling once.
        WaitFor(() => ApplianceCtl.Result(sock, "bgp"), s => s["sessions"]!.AsArray().Any(x => x!["neighbor"]!.ToString() == "10.77.0.1" && x["state"]!.ToString() == "established")
            && s["prefixes"]!.AsArray().Any(x => x!["prefix"]!.ToString() == "203.0.113.10/32" && !x["announced"]!.GetValue<bool>()), "session established while 203.0.113.10 stays withdrawn");

        ApplianceCtl.Result(sock, "backend", "enable", "web", "b2");
        var back = t.WaitForNextHops(ClusterTopology.VipV4, h => Only(h, 0, 1), RouteTimeout, "a0 announced again");
        t.WaitForNextHops(ClusterTopology.VipV6, h => Only(h, 0, 1), RouteTimeout, "a0 announced again (IPv6)");
        output.WriteLine($"backend enabled -> router has a0 again after {back.TotalMilliseconds:F0} ms");

        // The counters JSON and ctl carry the BGP state; /metrics the same families (checked from the appliance's namespace).
        var counters = ApplianceCtl.Result(sock, "counters");
        Assert.True(counters["bgp"]!["withdrawals"]!.GetValue<long>() >= 2, counters["bgp"]!.ToJsonString());
        Assert.True(counters["bgp"]!["exceptionPath"]!["toKernel"]!.GetValue<long>() > 0, "BGP reached gobgpd through the exception path");
        var metrics = t.TryExec(t.ApplianceNs(0), ["python3", "-c", "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9469/metrics').read().decode())"]);
        Assert.Contains("switchyard_bgp_announced{prefix=\"203.0.113.10/32\",next_hop=\"10.77.0.11\"} 1", metrics.StdOut);
        Assert.Contains("switchyard_bgp_session_established{neighbor=\"10.77.0.1\",state=\"established\"} 1", metrics.StdOut);
        Assert.Contains("switchyard_exception_frames_total{direction=\"to_kernel\"}", metrics.StdOut);
    }

    [Fact]
    public void A_speaker_that_is_not_running_or_dies_is_reported_and_forwarding_continues()
    {
        using var c = ClusterHarness.Create(output, appliances: 1, backends: 2);
        var t = c.Topology;
        t.StartServers(c.PeerDll, mptcp: false);
        // gobgpd not managed and not running: the appliance starts, forwards, and says why nothing is announced.
        t.StartAppliance(0, cfg => cfg["Bgp"]!["Daemon"]!["Manage"] = false);
        var sock = t.ControlSocket(0);
        var status = WaitFor(() => ApplianceCtl.Result(sock, "bgp"), s => s["daemonUp"]!.GetValue<bool>() == false && s["daemonError"] is not null, "daemon reported down");
        output.WriteLine($"reported: {status["daemonError"]}");
        Assert.Contains("Unavailable", status["daemonError"]!.ToString());
        // A static route on the router (the operator's fallback) shows that the dataplane forwards meanwhile.
        t.Exec(t.RouterNs, "ip", "route", "add", $"{ClusterTopology.VipV4}/32", "via", A(0), "metric", "500");
        var run = PeerProcess.RunClient(t.ClientNs, ClusterTopology.VipV4.ToString(), t.Spec.ServicePort, 20, 4, 20_000);
        Assert.True(run.Failed == 0 && run.Succeeded == 20, run.ToString());

        // gobgpd comes up: the announcer starts the speaker, adds the neighbour and announces.
        var gobgpd = t.Start(t.ApplianceNs(0), "gobgpd", "--api-hosts=127.0.0.1:50051", "--log-plain", "--pprof-disable");
        t.WaitForNextHops(ClusterTopology.VipV4, h => Only(h, 0) && t.Birdc("show", "route", "protocol", "a0").Contains("203.0.113.10"), RouteTimeout, "announced once gobgpd runs");
        t.Exec(t.RouterNs, "ip", "route", "del", $"{ClusterTopology.VipV4}/32", "via", A(0), "metric", "500");
        WaitFor(() => ApplianceCtl.Result(sock, "bgp"), s => s["daemonUp"]!.GetValue<bool>() && s["prefixes"]!.AsArray().All(p => p!["announced"]!.GetValue<bool>()), "announced");

        // gobgpd dies (SIGKILL): reported, forwarding goes on (static fallback again), and a restarted gobgpd gets everything back.
        gobgpd.Kill();
        gobgpd.WaitForExit(5000);
        WaitFor(() => ApplianceCtl.Result(sock, "bgp"), s => !s["daemonUp"]!.GetValue<bool>(), "daemon death reported");
        t.Exec(t.RouterNs, "ip", "route", "replace", $"{ClusterTopology.VipV4}/32", "via", A(0), "metric", "500");
        run = PeerProcess.RunClient(t.ClientNs, ClusterTopology.VipV4.ToString(), t.Spec.ServicePort, 20, 4, 20_000);
        Assert.True(run.Failed == 0 && run.Succeeded == 20, run.ToString());
        t.Start(t.ApplianceNs(0), "gobgpd", "--api-hosts=127.0.0.1:50051", "--log-plain", "--pprof-disable");
        WaitFor(() => ApplianceCtl.Result(sock, "bgp"), s => s["daemonUp"]!.GetValue<bool>() && s["prefixes"]!.AsArray().All(p => p!["announced"]!.GetValue<bool>()), "re-announced after the restart");
        t.Exec(t.RouterNs, "ip", "route", "del", $"{ClusterTopology.VipV4}/32", "via", A(0), "metric", "500");
        t.WaitForNextHops(ClusterTopology.VipV4, h => Only(h, 0) && t.Birdc("show", "route", "protocol", "a0").Contains("203.0.113.10"), RouteTimeout, "learned over BGP again");
        var counters = t.Appliance(0)!.Stop();
        Assert.True(counters.GetProperty("bgp").GetProperty("daemonErrors").GetInt64() > 0);
    }

    [Fact]
    public void The_exception_path_answers_ping_and_counts_what_it_hands_to_the_kernel()
    {
        using var c = ClusterHarness.Create(output, appliances: 1, backends: 1);
        var t = c.Topology;
        // A low rate limit makes the token bucket visible: a ping flood beyond it is dropped and counted.
        t.StartAppliance(0, cfg => { cfg["ExceptionPath"]!["RatePerSecond"] = 50; cfg["ExceptionPath"]!["Burst"] = 10; });
        // Answered within a generous time (a just-started appliance on a loaded machine may miss the first echoes).
        var until = DateTime.UtcNow.AddSeconds(60);
        Shell.Result ping;
        while ((ping = t.TryExec(t.RouterNs, ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", A(0)])).ExitCode != 0 && DateTime.UtcNow < until) { }
        output.WriteLine(ping.StdOut);
        Assert.True(ping.ExitCode == 0, "ping through the exception path");
        Assert.DoesNotContain("DUP!", ping.StdOut); // answered once: by the tap's kernel, not also through the veth
        var flood = t.TryExec(t.RouterNs, ["ping", "-n", "-q", "-f", "-c", "2000", "-W", "1", A(0)], 60_000);
        output.WriteLine(flood.StdOut + flood.StdErr);
        output.WriteLine(ApplianceCtl.Result(t.ControlSocket(0), "bgp").ToJsonString());
        var counters = t.Appliance(0)!.Stop();
        var totals = counters.GetProperty("totals");
        long toKernel = totals.GetProperty("toKernel").GetInt64();
        long limited = totals.GetProperty("drops").GetProperty("ExceptionRateLimited").GetInt64();
        long fromKernel = totals.GetProperty("fromKernel").GetInt64();
        output.WriteLine($"toKernel {toKernel}, rate-limited {limited}, fromKernel {fromKernel}");
        Assert.True(limited > 0, "a flood beyond RatePerSecond is rate-limited");
        Assert.True(fromKernel > 0 && fromKernel <= toKernel - limited + 100, "the kernel answered what it got (echo replies, ARP, BGP)");
        CountersInvariants.AssertHold(counters);
    }

    static JsonObject WaitFor(Func<JsonObject> get, Func<JsonObject, bool> ok, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(120);
        JsonObject last;
        while (!ok(last = get()))
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"{what}: not reached; last: {last.ToJsonString()}");
            Thread.Sleep(50);
        }
        return last;
    }
}
