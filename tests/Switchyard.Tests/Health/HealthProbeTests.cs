using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Switchyard.Dataplane.Control;
using Switchyard.Demo;
using Switchyard.Management.Health;
using Switchyard.Management.Options;
using Switchyard.Tests.Infrastructure;
using static Switchyard.Tests.Health.HealthFixtures;

namespace Switchyard.Tests.Health;

/// <summary>One topology (two backends, the appliance namespace with its management leg 198.18.0.3) for the class.</summary>
public sealed class HealthTopology : IDisposable
{
    public Topology Topology { get; }
    public HealthTopology()
    {
        Namespaces.RequireRoot();
        Topology = Topology.Create(new TopologySpec { Prefix = Namespaces.NewPrefix(), Clients = 1, Backends = 2, IPv6 = true, ManagementLeg = true });
    }
    public void Dispose()
    {
        string prefix = Topology.Prefix;
        Topology.Dispose();
        Namespaces.AssertNoneWithPrefix(prefix);
    }
}

/// <summary>Real probes over real sockets: the prober's sockets live in the appliance's namespace and leave through the
/// management leg; listeners and the encapsulation responder live in a backend's namespace.</summary>
[Trait("Category", "EndToEnd")]
public class HealthProbeTests(HealthTopology fixture) : IClassFixture<HealthTopology>
{
    Topology T => fixture.Topology;
    Endpoint B1 => T.Backends[0];
    Endpoint B2 => T.Backends[1];
    IPAddress Mgmt => T.Management!.V4!;
    SocketProber NewProber() => new(NetworkNamespace.Sockets(T.ApplianceNamespace));

    ProbeSpec Tcp(IPAddress backend, int port, string type = "tcp", int timeoutMs = 3000) =>
        new(type, backend, port, timeoutMs, backend.AddressFamily == AddressFamily.InterNetwork ? Mgmt : T.Management!.V6);

    [Fact]
    public async Task Tcp_probe_follows_a_listener_that_starts_and_stops()
    {
        using var prober = NewProber();
        var spec = Tcp(B1.V4!, 8081);
        Assert.Equal(ProbeOutcome.Fail("connect refused"), await prober.ProbeAsync(spec, default));

        var peers = new ConcurrentQueue<EndPoint>();
        using (new NsTcpServer(B1.Namespace, IPAddress.IPv6Any, 8081, (s, _) => { peers.Enqueue(s.RemoteEndPoint!); s.Dispose(); return Task.CompletedTask; }))
        {
            Assert.Equal(ProbeOutcome.Ok("connected"), await prober.ProbeAsync(spec, default));
            Assert.Equal(ProbeOutcome.Ok("connected"), await prober.ProbeAsync(Tcp(B1.V6!, 8081), default));
            WaitUntil(() => peers.Count == 2, "two accepted connections");
            // Both came from the management leg's addresses (the configured source), not from some other address.
            // The server hands every accepted connection to its own task, so the two handlers may record their peers in
            // either order: compare the set, sorted.
            Assert.Equal(new[] { $"[::ffff:{Mgmt}]", $"[{T.Management!.V6}]" }.Order(StringComparer.Ordinal),
                peers.Select(p => $"[{((IPEndPoint)p).Address}]").Order(StringComparer.Ordinal));
        }
        Assert.Equal(ProbeOutcome.Fail("connect refused"), await prober.ProbeAsync(spec, default));
        // The backend learnt the management address from the management leg (the kernel answers ARP for it there
        // only, never on the DPDK leg).
        Assert.Contains($"lladdr {Topology.MacFor(4, 0)}", T.Exec(B1.Namespace, "ip", "neigh", "show", Mgmt.ToString()));
        // Nobody at that address at all: ARP fails, the probe ends at its timeout.
        Assert.Equal(ProbeOutcome.Fail("timeout 300 ms"), await prober.ProbeAsync(Tcp(IPAddress.Parse("198.18.0.99"), 8081, timeoutMs: 300), default));
    }

