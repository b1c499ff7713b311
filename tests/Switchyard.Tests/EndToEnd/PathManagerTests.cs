using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Switchyard.Demo;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Integration;
using Xunit.Abstractions;

namespace Switchyard.Tests.EndToEnd;

/// <summary>
/// The announced-address design (ICNP 2017) end to end with real components: the appliance in front (L2 DSR on
/// net_af_packet, VIP with Joins ["announced-address"]), stock Linux backends running the real mptcpd with the
/// Switchyard path-manager plugin (native/mptcpd-plugin) in the userspace-PM mode, and a client whose kernel only
/// accepts announcements (`ip mptcp limits set add_addr_accepted 2 subflows 2`). The bulk of an upload must flow on
/// the direct join to the server's own address, and the connection must survive the appliance going away.
/// tshark checks what the backend's kernel emitted on the plugin's orders: the C flag in MP_CAPABLE, ADD_ADDR with
/// the server's own address, MP_PRIO B=1 on the initial subflow. Needs root, MPTCP and mptcpd: without them these
/// FAIL, never skip.
/// </summary>
[Trait("Category", "EndToEnd")]
[Collection(ApplianceCollection.Name)] // a busy-polling DPDK worker per test: never beside another appliance run
public sealed class PathManagerTests(ITestOutputHelper output)
{
    const int VipPort = 80;

    static Topology CreateTopology(int backends, bool ipv6 = false)
    {
        Namespaces.RequireRoot();
        if (!File.Exists("/proc/sys/net/mptcp/enabled"))
            throw new InvalidOperationException("MPTCP end-to-end tests need a kernel with MPTCP (/proc/sys/net/mptcp missing)");
        return Topology.Create(new TopologySpec { Prefix = Namespaces.NewPrefix(), Clients = 1, Backends = backends, IPv6 = ipv6, Mptcp = true });
    }

    /// <summary>Backends with mptcpd + plugin (announced-address: each announces its own address) and an MPTCP
    /// server (wildcard listener, so it also takes the joins to the own address); the client accepts announcements.</summary>
    sealed class Setup : IDisposable
    {
        public required Topology T;
        public readonly List<PathManagerDaemon> Daemons = new();
        public readonly List<BackgroundProcess> Servers = new();
        public required string Dir;

        public static Setup Create(Topology t, ITestOutputHelper output)
        {
            var s = new Setup { T = t, Dir = Directory.CreateTempSubdirectory("sy-pm-e2e-").FullName };
            try
            {
                t.MptcpLimits(t.Clients[0].Namespace, subflows: 2, addAddrAccepted: 2);
                foreach (var b in t.Backends)
                {
                    var vips = new List<PathManagerDaemon.Vip> { new("web-v4", t.VipV4, VipPort, "announced-address", Announce: b.V4) };
                    if (t.VipV6 is { } v6) vips.Add(new("web-v6", v6, VipPort, "announced-address", Announce: b.V6));
                    s.Daemons.Add(PathManagerDaemon.Start(t, b.Namespace, vips));
                }
                foreach (var b in t.Backends)
                {
                    Assert.Equal("0", t.Exec(b.Namespace, "sysctl", "-n", "net.mptcp.allow_join_initial_addr_port").Trim());
                    Assert.Equal("userspace", t.Exec(b.Namespace, "sysctl", "-n", "net.mptcp.path_manager").Trim());
                }
                for (int i = 0; i < t.Backends.Count; i++)
                    s.Servers.Add(MptcpPeer.StartServer(t, t.Backends[i].Namespace, $"b{i + 1}", VipPort, t.VipV6 is null ? "0.0.0.0" : "::")); // "::" serves both
                return s;
            }
            catch
            {
                s.Dispose(output);
                throw;
            }
        }

        public string Config() => EndToEndConfig.Write(T, T.Backends.Select(_ => 1).ToArray(), Dir, tcpPort: VipPort, joins: ["announced-address"]);

