using System.Diagnostics;
using System.Net;
using Switchyard.Demo;
using Switchyard.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Switchyard.Tests.Harness;

/// <summary>
/// The MPTCP end-to-end harness proven WITHOUT the appliance: a client with two addresses talks to one backend's own
/// address, the in-kernel path managers open the joins, and switchyard-peer --mptcp shows on both ends that every
/// connection stayed MPTCP, had two subflows, that both carried data, and that the right bytes arrived (SHA-256).
/// The appliance tests of the next step only put the appliance (and the VIP) in between.
/// Needs root, namespaces and an MPTCP kernel: without them these FAIL, never skip.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class MptcpHarnessTests(ITestOutputHelper output)
{
    const int MiB = 1 << 20;

    static Topology CreateMptcpTopology(bool ipv6)
    {
        Namespaces.RequireRoot();
        if (!File.Exists("/proc/sys/net/mptcp/enabled"))
            throw new InvalidOperationException("MPTCP end-to-end tests need a kernel with MPTCP (/proc/sys/net/mptcp missing)");
        return Topology.Create(new TopologySpec
        {
            Prefix = Namespaces.NewPrefix(), Clients = 1, Backends = 1, IPv6 = ipv6, ClientSecondAddress = true, Mptcp = true,
        });
    }

    [Fact]
    public void Hundred_connections_from_two_client_addresses_each_run_two_subflows_that_both_carry_the_right_bytes()
    {
        string prefix;
        using (var t = CreateMptcpTopology(ipv6: true))
        {
            prefix = t.Prefix;
            var c = t.Clients[0];
            var b = t.Backends[0];
            Assert.Equal("198.18.1.11", c.SecondV4!.ToString());
            Assert.Equal("2001:db8:1::11", c.SecondV6!.ToString());
            t.ConfigureMptcpClient(c, subflows: 2, addAddrAccepted: 2);
            t.ConfigureMptcpBackend(b, subflows: 2, addAddrAccepted: 0);
            output.WriteLine($"client PM:\n{t.MptcpShow(c.Namespace)}backend PM:\n{t.MptcpShow(b.Namespace)}");
            Assert.Contains("198.18.1.11 id 1 subflow dev", t.MptcpShow(c.Namespace));
            Assert.True(t.Ping(c.Namespace, b.V4!), "client reaches the backend");
            Assert.True(t.Ping(b.Namespace, c.SecondV4!), "backend reaches the client's second address (on-link route)");

            var server = MptcpPeer.StartServer(t, b.Namespace, "b1", 80, "0.0.0.0", "::");

            // IPv4: 100 connections of 1 MiB, 20 at a time.
            var sw = Stopwatch.StartNew();
            var r = MptcpPeer.RunClient(c.Namespace, b.V4!.ToString(), 80, connections: 100, concurrency: 20, bytes: MiB);
            sw.Stop();
            output.WriteLine(r.Summary?.ToString() ?? r.ToString());
            output.WriteLine($"IPv4: 100 MPTCP connections x 1 MiB, concurrency 20: {r.ElapsedMs:F0} ms in the client " +
                $"({sw.ElapsedMilliseconds} ms with process start)");
            AssertAllTwoSubflows(r, 100, joinLocal: c.SecondV4!.ToString(), joinRemote: new IPEndPoint(b.V4!, 80).ToString());

            var seen = MptcpPeer.WaitForServerConnections(server, 100, TimeSpan.FromSeconds(10));
            AssertServerSide(seen, 100, b.V4!.ToString(), c.SecondV4!.ToString(), joinLocalPort: 80);

            // IPv6, fewer connections: the same path with the second v6 address.
            var r6 = MptcpPeer.RunClient(c.Namespace, b.V6!.ToString(), 80, connections: 20, concurrency: 10, bytes: MiB);
            output.WriteLine(r6.Summary?.ToString() ?? r6.ToString());
            AssertAllTwoSubflows(r6, 20, joinLocal: c.SecondV6!.ToString(), joinRemote: new IPEndPoint(b.V6!, 80).ToString());
            var seen6 = MptcpPeer.WaitForServerConnections(server, 120, TimeSpan.FromSeconds(10)).Skip(100).ToList();
            AssertServerSide(seen6, 20, b.V6!.ToString(), c.SecondV6!.ToString(), joinLocalPort: 80);
        }
        Namespaces.AssertNoneWithPrefix(prefix);
    }

    [Fact]
    public async Task With_an_announced_port_and_the_C_flag_every_join_goes_to_that_port()
    {
        const int AnnouncedPort = 20001;
        using var t = CreateMptcpTopology(ipv6: false);
        var c = t.Clients[0];
        var b = t.Backends[0];
        t.ConfigureMptcpClient(c, subflows: 2, addAddrAccepted: 2);
        // The C flag keeps the client off the initial address (its plain "subflow" endpoint is then ignored), so the
        // only join is the one to the announced address:port.
        t.ConfigureMptcpBackend(b, subflows: 2, addAddrAccepted: 0, allowJoinInitialAddrPort: false, announce: b.V4, announcePort: AnnouncedPort);
        output.WriteLine($"backend PM:\n{t.MptcpShow(b.Namespace)}");
        Assert.Contains($"port {AnnouncedPort}", t.MptcpShow(b.Namespace));
        Assert.Equal("0", t.Exec(b.Namespace, "sysctl", "-n", "net.mptcp.allow_join_initial_addr_port").Trim());
        var server = MptcpPeer.StartServer(t, b.Namespace, "b1", 80, "0.0.0.0");

        // One connection under `ip mptcp monitor` on both ends: observed and reported, not asserted.
        var monC = MptcpPeer.Monitor(c.Namespace, TimeSpan.FromSeconds(3));
        var monB = MptcpPeer.Monitor(b.Namespace, TimeSpan.FromSeconds(3));
        Thread.Sleep(500);
        var one = MptcpPeer.RunClient(c.Namespace, b.V4!.ToString(), 80, connections: 1, concurrency: 1, bytes: MiB);
        var (clientMon, backendMon) = (await monC, await monB);
        output.WriteLine($"ip mptcp monitor, client side:\n{clientMon.StdOut}{clientMon.StdErr}");
        output.WriteLine($"ip mptcp monitor, backend side:\n{backendMon.StdOut}{backendMon.StdErr}");
        Assert.True(one.Process.ExitCode == 0 && one.Succeeded == 1, one.ToString());

        // The kernel's own join-only listener on the announced port, next to the application's.
        var ss = t.Exec(b.Namespace, "ss", "-Hltn");
        output.WriteLine($"ss -ltn on the backend:\n{ss}");
        Assert.Contains($":{AnnouncedPort}", ss);

        var r = MptcpPeer.RunClient(c.Namespace, b.V4!.ToString(), 80, connections: 50, concurrency: 10, bytes: MiB);
        output.WriteLine(r.Summary?.ToString() ?? r.ToString());
        // No client endpoint is used: the join leaves from the client's primary address, towards the announced port.
        AssertAllTwoSubflows(r, 50, joinLocal: c.V4!.ToString(), joinRemote: new IPEndPoint(b.V4!, AnnouncedPort).ToString());
        var seen = MptcpPeer.WaitForServerConnections(server, 51, TimeSpan.FromSeconds(10));
        AssertServerSide(seen, 51, b.V4!.ToString(), c.V4!.ToString(), joinLocalPort: AnnouncedPort);
    }

    [Fact]
    public void A_client_whose_server_is_plain_tcp_reports_the_fallback()
    {
        // Proves the fallback detection is not vacuous: an MPTCP client against a plain TCP server.
        using var t = CreateMptcpTopology(ipv6: false);
        var c = t.Clients[0];
        var b = t.Backends[0];
        t.ConfigureMptcpClient(c);
        PeerProcess.StartServer(t, b.Namespace, "b1", 80, udp: false, "0.0.0.0");
        var r = MptcpPeer.RunClient(c.Namespace, b.V4!.ToString(), 80, connections: 10, concurrency: 5, bytes: 256 * 1024, subflowWaitMs: 200);
        output.WriteLine(r.Summary?.ToString() ?? r.ToString());
        Assert.True(r.Process.ExitCode == 0 && r.Succeeded == 10, r.ToString());
        Assert.Equal(0, r.MptcpConnections);
        Assert.Equal(10, r.FallbackToTcp);
        Assert.Equal(new Dictionary<int, int> { [1] = 10 }, r.SubflowsHistogram);
        Assert.All(r.Connections, x => Assert.Equal(true, x.Fallback));
    }

    /// <summary>Client view: every connection succeeded (right byte count and SHA-256 at the server), stayed MPTCP,
    /// had exactly two subflows, both carried data, and the join went from joinLocal to joinRemote.</summary>
    void AssertAllTwoSubflows(MptcpPeer.ClientRun r, int n, string joinLocal, string joinRemote)
    {
        Assert.True(r.Process.ExitCode == 0 && r.Succeeded == n && r.Failed == 0, r.ToString());
        Assert.Equal(n, r.MptcpConnections);
        Assert.Equal(0, r.FallbackToTcp);
        Assert.Equal(new Dictionary<int, int> { [2] = n }, r.SubflowsHistogram);
        Assert.Equal(n, r.AllSubflowsCarryingData);
        Assert.Equal(new Dictionary<string, int> { [joinLocal] = n }, r.JoinLocalAddresses);
        Assert.Equal(new Dictionary<string, int> { [joinRemote] = n }, r.JoinRemotes);
        Assert.Equal(n, r.Connections.Count);
        Assert.All(r.Connections, x => Assert.True(x.Ok && x.Mptcp && x.ReachedExpectedSubflows && x.Subflows.Count == 2, $"conn {x.Conn}"));
        long joinBytes = r.Connections.Sum(x => x.Subflows[1].BytesAcked);
        long total = r.Connections.Sum(x => x.Subflows.Sum(s => s.BytesAcked));
        output.WriteLine($"joins carried {joinBytes} of {total} acked bytes ({100.0 * joinBytes / total:F1}%); " +
            $"least on a join: {r.Connections.Min(x => x.Subflows[1].BytesSent)} bytes; max subflow wait {r.Connections.Max(x => x.SubflowWaitMs):F1} ms; " +
            $"join bytes sent, sorted: {string.Join(' ', r.Connections.Select(x => x.Subflows[1].BytesSent).Order().Take(10))} ...");
    }

    /// <summary>Server view: n connections, each MPTCP with its own token, two subflows that each received data, the
    /// initial one on serverAddr (the port the client dialled), the join from joinFrom to joinLocalPort, and the digest
    /// of the whole byte stream.</summary>
    void AssertServerSide(List<MptcpPeer.ServerConnection> seen, int n, string serverAddr, string joinFrom, int joinLocalPort)
    {
        Assert.Equal(n, seen.Count);
        Assert.All(seen, s =>
        {
            Assert.True(s.Mptcp, $"server saw a fallback: {s}");
            Assert.NotNull(s.Token);
            Assert.Equal(2, s.Subflows);
            Assert.Equal(2, s.SubflowDetails.Count);
            Assert.All(s.SubflowDetails, sf => Assert.True(sf.BytesReceived > 1, $"a subflow without data: {s}"));
            var join = s.SubflowDetails[1];
            Assert.Equal(new IPEndPoint(IPAddress.Parse(serverAddr), joinLocalPort), IPEndPoint.Parse(join.Local));
            Assert.Equal(IPAddress.Parse(joinFrom), IPEndPoint.Parse(join.Remote).Address);
            // Subflow bytes add up to at least the stream (a reinjection can send a range on both subflows).
            Assert.True(s.SubflowDetails.Sum(sf => sf.BytesReceived) >= s.Bytes, $"subflows received less than the stream: {s}");
        });
        Assert.Equal(n, seen.Select(s => s.Token).Distinct().Count());
    }
}