    [Fact]
    public async Task Http_probe_tells_200_from_503_garbage_silence_and_a_closed_connection()
    {
        using var prober = NewProber();
        var requests = new ConcurrentQueue<string>();
        // Generous timeouts where an answer is expected (the machine is shared and busy); a short one for silence.
        async Task<ProbeOutcome> With(Func<Socket, CancellationToken, Task> handler, int port, string path = "/healthz", string? host = null, int timeoutMs = 3000)
        {
            using var server = new NsTcpServer(B2.Namespace, IPAddress.Any, port, handler);
            return await prober.ProbeAsync(new ProbeSpec("http", B2.V4!, port, timeoutMs, Mgmt, path, 200, host), default);
        }
        Func<Socket, CancellationToken, Task> Recording(string response)
        {
            var respond = NsTcpServer.Respond(response);
            return async (s, ct) =>
            {
                var buf = new byte[4096];
                int n = await s.ReceiveAsync(buf, SocketFlags.None, ct);
                requests.Enqueue(Encoding.ASCII.GetString(buf, 0, n));
                await s.SendAsync(Encoding.ASCII.GetBytes(response), SocketFlags.None, ct);
                s.Shutdown(SocketShutdown.Send);
                await Task.Delay(100, ct);
                s.Dispose();
            };
        }

        Assert.Equal(ProbeOutcome.Ok("HTTP 200"), await With(Recording("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), 8090));
        var request = Assert.Single(requests);
        Assert.StartsWith("GET /healthz HTTP/1.1\r\n", request);
        Assert.Contains($"\r\nHost: {B2.V4}:8090\r\n", request);
        Assert.Contains("\r\nConnection: close\r\n", request);
        Assert.EndsWith("\r\n\r\n", request);

        Assert.Equal(ProbeOutcome.Fail("HTTP 503"), await With(NsTcpServer.Respond("HTTP/1.1 503 Service Unavailable\r\n\r\n"), 8091));
        Assert.Equal(ProbeOutcome.Ok("HTTP 200"), await With(NsTcpServer.Respond("HTTP/1.0 200\r\n\r\n"), 8092, host: "www.example"));
        var garbage = await With(NsTcpServer.Respond("SSH-2.0-OpenSSH_9.2\r\n"), 8093);
        Assert.Equal(ProbeOutcome.Fail("not an HTTP response: 'SSH-2.0-OpenSSH_9.2'"), garbage);
        var binary = await With(NsTcpServer.Respond("\u0001\u0002HTTP/1.1 200 OK\r\n"), 8094);
        Assert.False(binary.Success);
        Assert.StartsWith("not an HTTP response", binary.Reason);
        // A status line that never ends: bounded, not read forever.
        var huge = await With(NsTcpServer.Respond("HTTP/1.1 200 " + new string('x', 10_000)), 8095);
        Assert.Equal(ProbeOutcome.Fail($"no HTTP status line in the first {SocketProber.MaxStatusLineBytes} bytes"), huge);
        Assert.Equal(ProbeOutcome.Fail("timeout 400 ms"), await With(NsTcpServer.Silent, 8096, timeoutMs: 400));
        // A server that closes without answering: after reading the request it sends FIN ("closed without a response");
        // closing with the request still unread, or with SO_LINGER 0, it sends RST instead (RFC 1122 4.2.2.13), which
        // the probe reports as a reset. Closing at accept time would race the request (FIN or RST depending on whether
        // the request had arrived), so each case is made explicit.
        Assert.Equal(ProbeOutcome.Fail("connection closed without a response"), await With(NsTcpServer.CloseAfterRequest, 8097));
        Assert.Equal(ProbeOutcome.Fail("connection reset"), await With(NsTcpServer.ResetAfterRequest, 8099));
        Assert.Equal(ProbeOutcome.Fail("connect refused"), await prober.ProbeAsync(new ProbeSpec("http", B2.V4!, 8098, 3000, Mgmt), default));
    }

    [Fact]
    public void Checker_takes_a_backend_down_and_up_with_real_probes_and_applies_fail_closed()
    {
        var o = new ApplianceOptions
        {
            Pools =
            [
                new PoolOptions
                {
                    Name = "web", AllDownPolicy = AllDownPolicy.FailClosed,
                    HealthCheck = new HealthCheckOptions { Type = "tcp", Port = 8082, IntervalMs = 300, TimeoutMs = 300, Rise = 2, Fall = 2, SourceAddress = Mgmt.ToString() },
                    Backends = [new BackendOptions { Name = "b1", Address = B1.V4!.ToString() }, new BackendOptions { Name = "b2", Address = B2.V4!.ToString() }],
                },
            ],
        };
        var seen = new ConcurrentQueue<HealthTransition>();
        var log = new StringWriter();
        var s1 = new NsTcpServer(B1.Namespace, IPAddress.Any, 8082, NsTcpServer.Close);
        var s2 = new NsTcpServer(B2.Namespace, IPAddress.Any, 8082, NsTcpServer.Close);
        try
        {
            using var checker = new HealthChecker(o, seen.Enqueue, TextWriter.Synchronized(log), NetworkNamespace.Sockets(T.ApplianceNamespace));
            checker.Start();
            WaitUntil(() => checker.Backends().All(b => b.ProbesSucceeded >= 3), "three good probes per backend");
            Assert.Empty(seen);

            s1.Dispose();
            WaitUntil(() => !seen.IsEmpty, "b1 down");
            Assert.Equal([new HealthTransition("web", "b1", false, "2 consecutive failures: connect refused")], seen);
            var b1 = Status(checker, "b1");
            Assert.Equal((false, 1L), (b1.Up, b1.Transitions));
            Assert.True(b1.ProbesFailed >= 2);

            s1 = new NsTcpServer(B1.Namespace, IPAddress.Any, 8082, NsTcpServer.Close);
            WaitUntil(() => seen.Count == 2, "b1 up again");
            Assert.Equal(new HealthTransition("web", "b1", true, "2 consecutive successes: connected"), seen.Last());

            s1.Dispose(); s2.Dispose();
            WaitUntil(() => seen.Count == 4, "both down");
            Assert.All(seen.Skip(2), t => Assert.False(t.Up));
            var pool = Assert.Single(checker.Pools());
            Assert.Equal(("fail-closed", true, 1L, 0), (pool.AllDownPolicy, pool.AllDown, pool.AllDownEvents, pool.BackendsUp));
            Assert.Contains("every backend is down; all-down policy fail-closed", log.ToString());
        }
        finally { s1.Dispose(); s2.Dispose(); }
    }

    ProbeSpec Encap(ForwardingMode mode, int timeoutMs = 3000) =>
        new("encap", B1.V4!, 80, timeoutMs, Mgmt, Mode: mode, GuePort: 6080, Vip: T.VipV4);

    [Theory]
    [InlineData(ForwardingMode.Ipip)]
    [InlineData(ForwardingMode.Gre)]
    [InlineData(ForwardingMode.Gue)]
    public async Task Encap_probe_sends_a_tunnelled_SYN_and_takes_the_direct_SYN_ACK(ForwardingMode mode)
    {
        using var responder = new EncapResponder(B1.Namespace, mode);
        using var prober = NewProber();
        var first = await prober.ProbeAsync(Encap(mode), default);
        Assert.True(first == ProbeOutcome.Ok("SYN-ACK"),
            $"{first}; responder received {responder.Received.Count} packets, inner {string.Join(",", responder.Inner)}, problems {string.Join(",", responder.Problems)}");
        WaitUntil(() => responder.Inner.Count >= 2, "the probe's RST after the SYN-ACK");
        var inner = responder.Inner.ToArray();
        Assert.Equal((ProbePackets.TcpSyn, true), (inner[0].Flags, inner[0].ChecksumOk));
        Assert.Equal((ProbePackets.TcpRst, true, inner[0].SrcPort, inner[0].Seq + 1), (inner[1].Flags, inner[1].ChecksumOk, inner[1].SrcPort, inner[1].Seq));

        // Eight at once: each finds its own answer (source port and ISN), none another's.
        var many = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => prober.ProbeAsync(Encap(mode), default)));
        Assert.All(many, r => Assert.Equal(ProbeOutcome.Ok("SYN-ACK"), r));

        responder.Listening = false;
        Assert.Equal(ProbeOutcome.Fail($"RST from {T.VipV4}:80 (nothing listens)"), await prober.ProbeAsync(Encap(mode), default));
        responder.Listening = true;
        responder.WrongAck = true;
        Assert.Equal(ProbeOutcome.Fail("timeout 300 ms"), await prober.ProbeAsync(Encap(mode, 300), default));
        responder.WrongAck = false;
        responder.Silent = true;
        Assert.Equal(ProbeOutcome.Fail("timeout 300 ms"), await prober.ProbeAsync(Encap(mode, 300), default));
        Assert.Empty(responder.Problems);

        // The bytes on the wire, dissected by tshark: outer header to the backend from the probe source, the
        // tunnel header, and the inner SYN from the probe source to VIP:80.
        var pcap = Path.Combine(Path.GetTempPath(), $"health-encap-{mode}-{Guid.NewGuid():N}.pcap");
        try
        {
            using (var w = new PcapWriter(pcap, linkType: 101 /* LINKTYPE_RAW: IP packets */))
                w.Write(responder.Received.First());
            var p = Assert.Single(Tshark.Fields(pcap, ["frame.protocols", "ip.src", "ip.dst", "ip.proto", "gre.proto", "udp.dstport", "tcp.srcport",
                "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.options.mss_val"], extraArgs: ["-d", "udp.port==6080,ip"]));
            string outerProto = mode switch { ForwardingMode.Ipip => "4", ForwardingMode.Gre => "47", _ => "17" };
            string tunnel = mode switch { ForwardingMode.Ipip => "raw:ip:ip:tcp", ForwardingMode.Gre => "raw:ip:gre:ip:tcp", _ => "raw:ip:udp:ip:tcp" };
            Assert.Equal(tunnel, p["frame.protocols"]);
            Assert.Equal([Mgmt.ToString(), Mgmt.ToString()], p.All("ip.src"));
            Assert.Equal([B1.V4!.ToString(), T.VipV4.ToString()], p.All("ip.dst"));
            Assert.Equal([outerProto, "6"], p.All("ip.proto"));
            if (mode == ForwardingMode.Gre) Assert.Equal("0x0800", p["gre.proto"]);
            if (mode == ForwardingMode.Gue) Assert.Equal(("6080", Tshark.StatusNotPresent), (p["udp.dstport"], p["udp.checksum.status"]));
            Assert.Equal(("80", "1", "0"), (p["tcp.dstport"], p["tcp.flags.syn"], p["tcp.flags.ack"]));
            Assert.Equal([Tshark.StatusGood, Tshark.StatusGood], p.All("ip.checksum.status"));
            Assert.Equal(Tshark.StatusGood, p["tcp.checksum.status"]);
        }
        finally { File.Delete(pcap); }
    }

    [Theory]
    [InlineData(ForwardingMode.Ipip)]
    [InlineData(ForwardingMode.Gre)]
    [InlineData(ForwardingMode.Gue)]
    public async Task Encap_probe_over_IPv6_tunnels_6in6_and_takes_the_direct_SYN_ACK(ForwardingMode mode)
    {
        using var responder = new EncapResponder(B2.Namespace, mode, 6081, ipv6: true);
        using var prober = NewProber();
        var mgmt6 = T.Management!.V6!;
        ProbeSpec Spec(int timeoutMs = 3000) => new("encap", B2.V6!, 443, timeoutMs, mgmt6, Mode: mode, GuePort: 6081, Vip: T.VipV6);
        var first = await prober.ProbeAsync(Spec(), default);
        Assert.True(first == ProbeOutcome.Ok("SYN-ACK"),
            $"{first}; responder received {responder.Received.Count} frames, inner {string.Join(",", responder.Inner)}, problems {string.Join(",", responder.Problems)}");
        WaitUntil(() => responder.Inner.Count >= 2, "the probe's RST after the SYN-ACK");
        var inner = responder.Inner.ToArray();
        Assert.Equal((ProbePackets.TcpSyn, true), (inner[0].Flags, inner[0].ChecksumOk));
        Assert.Equal((ProbePackets.TcpRst, true, inner[0].Seq + 1), (inner[1].Flags, inner[1].ChecksumOk, inner[1].Seq));
        responder.Listening = false;
        Assert.Equal(ProbeOutcome.Fail($"RST from [{T.VipV6}]:443 (nothing listens)"), await prober.ProbeAsync(Spec(), default));
        responder.Silent = true;
        Assert.Equal(ProbeOutcome.Fail("timeout 300 ms"), await prober.ProbeAsync(Spec(300), default));
        Assert.Empty(responder.Problems);

        var pcap = Path.Combine(Path.GetTempPath(), $"health-encap6-{mode}-{Guid.NewGuid():N}.pcap");
        try
        {
            using (var w = new PcapWriter(pcap)) w.Write(responder.Received.First());
            var p = Assert.Single(Tshark.Fields(pcap, ["frame.protocols", "ipv6.src", "ipv6.dst", "ipv6.nxt", "gre.proto", "udp.dstport",
                "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack"], extraArgs: ["-d", "udp.port==6081,ipv6"]));
            string tunnel = mode switch { ForwardingMode.Ipip => "eth:ethertype:ipv6:ipv6:tcp", ForwardingMode.Gre => "eth:ethertype:ipv6:gre:ipv6:tcp", _ => "eth:ethertype:ipv6:udp:ipv6:tcp" };
            string outerNext = mode switch { ForwardingMode.Ipip => "41", ForwardingMode.Gre => "47", _ => "17" };
            Assert.Equal(tunnel, p["frame.protocols"]);
            Assert.Equal([mgmt6.ToString(), mgmt6.ToString()], p.All("ipv6.src"));
            Assert.Equal([B2.V6!.ToString(), T.VipV6!.ToString()], p.All("ipv6.dst"));
            Assert.Equal([outerNext, "6"], p.All("ipv6.nxt"));
            if (mode == ForwardingMode.Gre) Assert.Equal("0x86dd", p["gre.proto"]);
            if (mode == ForwardingMode.Gue) Assert.Equal(("6081", Tshark.StatusGood), (p["udp.dstport"], p["udp.checksum.status"]));
            Assert.Equal(("443", "1", "0", Tshark.StatusGood), (p["tcp.dstport"], p["tcp.flags.syn"], p["tcp.flags.ack"], p["tcp.checksum.status"]));
        }
        finally { File.Delete(pcap); }
    }

    [Fact]
    public void Checker_runs_encap_probes_for_an_encapsulating_pool()
    {
        using var responder = new EncapResponder(B1.Namespace, ForwardingMode.Gre);
        var o = new ApplianceOptions
        {
            Pools =
            [
                new PoolOptions
                {
                    Name = "tun", Forwarding = ForwardingMode.Gre, EncapSourceV4 = "198.18.200.0/24",
                    HealthCheck = new HealthCheckOptions { Type = "encap", IntervalMs = 300, TimeoutMs = 300, Rise = 1, Fall = 2, SourceAddress = Mgmt.ToString() },
                    Backends = [new BackendOptions { Name = "b1", Address = B1.V4!.ToString() }],
                },
            ],
            Vips = [new VipOptions { Name = "v", Address = T.VipV4.ToString(), Port = 80, Pool = "tun" }],
        };
        var seen = new ConcurrentQueue<HealthTransition>();
        using var checker = new HealthChecker(o, seen.Enqueue, TextWriter.Null, NetworkNamespace.Sockets(T.ApplianceNamespace));
        checker.Start();
        WaitUntil(() => Status(checker, "b1").ProbesSucceeded >= 2, "two good encap probes");
        responder.Listening = false;
        WaitUntil(() => !Status(checker, "b1").Up, "b1 down");
        // The only backend of the pool: fail-open (the default) keeps it routed, so the callback hears nothing; the
        // read model shows it down, and the pool in its all-down state.
        var b1 = Status(checker, "b1");
        Assert.Equal((false, true), (b1.Up, b1.EffectiveUp));
        Assert.StartsWith("RST from", b1.LastReason);
        Assert.Equal((true, 1L), (checker.Pools()[0].AllDown, checker.Pools()[0].AllDownEvents));
        responder.Listening = true;
        WaitUntil(() => Status(checker, "b1").Up, "b1 up");
        Assert.False(checker.Pools()[0].AllDown);
        Assert.Empty(seen);
    }
}