        public void Dispose(ITestOutputHelper output)
        {
            foreach (var d in Daemons)
            {
                output.WriteLine($"--- mptcpd + switchyard_pm in {d.Namespace} ---");
                output.WriteLine(string.Join('\n', d.Log.Split('\n').Take(60)));
                d.Dispose();
            }
            try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        }

        public void Dispose() => Dispose(new NullOutput());

        sealed class NullOutput : ITestOutputHelper
        {
            public void WriteLine(string message) { }
            public void WriteLine(string format, params object[] args) { }
        }
    }

    /// <summary>dumpcap in a namespace: the client's side of the conversation minus the bulk payload it sends (every
    /// packet the client receives, and the client's own packets under 200 bytes: handshakes, ACKs, ADD_ADDR echoes).</summary>
    sealed class Capture : IDisposable
    {
        readonly BackgroundProcess _bp;
        public string File { get; }

        public Capture(Topology t, Endpoint host, string file)
        {
            File = file;
            _bp = new BackgroundProcess(t.StartProcess(host.Namespace, "dumpcap", "-q", "-i", host.Interface, "-s", "200", "-P",
                "-f", $"tcp and (not src host {host.V4} or less 200)", "-w", file));
            var until = DateTime.UtcNow.AddSeconds(15);
            while (!_bp.StdErr.Contains("File:", StringComparison.Ordinal) && !System.IO.File.Exists(file))
            {
                if (_bp.Process.HasExited || DateTime.UtcNow > until)
                    throw new InvalidOperationException($"dumpcap did not start: {_bp.StdErr}");
                Thread.Sleep(50);
            }
            Thread.Sleep(300); // the capture filter is attached just after the file is announced
        }

        public void Stop()
        {
            if (_bp.Process.HasExited) return;
            kill(_bp.Process.Id, 2); // SIGINT: dumpcap flushes and closes the file
            if (!_bp.Process.WaitForExit(10_000)) _bp.Process.Kill();
        }

        public void Dispose() => Stop();

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        static extern int kill(int pid, int sig);
    }

