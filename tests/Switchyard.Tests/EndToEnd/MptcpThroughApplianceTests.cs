using System.Net;
using System.Text.Json;
using Switchyard.Demo;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Integration;
using Xunit.Abstractions;

namespace Switchyard.Tests.EndToEnd;

/// <summary>
/// Real Linux MPTCP through the real appliance: a client with two addresses, three stock Linux
/// backends (in-kernel path manager), the appliance in L2 DSR on net_af_packet. Every connection
/// must run two subflows that both carry data, and every join must land on the backend that owns
/// the connection (a misrouted join is refused by that backend, so the subflow would be missing).
/// The same scenario with steering off shows what an MPTCP-unaware balancer does to joins.
/// Needs root and an MPTCP kernel: without them these FAIL, never skip.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class MptcpThroughApplianceTests(ITestOutputHelper output)
{
    // 1 MiB per connection: the client sends the bulk only once every join can carry data (fully established,
    // see switchyard-peer --mptcp), and the kernel's scheduler gives the first subflow one burst (64 KiB) before
    // the join's empty queue wins; 1 MiB leaves many bursts, so every join carries data through the appliance.
    const int Connections = 100, Concurrency = 20, Bytes = 1 << 20;

    static Topology CreateTopology()
    {
        Namespaces.RequireRoot();
        if (!File.Exists("/proc/sys/net/mptcp/enabled"))
            throw new InvalidOperationException("MPTCP end-to-end tests need a kernel with MPTCP (/proc/sys/net/mptcp missing)");
        return Topology.Create(new TopologySpec
        {
            Prefix = Namespaces.NewPrefix(), Clients = 1, Backends = 3, IPv6 = false, ClientSecondAddress = true, Mptcp = true,
        });
    }

    sealed record Run(MptcpPeer.ClientRun Client, List<MptcpPeer.ServerConnection> Server, JsonElement Counters);

    Run Drive(Topology t, string[] joins, int[]? announcedPorts, int subflowWaitMs)
    {
        var dir = Directory.CreateTempSubdirectory("sy-mptcp-").FullName;
        try
        {
            var config = EndToEndConfig.Write(t, [1, 1, 1], dir, joins: joins, announcedPorts: announcedPorts);
            var servers = t.Backends.Select((b, i) => MptcpPeer.StartServer(t, b.Namespace, $"b{i + 1}", 80, "0.0.0.0")).ToList();
            using var appliance = ApplianceProcess.Start(t.ApplianceNamespace, config, [], output.WriteLine);
            var client = MptcpPeer.RunClient(t.Clients[0].Namespace, t.VipV4.ToString(), 80, Connections, Concurrency, Bytes,
                subflowWaitMs: subflowWaitMs);
            var counters = appliance.Stop();
            var seen = servers.SelectMany(s => MptcpPeer.ServerConnections(s)).ToList();
            output.WriteLine(client.Summary?.ToString() ?? client.ToString());
            var totals = counters.GetProperty("totals");
            output.WriteLine($"appliance: joinsSeen {totals.GetProperty("joinsSeen")}, byLearnedToken {totals.GetProperty("joinsByLearnedToken")}, " +
                $"byAnnouncedPort {totals.GetProperty("joinsByAnnouncedPort")}, unplaceable {totals.GetProperty("joinsUnplaceable")}, " +
                $"tokensLearned {totals.GetProperty("tokensLearned")}, collisions {totals.GetProperty("tokenCollisions")}");
            CountersInvariants.AssertHold(counters);
            return new Run(client, seen, counters);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>Every connection: MPTCP, two subflows, both carried data, right bytes; on the servers, every
    /// connection (token) saw both its subflows, so no join went to another backend.</summary>
    void AssertEveryJoinReachedItsBackend(Run r)
    {
        var c = r.Client;
        Assert.True(c.Process.ExitCode == 0 && c.Succeeded == Connections && c.Failed == 0, c.ToString());
        Assert.Equal(Connections, c.MptcpConnections);
        Assert.Equal(new Dictionary<int, int> { [2] = Connections }, c.SubflowsHistogram);
        Assert.Equal(Connections, c.AllSubflowsCarryingData);
        Assert.Equal(Connections, r.Server.Count);
        Assert.All(r.Server, s => Assert.True(s.Mptcp && s.Subflows == 2, $"server side: {s}"));
        Assert.True(r.Server.Select(s => s.Id).Distinct().Count() == 3, "the connections are spread over the three backends");
        Assert.Equal(0, r.Counters.GetProperty("totals").GetProperty("joinsUnplaceable").GetInt64());
    }

    [Fact]
    public void Learned_token_every_join_of_a_hundred_mptcp_connections_reaches_the_backend_of_its_connection()
    {
        string prefix;
        using (var t = CreateTopology())
        {
            prefix = t.Prefix;
            t.ConfigureMptcpClient(t.Clients[0]);
            foreach (var b in t.Backends) t.ConfigureMptcpBackend(b);
            var r = Drive(t, ["learned-token"], null, subflowWaitMs: 3000);
            AssertEveryJoinReachedItsBackend(r);
            var totals = r.Counters.GetProperty("totals");
            Assert.Equal(Connections, totals.GetProperty("joinsByLearnedToken").GetInt64());
            Assert.Equal(Connections, totals.GetProperty("tokensLearned").GetInt64());
            // Joins came from the client's second address, to the VIP.
            Assert.Equal(new Dictionary<string, int> { [t.Clients[0].SecondV4!.ToString()] = Connections }, r.Client.JoinLocalAddresses);
        }
        Namespaces.AssertNoneWithPrefix(prefix);
    }

    [Fact]
    public void Announced_port_every_join_reaches_the_backend_that_announced_the_port()
    {
        int[] ports = [20001, 20002, 20003];
        using var t = CreateTopology();
        // fullmesh: with the C flag set by the servers, only fullmesh endpoints open joins from the second address.
        t.ConfigureMptcpClient(t.Clients[0], fullmesh: true);
        for (int i = 0; i < 3; i++)
            t.ConfigureMptcpBackend(t.Backends[i], allowJoinInitialAddrPort: false, announce: t.VipV4, announcePort: ports[i]);
        var r = Drive(t, ["announced-port"], ports, subflowWaitMs: 3000);
        AssertEveryJoinReachedItsBackend(r);
        Assert.Equal(Connections, r.Counters.GetProperty("totals").GetProperty("joinsByAnnouncedPort").GetInt64());
        // Each server's joins arrived on its own announced port.
        foreach (var s in r.Server)
            Assert.Equal(ports[int.Parse(s.Id[1..]) - 1], IPEndPoint.Parse(s.SubflowDetails[1].Local).Port);
    }

    [Fact]
    public void Without_join_steering_most_joins_reach_a_backend_that_does_not_know_the_connection()
    {
        using var t = CreateTopology();
        t.ConfigureMptcpClient(t.Clients[0]);
        foreach (var b in t.Backends) t.ConfigureMptcpBackend(b);
        // The VIP is MPTCP-unaware: joins are balanced by Maglev like any SYN.
        var r = Drive(t, [], null, subflowWaitMs: 1000);
        var c = r.Client;
        Assert.True(c.Process.ExitCode == 0 && c.Succeeded == Connections, c.ToString()); // the data still arrives, on one subflow
        int twoSubflows = c.SubflowsHistogram.GetValueOrDefault(2);
        int failedJoins = Connections - twoSubflows;
        output.WriteLine($"steering off: {failedJoins} of {Connections} joins failed (ideal for 3 equal backends: about 2/3)");
        // With three equal backends a join lands on the right one about a third of the time.
        Assert.InRange(failedJoins, Connections * 45 / 100, Connections * 85 / 100);
        Assert.Equal(0, r.Counters.GetProperty("totals").GetProperty("joinsSeen").GetInt64());
    }
}
