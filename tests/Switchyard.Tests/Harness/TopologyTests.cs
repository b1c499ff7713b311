using Switchyard.Demo;
using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Harness;

/// <summary>The topology builds, works as a plain bridged LAN, and leaves nothing behind, whatever happens.
/// These need root and network namespaces: without them they FAIL with a message saying so.</summary>
[Trait("Category", "EndToEnd")]
public sealed class TopologyTests
{
    [Fact]
    public void Creates_a_bridged_lan_and_removes_every_namespace()
    {
        Namespaces.RequireRoot();
        string prefix;
        List<string> names;
        using (var t = Namespaces.CreateTopology(clients: 2, backends: 2))
        {
            prefix = t.Prefix;
            names = t.Namespaces.ToList();
            Assert.Equal([$"{prefix}-lan", $"{prefix}-c1", $"{prefix}-c2", $"{prefix}-b1", $"{prefix}-b2", $"{prefix}-lb"], names);
            Assert.Subset(Namespaces.List().ToHashSet(), names.ToHashSet());
            t.VerifyBridge(); // v4 and v6, every client to every backend, across the bridge
            Assert.True(t.Ping(t.Clients[1].Namespace, t.Backends[0].V6!));

            // What a caller needs for the appliance config, deterministic and consistent with the kernel's view.
            Assert.Equal("02:53:59:02:00:02", t.Backends[1].Mac);
            Assert.Contains(t.Backends[1].Mac, t.Exec(t.Backends[1].Namespace, "ip", "link", "show", t.Backends[1].Interface));
            Assert.Equal($"{prefix}-lb0", t.Appliance.Interface);
            Assert.Contains("02:53:59:03:00:00", t.Exec(t.ApplianceNamespace, "ip", "link", "show", t.Appliance.Interface));
            Assert.Equal("198.18.0.2", t.Appliance.V4!.ToString());
            Assert.Equal("198.18.0.22", t.Backends[1].V4!.ToString());
            Assert.Equal("2001:db8::12", t.Clients[1].V6!.ToString());

            // DSR backends: VIP on lo, no ARP answers for it; tx checksum offload off on the veths.
            Assert.Contains("198.18.0.100/32", t.Exec(t.Backends[0].Namespace, "ip", "-4", "addr", "show", "dev", "lo"));
            Assert.Contains("2001:db8::100/128", t.Exec(t.Backends[0].Namespace, "ip", "-6", "addr", "show", "dev", "lo"));
            Assert.Equal("1", t.Exec(t.Backends[0].Namespace, "sysctl", "-n", "net.ipv4.conf.all.arp_ignore").Trim());
            Assert.Contains("tx-checksumming: off", t.Exec(t.Clients[0].Namespace, "ethtool", "-k", t.Clients[0].Interface));
            Assert.Contains("tx-checksumming: off", t.Exec(t.ApplianceNamespace, "ethtool", "-k", t.Appliance.Interface));
            // Nothing answers the VIP yet (no appliance): a backend must not, or DSR would be bypassed.
            Assert.False(t.Ping(t.Clients[0].Namespace, t.VipV4, timeoutSeconds: 1));

            // A process started in the topology is killed by Dispose.
            var sleeper = t.StartProcess(t.Clients[0].Namespace, "sleep", "600");
            Assert.False(sleeper.HasExited);
        }
        Namespaces.AssertNoneWithPrefix(prefix);
        // No interface of ours leaked into the root namespace either.
        Assert.DoesNotContain(prefix, ProcessRunner.Check("ip", "-o", "link", "show"));
    }

