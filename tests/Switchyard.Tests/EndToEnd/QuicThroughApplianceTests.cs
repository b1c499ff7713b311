using System.Text.Json;
using Switchyard.Dataplane.Datapath.Quic;
using Switchyard.Demo;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Integration;
using Xunit.Abstractions;

namespace Switchyard.Tests.EndToEnd;

/// <summary>
/// Real QUIC (libngtcp2 0.12 from Debian, native/quic-server/quiclb-peer) through the real appliance in
/// network namespaces, L2 direct server return, three backends. Each backend's server mints QUIC-LB CIDs
/// with its own server id; each client fetches a few MB and, a third of the way in, moves to a second
/// address and a new port (old socket closed: the old path is gone, as after a NAT rebinding). With the
/// VIP in QUIC-LB mode every migrated connection completes on its backend with every byte checked; with
/// it off (a plain UDP VIP, 4-tuple + Maglev) migrations land on other backends and break. tshark
/// dissects what the appliance forwarded to each backend. Needs root: without it these FAIL, never skip.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class QuicThroughApplianceTests(ITestOutputHelper output)
{
    const string Key = "8f95f09245765f80256934e50c66207f";
    const int ConfigId = 1, SidLength = 3, NonceLength = 6, Port = 443;
    const int Clients = 6;
    const long Bytes = 3_000_000, MigrateAfter = 1_000_000;
    static string ServerId(int i) => $"5a00{i + 1:x2}";

    sealed record Result(string Line)
    {
        string Field(string k) => Line.Split(' ').Select(f => f.Split('=', 2)).FirstOrDefault(f => f[0] == k)?[1] ?? "";
        public bool Ok => Field("result") == "ok";
        public string Server => Field("server");
        public long BytesReceived => long.TryParse(Field("bytes"), out var b) ? b : -1;
        public bool Migrated => Field("migrated") == "1";
        public override string ToString() => Line;
    }

    /// <summary>native/build/quic-server/quiclb-peer of this checkout (make -C native builds it).</summary>
    static string Peer
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "native", "quic-server", "quiclb_peer.c")))
                {
                    var bin = Path.Combine(d.FullName, "native", "build", "quic-server", "quiclb-peer");
                    return File.Exists(bin) ? bin : throw new InvalidOperationException($"{bin} is not built: make -C native (needs libngtcp2-dev, libngtcp2-crypto-gnutls-dev)");
                }
            throw new InvalidOperationException($"native/quic-server not found above {AppContext.BaseDirectory}");
        }
    }

    [Fact]
    public void Migrating_quic_connections_keep_their_backend_with_quic_lb()
    {
        var (results, counters) = Run(quicLb: true, analyze: captures => AssertForwardedQuic(captures));
        foreach (var r in results)
            Assert.True(r.Ok && r.Migrated && r.BytesReceived == Bytes, r.ToString());
        var totals = counters.GetProperty("totals");
        Assert.True(totals.GetProperty("quicRoutedByCid").GetInt64() > 0);
        Assert.True(totals.GetProperty("quicClientInitial").GetInt64() >= Clients);
        // The configuration checks length self-description (the server writes length - 1 into every CID it mints).
        Assert.Equal(0, totals.GetProperty("quicCidLengthMismatch").GetInt64());
        foreach (var d in new[] { "QuicEmpty", "QuicLongHeaderTruncated", "QuicShortHeaderTruncated", "QuicDcidTooLong" })
            Assert.Equal(0, totals.GetProperty("drops").GetProperty(d).GetInt64());
        CountersInvariants.AssertHold(counters);
    }

    void AssertForwardedQuic(List<string> captures)
    {
        // tshark: every datagram the appliance forwarded to backend i is QUIC, and every server-chosen DCID
        // in it decodes to backend i's server id, also those from the clients' second (migrated) address.
        var configs = new QuicLbConfigSet(new QuicLbConfig(ConfigId, SidLength, NonceLength, Convert.FromHexString(Key)));
        int fromMigrated = 0;
        for (int i = 0; i < captures.Count; i++)
        {
            var packets = Tshark.Fields(captures[i], ["ip.src", "quic.header_form", "quic.long.packet_type", "udp.payload"], $"udp.dstport == {Port}", twoPass: false,
                // Decode As: a short header on a path tshark has not seen the connection start on (after the migration)
                // is only recognised as QUIC when the port says so.
                extraArgs: ["-d", $"udp.port=={Port},quic"]);
            Assert.All(packets, p => Assert.True(p.Has("quic.header_form"), $"backend b{i + 1} packet {p.Number} is not QUIC to tshark"));
            foreach (var p in packets)
            {
                var payload = Convert.FromHexString(p["udp.payload"]!.Replace(":", ""));
                bool shortHeader = p["quic.header_form"] == "0";
                if (!shortHeader && p["quic.long.packet_type"] is "0" or "1") continue; // Initial/0-RTT: client-chosen DCID
                Assert.Equal(QuicLbResult.Ok, QuicHeader.LocateDcid(payload, configs, out var dcid));
                Assert.Equal(QuicLbResult.Ok, QuicLbDecoder.DecodeServerId(dcid, configs, out var sid));
                Assert.True(sid.ToString() == ServerId(i), $"backend b{i + 1} got a packet for server {sid} (frame {p.Number})");
                if (shortHeader && p["ip.src"]!.StartsWith("198.18.1.", StringComparison.Ordinal)) fromMigrated++;
            }
        }
        Assert.True(fromMigrated > 0, "no short-header packet from a migrated address reached a backend");
        output.WriteLine($"{fromMigrated} short-header packets from migrated addresses, each at the backend its CID names");
    }

    [Fact]
    public void Without_quic_lb_the_same_migrations_land_on_other_backends_and_break()
    {
        var (results, counters) = Run(quicLb: false, analyze: null, clients: 9);
        // Each migration is a new 4-tuple that Maglev sends to one of three backends: 2 in 3 break, and
        // all nine surviving has probability (1/3)^9 = 0.005%.
        Assert.Contains(results, r => !r.Ok);
        foreach (var r in results.Where(r => !r.Ok))
            Assert.True(r.Migrated && r.BytesReceived >= MigrateAfter && r.BytesReceived < Bytes, $"broke for another reason: {r}");
        Assert.Equal(0, counters.GetProperty("totals").GetProperty("quicRoutedByCid").GetInt64());
        CountersInvariants.AssertHold(counters);
    }

    /// <param name="analyze">Given the backends' captures (b1, b2, b3) when not null; runs before they are removed.</param>
    (List<Result> Results, JsonElement Counters) Run(bool quicLb, Action<List<string>>? analyze, int clients = Clients)
    {
        bool capture = analyze is not null;
        Namespaces.RequireRoot();
        string peer = Peer;
        string prefix;
        var results = new List<Result>();
        JsonElement counters;
        var captures = new List<string>();
        var dir = Directory.CreateTempSubdirectory("sy-quic-").FullName;
        try
        {
            using (var t = Topology.Create(new TopologySpec
                   { Prefix = Namespaces.NewPrefix(), Clients = 1, Backends = 3, IPv6 = false, ClientSecondAddress = true }))
            {
                prefix = t.Prefix;
                string cert = Path.Combine(dir, "cert.pem"), key = Path.Combine(dir, "key.pem");
                ProcessRunner.Check("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=quiclb.test", "-keyout", key, "-out", cert);
                var config = WriteConfig(t, dir, quicLb);
                var servers = new List<BackgroundProcess>();
                var dumps = new List<(BackgroundProcess Bp, string File)>();
                try
                {
                    for (int i = 0; i < t.Backends.Count; i++)
                    {
                        var bp = new BackgroundProcess(t.StartProcess(t.Backends[i].Namespace, peer, "server", t.VipV4.ToString(), Port.ToString(),
                            cert, key, $"b{i + 1}", ConfigId.ToString(), ServerId(i), NonceLength.ToString(), Key));
                        servers.Add(bp);
                        bp.WaitForOutput("listening", TimeSpan.FromSeconds(20));
                        if (capture)
                        {
                            string file = Path.Combine(dir, $"b{i + 1}.pcapng");
                            var d = new BackgroundProcess(t.StartProcess(t.Backends[i].Namespace, "dumpcap", "-q", "-i", t.Backends[i].Interface,
                                "-f", $"udp port {Port}", "-w", file));
                            dumps.Add((d, file));
                            WaitFor(() => File.Exists(file) || d.StdErr.Contains("File:"), d, "dumpcap");
                        }
                    }
                    if (capture) Thread.Sleep(300); // the capture filter is attached just after the file is announced
                    using var appliance = ApplianceProcess.Start(t.ApplianceNamespace, config, [], output.WriteLine);
                    var client = t.Clients[0];
                    var tasks = Enumerable.Range(0, clients).Select(_ => Task.Run(() => t.TryExec(client.Namespace,
                        [peer, "client", t.VipV4.ToString(), Port.ToString(), client.V4!.ToString(), Bytes.ToString(),
                         client.SecondV4!.ToString(), MigrateAfter.ToString()], 120_000))).ToArray();
                    foreach (var task in tasks)
                    {
                        var r = task.Result;
                        var line = r.StdOut.Split('\n').FirstOrDefault(l => l.StartsWith("result=", StringComparison.Ordinal))
                                   ?? $"result=none exit={r.ExitCode} stderr={r.StdErr.Replace('\n', ' ')}";
                        output.WriteLine(line + " | " + r.StdErr.Trim().Replace('\n', ' '));
                        results.Add(new Result(line));
                    }
                    counters = appliance.Stop();
                    output.WriteLine(counters.GetProperty("totals").ToString());
                }
                finally
                {
                    foreach (var (d, file) in dumps)
                    {
                        if (!d.Process.HasExited) kill(d.Process.Id, 2); // SIGINT: dumpcap flushes and closes the file
                        d.Process.WaitForExit(10_000);
                        d.Dispose();
                        captures.Add(file);
                    }
                    foreach (var s in servers) s.Dispose();
                }
            }
            analyze?.Invoke(captures);
            Namespaces.AssertNoneWithPrefix(prefix);
        }
        finally { Directory.Delete(dir, recursive: true); }
        return (results, counters);
    }

    static void WaitFor(Func<bool> condition, BackgroundProcess p, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(15);
        while (!condition())
        {
            if (p.Process.HasExited || DateTime.UtcNow > until) throw new InvalidOperationException($"{what} did not start: {p.StdErr}");
            Thread.Sleep(50);
        }
    }

    static string WriteConfig(Topology t, string dir, bool quicLb)
    {
        var backends = t.Backends.Select((b, i) => new
        {
            Name = $"b{i + 1}", Address = b.V4!.ToString(), Mac = b.Mac, Weight = 1, QuicServerId = ServerId(i),
        }).ToArray();
        var config = new
        {
            Eal = EndToEndConfig.Eal(t),
            Ports = EndToEndConfig.LanPort(t),
            Workers = EndToEndConfig.OneWorker(),
            Pools = new[] { new { Name = "p", Forwarding = "l2dsr", Backends = backends } },
            Vips = new[] { new { Name = "quic", Address = t.VipV4.ToString(), Port, Protocol = "udp", Pool = "p", QuicLb = quicLb } },
            QuicLb = new { Configs = new[] { new { ConfigId, ServerIdLength = SidLength, NonceLength, Key, SelfEncodedLength = true } } },
            Dataplane = new { FlowTableEntries = 65536 },
        };
        var path = Path.Combine(dir, "appliance.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);
}