    /// <summary>Waits until a plain TCP connection to the VIP completes through the appliance (ARP answered, worker
    /// forwarding), so that the MPTCP runs do not start while a loaded machine still brings the appliance up: SYNs
    /// lost then would make the client's kernel fall back to plain TCP (net.mptcp.syn_retrans_before_tcp_fallback).
    /// Plain TCP (bash /dev/tcp), so the kernel's MPTCP black-hole accounting is not touched; the servers report it as
    /// a non-MPTCP connection, which the assertions leave out.</summary>
    static void WarmUp(Topology t)
    {
        foreach (var vip in new[] { t.VipV4, t.VipV6 }.OfType<IPAddress>())
        {
            var until = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                var r = t.TryExec(t.Clients[0].Namespace, ["timeout", "3", "bash", "-c", $"exec 3<>/dev/tcp/{vip}/{VipPort} && exec 3>&-"], 10_000);
                if (r.ExitCode == 0) break;
                if (DateTime.UtcNow > until) throw new InvalidOperationException($"no TCP connection to {vip}:{VipPort} through the appliance within 60 s: {r.StdErr}");
                Thread.Sleep(200);
            }
        }
    }

    /// <summary>The MPTCP connections a server reported (the warm-up connection is plain TCP).</summary>
    static List<MptcpPeer.ServerConnection> MptcpServed(BackgroundProcess server) =>
        MptcpPeer.ServerConnections(server).Where(c => c.Mptcp).ToList();

    static long Payload(IEnumerable<MptcpPeer.ServerSubflow> subs, Func<IPEndPoint, bool> which) =>
        subs.Where(s => which(IPEndPoint.Parse(s.Local))).Sum(s => s.BytesReceived);

    [Fact]
    public void Announced_address_the_bulk_of_an_upload_flows_on_the_direct_subflow_and_the_kernel_signals_it()
    {
        const int Connections = 2, Bytes = 24 << 20; // 48 MiB in all
        string prefix;
        using (var t = CreateTopology(backends: 2))
        {
            prefix = t.Prefix;
            var s = Setup.Create(t, output);
            try
            {
                var pcap = Path.Combine(s.Dir, "client.pcap");
                MptcpPeer.ClientRun client;
                JsonElement counters;
                using (var cap = new Capture(t, t.Clients[0], pcap))
                {
                    using var appliance = ApplianceProcess.Start(t.ApplianceNamespace, s.Config(), [], output.WriteLine);
                    WarmUp(t);
                    client = MptcpPeer.RunClient(t.Clients[0].Namespace, t.VipV4.ToString(), VipPort, Connections, 1, Bytes,
                        expectSubflows: 2, subflowWaitMs: 5000, timeoutMs: 60_000);
                    counters = appliance.Stop();
                    cap.Stop();
                }
                output.WriteLine(client.Summary?.ToString() ?? client.ToString());
                Assert.True(client.Process.ExitCode == 0 && client.Succeeded == Connections && client.Failed == 0, client.ToString());
                Assert.Equal(Connections, client.MptcpConnections);
                Assert.Equal(new Dictionary<int, int> { [2] = Connections }, client.SubflowsHistogram);

                var served = s.Servers.SelectMany(MptcpServed).ToList();
                Assert.Equal(Connections, served.Count);
                long viaAppliance = 0, direct = 0;
                foreach (var c in served)
                {
                    var backend = t.Backends[int.Parse(c.Id[1..]) - 1];
                    output.WriteLine($"server {c.Id} token {c.Token}: " +
                        string.Join(", ", c.SubflowDetails.Select(d => $"{d.Local} <- {d.Remote}: {d.BytesReceived} B")));
                    Assert.True(c.Mptcp && c.Subflows == 2 && c.Bytes == Bytes, $"server side: {c}");
                    // The join reached the server's own address (never the VIP: the C flag), from the client.
                    Assert.Contains(c.SubflowDetails, d => IPEndPoint.Parse(d.Local).Address.Equals(backend.V4));
                    long v = Payload(c.SubflowDetails, e => e.Address.Equals(t.VipV4));
                    long d = Payload(c.SubflowDetails, e => e.Address.Equals(backend.V4));
                    // The per-subflow counters account for every byte of the upload (more only if the scheduler re-sent some).
                    Assert.InRange(v + d, Bytes, Bytes + Bytes / 20);
                    viaAppliance += v; direct += d;

                    // The plugin's decisions for this connection, in its log.
                    var lines = s.Daemons[int.Parse(c.Id[1..]) - 1].LinesFor(c.Token!);
                    Assert.Contains(lines, l => l.Contains($"announced {backend.V4}:0 id 1 (announced-address)"));
                    Assert.Contains(lines, l => l.Contains($"initial subflow {t.VipV4}:{VipPort} <- ") && l.Contains("set to backup (MP_PRIO)"));
                }
                double share = (double)viaAppliance / (viaAppliance + direct);
                var backends = counters.GetProperty("backends").EnumerateArray().ToList();
                long applianceBytes = backends.Sum(b => b.GetProperty("bytes").GetInt64());
                output.WriteLine($"upload of {Connections} x {Bytes} B: {direct} B on the direct subflows, {viaAppliance} B through the appliance " +
                    $"= {share:P2} of the payload crossed the appliance (appliance counters: {applianceBytes} B to the backends, headers included)");
                Assert.True(direct > viaAppliance, $"the majority must flow on the direct subflow: direct {direct} B, via appliance {viaAppliance} B");
                // Independent of the servers' accounting: what the appliance forwarded is the initial subflows' share.
                Assert.True(applianceBytes < (long)Connections * Bytes / 2,
                    $"the appliance forwarded {applianceBytes} B, not less than half of {(long)Connections * Bytes} B");
                Assert.True(applianceBytes >= viaAppliance, $"appliance counted {applianceBytes} B < {viaAppliance} B payload via the VIP subflows");
                var totals = counters.GetProperty("totals");
                Assert.Equal(0, totals.GetProperty("joinsSeen").GetInt64());      // no join ever reached the VIP
                Assert.Equal(0, totals.GetProperty("joinsUnplaceable").GetInt64());
                CountersInvariants.AssertHold(counters);

                AssertSignalling(t, pcap, served.Count);
                AssertNonVipConnectionIgnored(t, s);
            }
            finally { s.Dispose(output); }
        }
        Namespaces.AssertNoneWithPrefix(prefix);
    }

    /// <summary>What the backends' kernels sent, as tshark reads it: C flag in the SYN/ACK's MP_CAPABLE, ADD_ADDR with
    /// the server's own address (and the client's echo), MP_PRIO B=1 on the initial subflow (source VIP:80).</summary>
    void AssertSignalling(Topology t, string pcap, int connections)
    {
        var own = t.Backends.Select(b => b.V4!.ToString()).ToHashSet();
        var pkts = Tshark.Fields(pcap, ["ip.src", "ip.dst", "tcp.srcport", "tcp.flags.syn", "tcp.flags.ack", "tcp.options.mptcp.subtype",
            "tcp.options.mptcp.nomoresubflows.flag", "tcp.options.mptcp.ipv4", "tcp.options.mptcp.echo", "tcp.options.mptcp.backup.flag",
            "tcp.options.mptcp.port"], displayFilter: "tcp.options.mptcp.subtype");
        string vip = t.VipV4.ToString();
        var synAcks = pkts.Where(p => p["ip.src"] == vip && p["tcp.flags.syn"] == "1" && p["tcp.flags.ack"] == "1").ToList();
        Assert.True(synAcks.Count >= connections, $"SYN/ACKs from the VIP: {synAcks.Count}");
        Assert.All(synAcks, p => Assert.Equal("1", p["tcp.options.mptcp.nomoresubflows.flag"]));

        var addAddrs = pkts.Where(p => p.All("tcp.options.mptcp.subtype").Contains("3")).ToList();
        var announced = addAddrs.Where(p => p["ip.src"] == vip && p["tcp.options.mptcp.echo"] == "0").ToList();
        Assert.True(announced.Count >= connections, $"ADD_ADDR from the server: {announced.Count}");
        Assert.All(announced, p => Assert.Contains(p["tcp.options.mptcp.ipv4"] ?? "(no tcp.options.mptcp.ipv4)", own));
        Assert.Contains(addAddrs, p => p["ip.dst"] == vip && p["tcp.options.mptcp.echo"] == "1"); // the client echoed it

        var prios = pkts.Where(p => p.All("tcp.options.mptcp.subtype").Contains("5")).ToList();
        var backupOnInitial = prios.Where(p => p["ip.src"] == vip && p["tcp.srcport"] == VipPort.ToString() &&
            p["tcp.options.mptcp.backup.flag"] == "1").ToList();
        Assert.True(backupOnInitial.Count >= connections, $"MP_PRIO B=1 from {vip}:{VipPort}: {backupOnInitial.Count} (all MP_PRIO: {prios.Count})");
        output.WriteLine($"tshark: {synAcks.Count} SYN/ACK with the C flag, {announced.Count} ADD_ADDR of {string.Join(",", announced.Select(p => p["tcp.options.mptcp.ipv4"]).Distinct())}, " +
            $"{backupOnInitial.Count} MP_PRIO B=1 on the initial subflow");
    }

    /// <summary>A connection to a backend's own address (not a VIP) is logged as ignored and gets no announcement.</summary>
    void AssertNonVipConnectionIgnored(Topology t, Setup s)
    {
        var b = t.Backends[0];
        int before = MptcpPeer.ServerConnections(s.Servers[0]).Count;
        var r = MptcpPeer.RunClient(t.Clients[0].Namespace, b.V4!.ToString(), VipPort, 1, 1, 64 << 10, expectSubflows: 1, subflowWaitMs: 0);
        Assert.True(r.Process.ExitCode == 0 && r.Succeeded == 1, r.ToString());
        var served = MptcpPeer.WaitForServerConnections(s.Servers[0], before + 1, TimeSpan.FromSeconds(10));
        Assert.Equal(before + 1, served.Count);
        var token = served[^1].Token!; // the server's token: the one the plugin logs
        Assert.True(served[^1].Mptcp, $"server side: {served[^1]}");
        Assert.Single(r.Connections.Single().Subflows);
        var until = DateTime.UtcNow.AddSeconds(5);
        while (!s.Daemons[0].Log.Contains($"established token {token} ") && DateTime.UtcNow < until) Thread.Sleep(50);
        Assert.Contains(s.Daemons[0].Log.Split('\n'), l => l.Contains($"established token {token} {b.V4}:{VipPort} <- ") && l.Contains("not a configured VIP, ignored"));
        Assert.DoesNotContain(s.Daemons[0].LinesFor(token), l => l.Contains("announced"));
    }

    [Fact]
    public async Task Announced_address_stopping_the_appliance_in_the_middle_of_a_transfer_does_not_break_the_connection()
    {
        const int Bytes = 32 << 20;
        string prefix;
        using (var t = CreateTopology(backends: 2))
        {
            prefix = t.Prefix;
            var s = Setup.Create(t, output);
            try
            {
                var c = t.Clients[0];
                // 100 Mbit/s out of the client (both subflows): the 32 MiB upload lasts about 3 s, time to stop the appliance.
                t.Exec(c.Namespace, "tc", "qdisc", "add", "dev", c.Interface, "root", "tbf", "rate", "100mbit", "burst", "64kb", "latency", "100ms");
                var appliance = ApplianceProcess.Start(t.ApplianceNamespace, s.Config(), [], output.WriteLine);
                try
                {
                    WarmUp(t);
                    var sw = Stopwatch.StartNew();
                    var run = Task.Run(() => MptcpPeer.RunClient(c.Namespace, t.VipV4.ToString(), VipPort, 1, 1, Bytes,
                        expectSubflows: 2, subflowWaitMs: 5000, timeoutMs: 60_000));
                    // Wait until the join to a backend's own address is up and carries data, then stop the appliance.
                    long ackedAtStop = 0;
                    var until = DateTime.UtcNow.AddSeconds(30);
                    while (true)
                    {
                        Assert.False(run.IsCompleted, $"the client finished before the join was seen: {(run.IsCompleted ? (await run).ToString() : "")}");
                        Assert.True(DateTime.UtcNow < until, "no direct subflow to a backend's own address within 30 s");
                        var ss = t.Exec(c.Namespace, "ss", "-tniH", "state", "established", "dport", "=", $":{VipPort}");
                        var direct = DirectSubflowAcked(ss, t);
                        if (direct > 2 << 20) { ackedAtStop = TotalAcked(ss); break; }
                        Thread.Sleep(20);
                    }
                    var stoppedAt = sw.Elapsed;
                    var counters = appliance.Stop();
                    output.WriteLine($"appliance stopped (SIGTERM, exit 0) at {stoppedAt.TotalSeconds:F2} s with {ackedAtStop} of {Bytes} B acknowledged");
                    Assert.True(appliance.HasExited);
                    Assert.InRange(ackedAtStop, 1, Bytes * 3L / 4); // really in the middle of the transfer

                    var r = await run.WaitAsync(TimeSpan.FromSeconds(90)); // TimeoutException: the client did not finish
                    output.WriteLine($"client finished at {sw.Elapsed.TotalSeconds:F2} s: {r.Summary}");
                    Assert.True(r.Process.ExitCode == 0 && r.Succeeded == 1 && r.Failed == 0, r.ToString()); // digest verified by the server
                    var conn = r.Connections.Single();
                    Assert.True(conn.Mptcp && conn.Fallback != true, $"client connection: {conn}");

                    var served = s.Servers.SelectMany(MptcpServed).Single();
                    output.WriteLine($"server {served.Id}: " + string.Join(", ", served.SubflowDetails.Select(d => $"{d.Local} <- {d.Remote}: {d.BytesReceived} B")));
                    Assert.Equal(Bytes, served.Bytes);
                    Assert.Equal(0, counters.GetProperty("totals").GetProperty("joinsUnplaceable").GetInt64());
                }
                finally { appliance.Dispose(); }
            }
            finally { s.Dispose(output); }
        }
        Namespaces.AssertNoneWithPrefix(prefix);
    }

    [Fact]
    public void Announced_address_over_IPv6_the_join_goes_to_the_servers_own_IPv6_address_and_carries_the_upload()
    {
        const int Bytes = 16 << 20;
        string prefix;
        using (var t = CreateTopology(backends: 1, ipv6: true))
        {
            prefix = t.Prefix;
            var s = Setup.Create(t, output);
            try
            {
                var b = t.Backends[0];
                MptcpPeer.ClientRun client;
                using (var appliance = ApplianceProcess.Start(t.ApplianceNamespace, s.Config(), [], output.WriteLine))
                {
                    WarmUp(t);
                    client = MptcpPeer.RunClient(t.Clients[0].Namespace, t.VipV6!.ToString(), VipPort, 1, 1, Bytes,
                        expectSubflows: 2, subflowWaitMs: 5000, timeoutMs: 60_000);
                    CountersInvariants.AssertHold(appliance.Stop());
                }
                output.WriteLine(client.Summary?.ToString() ?? client.ToString());
                Assert.True(client.Process.ExitCode == 0 && client.Succeeded == 1, client.ToString());
                var c = s.Servers.SelectMany(MptcpServed).Single();
                output.WriteLine($"server {c.Id} token {c.Token}: " +
                    string.Join(", ", c.SubflowDetails.Select(d => $"{d.Local} <- {d.Remote}: {d.BytesReceived} B")));
                Assert.True(c.Mptcp && c.Subflows == 2 && c.Bytes == Bytes, $"server side: {c}");
                long direct = Payload(c.SubflowDetails, e => e.Address.Equals(b.V6));
                long via = Payload(c.SubflowDetails, e => e.Address.Equals(t.VipV6));
                output.WriteLine($"IPv6: {direct} B direct, {via} B through the appliance ({(double)via / (via + direct):P2})");
                Assert.True(direct > via, $"direct {direct} B, via the appliance {via} B");
                Assert.Contains(s.Daemons[0].LinesFor(c.Token!), l => l.Contains($"announced [{b.V6}]:0 id 1 (announced-address)"));
                Assert.Contains(s.Daemons[0].LinesFor(c.Token!), l => l.Contains($"initial subflow [{t.VipV6}]:{VipPort} <- ") && l.Contains("set to backup"));
            }
            finally { s.Dispose(output); }
        }
        Namespaces.AssertNoneWithPrefix(prefix);
    }

    [Fact]
    public void Announced_port_the_plugin_announces_the_backends_vip_port_and_every_join_reaches_its_backend()
    {
        const int Connections = 20, Bytes = 1 << 20;
        int[] ports = [20001, 20002];
        string prefix;
        using (var t = CreateTopology(backends: 2))
        {
            prefix = t.Prefix;
            var dir = Directory.CreateTempSubdirectory("sy-pm-port-").FullName;
            var daemons = new List<PathManagerDaemon>();
            try
            {
                t.MptcpLimits(t.Clients[0].Namespace, subflows: 2, addAddrAccepted: 2);
                for (int i = 0; i < 2; i++)
                    daemons.Add(PathManagerDaemon.Start(t, t.Backends[i].Namespace,
                        [new PathManagerDaemon.Vip("web", t.VipV4, VipPort, "announced-port", AnnouncePort: ports[i])]));
                // The application listens on the VIP only: the plugin opens the join listener on VIP:port itself.
                var servers = t.Backends.Select((b, i) => MptcpPeer.StartServer(t, b.Namespace, $"b{i + 1}", VipPort, t.VipV4.ToString())).ToList();
                var config = EndToEndConfig.Write(t, [1, 1], dir, tcpPort: VipPort, joins: ["announced-port"], announcedPorts: ports);
                MptcpPeer.ClientRun client;
                JsonElement counters;
                using (var appliance = ApplianceProcess.Start(t.ApplianceNamespace, config, [], output.WriteLine))
                {
                    WarmUp(t);
                    client = MptcpPeer.RunClient(t.Clients[0].Namespace, t.VipV4.ToString(), VipPort, Connections, 5, Bytes,
                        expectSubflows: 2, subflowWaitMs: 3000);
                    counters = appliance.Stop();
                }
                output.WriteLine(client.Summary?.ToString() ?? client.ToString());
                Assert.True(client.Process.ExitCode == 0 && client.Succeeded == Connections, client.ToString());
                Assert.Equal(new Dictionary<int, int> { [2] = Connections }, client.SubflowsHistogram);
                var served = servers.SelectMany(MptcpServed).ToList();
                Assert.Equal(Connections, served.Count);
                foreach (var c in served)
                {
                    int i = int.Parse(c.Id[1..]) - 1;
                    Assert.True(c.Mptcp && c.Subflows == 2, $"server side: {c}");
                    // The join arrived on this backend's announced port of the VIP, through the appliance.
                    Assert.Contains(c.SubflowDetails, d => d.Local == $"{t.VipV4}:{ports[i]}");
                    Assert.Contains(daemons[i].LinesFor(c.Token!), l => l.Contains($"announced {t.VipV4}:{ports[i]} id 1 (announced-port)"));
                }
                for (int i = 0; i < 2; i++)
                {
                    // One listener per announced port for the daemon's lifetime, not one per connection.
                    Assert.Single(daemons[i].Log.Split('\n'), l => l.Contains($"opened an MPTCP listener on {t.VipV4}:{ports[i]}"));
                    Assert.DoesNotContain("set to backup", daemons[i].Log);
                }
                var totals = counters.GetProperty("totals");
                output.WriteLine($"appliance: joinsByAnnouncedPort {totals.GetProperty("joinsByAnnouncedPort")}, unplaceable {totals.GetProperty("joinsUnplaceable")}");
                Assert.Equal(Connections, totals.GetProperty("joinsByAnnouncedPort").GetInt64());
                Assert.Equal(0, totals.GetProperty("joinsUnplaceable").GetInt64());
                CountersInvariants.AssertHold(counters);
            }
            finally
            {
                foreach (var d in daemons)
                {
                    output.WriteLine($"--- {d.Namespace} ---\n" + string.Join('\n', d.Log.Split('\n').Take(30)));
                    d.Dispose();
                }
                Directory.Delete(dir, recursive: true);
            }
        }
        Namespaces.AssertNoneWithPrefix(prefix);
    }

    [Fact]
    public void After_mptcpd_restarts_new_connections_are_handled_again_and_nothing_is_left_in_the_kernel()
    {
        string prefix;
        using (var t = CreateTopology(backends: 1))
        {
            prefix = t.Prefix;
            var s = Setup.Create(t, output);
            try
            {
                var b = t.Backends[0];
                using var appliance = ApplianceProcess.Start(t.ApplianceNamespace, s.Config(), [], output.WriteLine);
                WarmUp(t);
                MptcpPeer.ClientRun Once() => MptcpPeer.RunClient(t.Clients[0].Namespace, t.VipV4.ToString(), VipPort, 1, 1, 1 << 20,
                    expectSubflows: 2, subflowWaitMs: 3000);
                var first = Once();
                Assert.True(first.Succeeded == 1 && first.SubflowsHistogram.GetValueOrDefault(2) == 1, first.ToString());

                // SIGTERM: mptcpd exits cleanly (the plugin's exit runs) and leaves no endpoint or listener behind.
                var old = s.Daemons[0];
                old.Dispose();
                Assert.True(old.HasExited);
                Assert.Contains("switchyard_pm info: stopped", old.Log);
                Assert.Equal("", t.Exec(b.Namespace, "ip", "mptcp", "endpoint", "show").Trim());
                s.Daemons[0] = PathManagerDaemon.Start(t, b.Namespace,
                    [new PathManagerDaemon.Vip("web-v4", t.VipV4, VipPort, "announced-address", Announce: b.V4)]);

                var second = Once();
                Assert.True(second.Succeeded == 1 && second.SubflowsHistogram.GetValueOrDefault(2) == 1, second.ToString());
                // The server's token (each side of an MPTCP connection has its own): what the plugin logs.
                var until = DateTime.UtcNow.AddSeconds(10);
                while (MptcpServed(s.Servers[0]).Count < 2 && DateTime.UtcNow < until) Thread.Sleep(50);
                var token = MptcpServed(s.Servers[0])[1].Token!;
                Assert.Contains(s.Daemons[0].LinesFor(token), l => l.Contains($"announced {b.V4}:0 id 1"));
                Assert.Contains(s.Daemons[0].LinesFor(token), l => l.Contains("set to backup (MP_PRIO)"));
                Assert.Equal(2, second.Connections.Single().Subflows.Count);
                Assert.Contains(second.Connections.Single().Subflows, f => f.Remote == $"{b.V4}:{VipPort}");
                appliance.Stop();
            }
            finally { s.Dispose(output); }
            Assert.Equal("", t.Exec(t.Backends[0].Namespace, "ip", "mptcp", "endpoint", "show").Trim());
        }
        Namespaces.AssertNoneWithPrefix(prefix);
    }

    /// <summary>(remote address, bytes_acked) per subflow in `ss -tniH` output (one socket: a line, then its info).</summary>
    static IEnumerable<(string Remote, long Acked)> Subflows(string ss)
    {
        var lines = ss.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var head = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (head.Length < 4 || !head[^1].EndsWith($":{VipPort}") || lines[i].Contains("bytes_acked")) continue;
            var info = i + 1 < lines.Length ? lines[i + 1] : "";
            var m = Regex.Match(info, @"bytes_acked:(\d+)");
            yield return (head[^1][..head[^1].LastIndexOf(':')], m.Success ? long.Parse(m.Groups[1].Value) : 0);
        }
    }

    static long DirectSubflowAcked(string ss, Topology t) =>
        Subflows(ss).Where(x => t.Backends.Any(b => b.V4!.ToString() == x.Remote)).Sum(x => x.Acked);

    static long TotalAcked(string ss) => Subflows(ss).Sum(x => x.Acked);

    [Fact]
    public void An_invalid_configuration_is_refused_with_its_json_path_and_mptcpd_does_not_run()
    {
        string prefix;
        using (var t = CreateTopology(backends: 1))
        {
            prefix = t.Prefix;
            var ns = t.Backends[0].Namespace;
            var bad = new[] { new PathManagerDaemon.Vip("web", t.VipV4, VipPort, "announced-adress", Announce: t.Backends[0].V4) };
            var ex = Assert.Throws<InvalidOperationException>(() => PathManagerDaemon.Start(t, ns, bad));
            output.WriteLine(ex.Message);
            Assert.Contains("configuration refused: PathManager.Vips[0].Mode: 'announced-adress'", ex.Message);
            // announced-address without the server's own address
            var noOwn = new[] { new PathManagerDaemon.Vip("web", t.VipV4, VipPort, "announced-address") };
            ex = Assert.Throws<InvalidOperationException>(() => PathManagerDaemon.Start(t, ns, noOwn));
            Assert.Contains("PathManager.Vips[0].Announce: missing", ex.Message);
            Assert.Empty(Shell.Run("ip", "netns", "pids", ns).Trim());
        }
        Namespaces.AssertNoneWithPrefix(prefix);
    }
}