    [Fact]
    public void An_exception_mid_test_still_removes_everything()
    {
        Namespaces.RequireRoot();
        string? prefix = null;
        var ex = Assert.Throws<InvalidOperationException>((Action)(() =>
        {
            using var t = Namespaces.CreateTopology(clients: 1, backends: 1, ipv6: false);
            prefix = t.Prefix;
            t.StartProcess(t.Backends[0].Namespace, "sleep", "600");
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal("boom", ex.Message);
        Assert.NotNull(prefix);
        Namespaces.AssertNoneWithPrefix(prefix!);
    }

    [Fact]
    public void A_create_that_fails_halfway_cleans_what_it_made()
    {
        Namespaces.RequireRoot();
        var prefix = Namespaces.NewPrefix();
        // Occupy the second backend's name so Create fails after building the LAN, the client and backend 1.
        ProcessRunner.Check("ip", "netns", "add", $"{prefix}-b2");
        try
        {
            var ex = Assert.Throws<InvalidOperationException>(() =>
                Topology.Create(new TopologySpec { Prefix = prefix, Clients = 1, Backends = 2 }));
            Assert.Contains($"ip netns add {prefix}-b2", ex.Message);
            Assert.Equal([$"{prefix}-b2"], Topology.ListNamespaces(prefix));
        }
        finally
        {
            Topology.CleanupStale(prefix);
        }
        Namespaces.AssertNoneWithPrefix(prefix);
    }

    [Fact]
    public void Dispose_is_idempotent_and_cleanup_stale_removes_leftovers()
    {
        Namespaces.RequireRoot();
        var t = Namespaces.CreateTopology(clients: 1, backends: 1, ipv6: false);
        t.Dispose();
        t.Dispose();
        Namespaces.AssertNoneWithPrefix(t.Prefix);

        // A run that died without Dispose leaves namespaces; CleanupStale(prefix) removes exactly those.
        var prefix = Namespaces.NewPrefix();
        ProcessRunner.Check("ip", "netns", "add", $"{prefix}-lan");
        ProcessRunner.Check("ip", "netns", "add", $"{prefix}-c1");
        Assert.Equal(2, Topology.CleanupStale(prefix));
        Namespaces.AssertNoneWithPrefix(prefix);
    }

    [Fact]
    public void Rejects_prefixes_that_would_overflow_interface_names()
    {
        Assert.Throws<ArgumentException>(() => Topology.Create(new TopologySpec { Prefix = "waytoolongprefix" }));
        Assert.Throws<ArgumentException>(() => Topology.Create(new TopologySpec { Prefix = "sy-1" }));
    }
}

/// <summary>switchyard-peer end to end through real kernels, WITHOUT the appliance: client namespace to a
/// backend's own address across the bridge. This is the baseline every appliance test builds on.</summary>
[Trait("Category", "EndToEnd")]
public sealed class PeerTests
{
    [Fact]
    public void Tcp_200_connections_at_concurrency_50_all_deliver_the_right_bytes()
    {
        Namespaces.RequireRoot();
        using var t = Namespaces.CreateTopology(clients: 1, backends: 1);
        var b = t.Backends[0];
        PeerProcess.StartServer(t, b.Namespace, "b1", 8080, udp: false, b.V4!.ToString(), b.V6!.ToString());

        var run = PeerProcess.RunClient(t.Clients[0].Namespace, b.V4!.ToString(), 8080, connections: 200, concurrency: 50, bytes: 20_000);
        Assert.True(run.Process.ExitCode == 0, run.ToString());
        Assert.Equal(200, run.Succeeded);
        Assert.Equal(0, run.Failed);
        Assert.Equal(new Dictionary<string, int> { ["b1"] = 200 }, run.Backends);

        var run6 = PeerProcess.RunClient(t.Clients[0].Namespace, b.V6!.ToString(), 8080, connections: 50, concurrency: 10, bytes: 100_000);
        Assert.True(run6.Process.ExitCode == 0, run6.ToString());
        Assert.Equal(50, run6.Succeeded);
    }

    [Fact]
    public void Udp_each_datagram_is_answered_with_the_right_digest()
    {
        Namespaces.RequireRoot();
        using var t = Namespaces.CreateTopology(clients: 1, backends: 1, ipv6: false);
        var b = t.Backends[0];
        PeerProcess.StartServer(t, b.Namespace, "b1", 5300, udp: true, b.V4!.ToString());
        var run = PeerProcess.RunClient(t.Clients[0].Namespace, b.V4!.ToString(), 5300, connections: 100, concurrency: 20, bytes: 1200, udp: true);
        Assert.True(run.Process.ExitCode == 0, run.ToString());
        Assert.Equal(100, run.Succeeded);
    }

    [Fact]
    public void A_client_reports_failures_and_exits_nonzero_when_nothing_listens()
    {
        Namespaces.RequireRoot();
        using var t = Namespaces.CreateTopology(clients: 1, backends: 1, ipv6: false);
        var run = PeerProcess.RunClient(t.Clients[0].Namespace, t.Backends[0].V4!.ToString(), 8080, connections: 5, concurrency: 5, bytes: 10, timeoutMs: 2000);
        Assert.Equal(1, run.Process.ExitCode);
        Assert.Equal(0, run.Succeeded);
        Assert.Equal(5, run.Failed);
        Assert.Contains("ConnectionRefused", run.Summary!.Value.GetProperty("failures").GetRawText());
    }
}
