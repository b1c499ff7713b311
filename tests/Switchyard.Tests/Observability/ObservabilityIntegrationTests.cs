using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Switchyard.Dataplane.Datapath;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Integration;
using static Switchyard.Tests.Integration.TestNetwork;

namespace Switchyard.Tests.Observability;

/// <summary>
/// The real appliance as a child process, queried while it runs: by dpdk-telemetry.py (DPDK's own client,
/// over the telemetry socket), by HTTP (/metrics, /counters) and captured by dpdk-dumpcap (a DPDK secondary
/// process, which needs hugepages).
/// </summary>
[Collection(MultiProcessToolsCollection.Name)]
[Trait("Category", "Integration")]
public sealed class ObservabilityIntegrationTests
{
    static readonly string Core = Appliance.WorkerCore.ToString();

    static List<byte[]> Traffic(out int forwarded)
    {
        var frames = new List<byte[]>();
        for (ushort sp = 30001; sp <= 30005; sp++) frames.Add(Syn(Dsr4, sp));
        for (ushort sp = 31001; sp <= 31003; sp++) frames.Add(Ip(Eth(), Client4, Udp4.Address).Udp(sp, 53).Payload($"q{sp}").Build());
        forwarded = frames.Count;
        frames.Add(new byte[10]);                                   // RuntFrame
        frames.Add(new byte[12]);                                   // RuntFrame
        frames.Add(Ip(Eth(), Client4, "203.0.113.99").Tcp(32001, 80, TcpFlags.Syn).Build()); // NotForVip
        frames.Add(Ip(Eth(), Client4, "203.0.113.98").Tcp(32002, 80, TcpFlags.Syn).Build()); // NotForVip
        return frames;
    }

    static long L(JsonNode? n) => n!.GetValue<long>();

    [Fact]
    public void Telemetry_commands_and_metrics_show_the_same_values_as_the_counters_json_without_hugepages()
    {
        Tshark.Executable.ToString();
        var frames = Traffic(out int forwarded);
        using var app = RunningAppliance.Start("telemetry", frames, (c, _) => Apply(c));
        var counters = app.WaitForRx(frames.Count, TimeSpan.FromSeconds(60));
        var totals = counters.GetProperty("totals");
        Assert.Equal(forwarded, totals.GetProperty("forwarded").GetInt64());
        Assert.Equal(2, totals.GetProperty("drops").GetProperty("RuntFrame").GetInt64());
        Assert.Equal(2, totals.GetProperty("drops").GetProperty("NotForVip").GetInt64());

        // The telemetry state is republished every second: wait for the one that has all frames.
        var sw = Stopwatch.StartNew();
        TelemetryTool.Result info;
        do
        {
            info = TelemetryTool.Query(app.FilePrefix, "/switchyard/info");
            if (info.Replies[0] is JsonObject o && o["rxPackets"] is { } rx && L(rx) == frames.Count) break;
            Thread.Sleep(300);
        } while (sw.Elapsed < TimeSpan.FromSeconds(15));

        string[] cmds =
        [
            "/switchyard/info", "/switchyard/drops", "/switchyard/vips", "/switchyard/vip,dsr4", "/switchyard/vip,udp4",
            "/switchyard/backends", "/switchyard/workers", $"/switchyard/worker,{Core}", $"/switchyard/drops,{Core}",
            "/switchyard/vip,no-such-vip", "/switchyard/vip", "/ethdev/list", "/",
        ];
        var t = TelemetryTool.Query(app.FilePrefix, cmds);
        string why = $"{t.Command}\n{t.Output}\ncounters: {counters}";
        var r = t.Replies;

        // info and worker: every global counter and outcome of the counters JSON, same name, same value.
        var infoReply = r[0]!.AsObject();
        var worker = r[7]!.AsObject();
        var worker0 = counters.GetProperty("workers")[0].GetProperty("counters");
        foreach (var p in totals.EnumerateObject().Where(p => p.Name != "drops"))
        {
            Assert.True(infoReply.ContainsKey(p.Name), $"/switchyard/info has no {p.Name}\n{why}");
            Assert.True(p.Value.GetInt64() == L(infoReply[p.Name]), $"{p.Name}: counters {p.Value} vs telemetry {infoReply[p.Name]}\n{why}");
            Assert.True(worker0.GetProperty(p.Name).GetInt64() == L(worker[p.Name]), $"worker {p.Name}\n{why}");
        }
        Assert.Equal(counters.GetProperty("generation").GetInt64(), L(infoReply["generation"]));
        Assert.Equal(1, L(infoReply["workers"]));
        Assert.Equal(Vips.Length, L(infoReply["vips"]));
        Assert.Equal(long.Parse(Core), L(worker["core"]));

        // drops: every reason, summed and for the one worker.
        var drops = r[1]!.AsObject();
        var workerDrops = r[8]!.AsObject();
        Assert.Equal((int)DropReason.Count - 1, drops.Count);
        foreach (var p in totals.GetProperty("drops").EnumerateObject())
        {
            Assert.True(p.Value.GetInt64() == L(drops[p.Name]), $"drop {p.Name}\n{why}");
            Assert.True(p.Value.GetInt64() == L(workerDrops[p.Name]), $"worker drop {p.Name}\n{why}");
        }

        // VIPs: the list, and each VIP's counters.
        Assert.Equal(Vips.Select(v => v.Name), r[2]!.AsArray().Select(n => n!.GetValue<string>()));
        foreach (var (reply, name) in new[] { (r[3], "dsr4"), (r[4], "udp4") })
        {
            var json = counters.GetProperty("vips").EnumerateArray().Single(v => v.GetProperty("name").GetString() == name);
            var o = reply!.AsObject();
            Assert.Equal(name, o["name"]!.GetValue<string>());
            Assert.Equal(json.GetProperty("address").GetString(), o["address"]!.GetValue<string>());
            Assert.Equal(json.GetProperty("pool").GetString(), o["pool"]!.GetValue<string>());
            foreach (var k in new[] { "packets", "bytes", "newFlows" })
                Assert.True(json.GetProperty(k).GetInt64() == L(o[k]), $"vip {name} {k}\n{why}");
        }
        Assert.Equal(5, L(r[3]!["packets"]));
        Assert.Equal(3, L(r[4]!["packets"]));

        // Backends: the ids, then every backend's reply.
        var ids = r[5]!.AsArray().Select(L).ToList();
        Assert.Equal(counters.GetProperty("backends").EnumerateArray().Select(b => b.GetProperty("id").GetInt64()), ids);
        var perBackend = TelemetryTool.Query(app.FilePrefix, ids.Select(id => $"/switchyard/backend,{id}").ToArray());
        foreach (var (b, reply) in counters.GetProperty("backends").EnumerateArray().Zip(perBackend.Replies))
        {
            var o = reply!.AsObject();
            Assert.Equal(b.GetProperty("name").GetString(), o["name"]!.GetValue<string>());
            Assert.Equal(b.GetProperty("weight").GetInt64(), L(o["weight"]));
            Assert.Equal(b.GetProperty("usable").GetBoolean() ? 1 : 0, L(o["usable"]));
            foreach (var k in new[] { "packets", "bytes", "newFlows" })
                Assert.True(b.GetProperty(k).GetInt64() == L(o[k]), $"backend {b.GetProperty("name")} {k}\n{perBackend.Output}");
        }

        Assert.Equal([long.Parse(Core)], r[6]!.AsArray().Select(L));
        Assert.Contains("nothing named 'no-such-vip'", r[9]!.GetValue<string>());
        Assert.Contains("needs a parameter", r[10]!.GetValue<string>());
        Assert.Equal([0L], r[11]!.AsArray().Select(L));             // DPDK's own commands still answer
        var all = r[12]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        foreach (var c in new[] { "/switchyard/info", "/switchyard/vips", "/switchyard/vip", "/switchyard/backends", "/switchyard/backend",
                     "/switchyard/workers", "/switchyard/worker", "/switchyard/drops" })
            Assert.Contains(c, all);

        // /metrics: strictly well-formed and equal to the counters JSON.
        var page = PromText.Parse(app.Get("/metrics"));
        foreach (var p in totals.GetProperty("drops").EnumerateObject())
        {
            Assert.Equal(p.Value.GetInt64(), page.Value("switchyard_drops_total", ("reason", p.Name)));
            Assert.Equal(p.Value.GetInt64(), page.Value("switchyard_worker_drops_total", ("worker", Core), ("reason", p.Name)));
        }
        Assert.Equal(totals.GetProperty("rxPackets").GetInt64(), page.Value("switchyard_worker_rx_packets_total", ("worker", Core)));
        Assert.Equal(totals.GetProperty("forwarded").GetInt64(), page.Value("switchyard_worker_frames_total", ("worker", Core), ("outcome", "forwarded")));
        foreach (var v in counters.GetProperty("vips").EnumerateArray())
            Assert.Equal(v.GetProperty("packets").GetInt64(), page.Value("switchyard_vip_packets_total", ("vip", v.GetProperty("name").GetString()!)));
        foreach (var b in counters.GetProperty("backends").EnumerateArray())
            Assert.Equal(b.GetProperty("newFlows").GetInt64(), page.Value("switchyard_backend_new_flows_total", ("id", b.GetProperty("id").GetInt64().ToString())));
        Assert.Equal(frames.Count, page.Value("switchyard_port_rx_packets_total", ("port", "wire")));

        Assert.Equal(0, app.Stop());
        Assert.Contains("telemetry: /switchyard/info", app.Process.StdErr);
    }

    [Fact]
    public void A_taken_metrics_port_is_logged_and_the_appliance_forwards_anyway()
    {
        using var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        squatter.Start();
        int port = ((System.Net.IPEndPoint)squatter.LocalEndpoint).Port;
        var frames = Traffic(out int forwarded);
        using var run = Appliance.Run("metrics-port-taken", frames,
            c => { Apply(c); c["Observability"] = new JsonObject { ["PrometheusListen"] = $"127.0.0.1:{port}" }; });
        run.AssertCleanExit();
        Assert.Contains($"metrics endpoint disabled: cannot listen on 127.0.0.1:{port}", run.Process.StdErr);
        Assert.Equal(forwarded, run.Total("forwarded"));
        Assert.Equal(frames.Count, run.Total("rxPackets"));
    }

    [Fact]
    public void Dumpcap_captures_the_running_appliances_traffic_with_hugepages()
    {
        Tshark.Executable.ToString();
        string dumpcap = ProcessRunner.Which("dpdk-dumpcap") ?? throw new Xunit.Sdk.XunitException("dpdk-dumpcap not found: apt-get install -y dpdk");
        using var huge = HugepageReservation.Ensure(pages: 384);
        var frames = new List<byte[]>();
        for (ushort sp = 33001; sp <= 33004; sp++) frames.Add(Syn(Dsr4, sp));
        using var app = RunningAppliance.Start("dumpcap", frames, (c, dir) =>
        {
            Apply(c);
            var eal = (JsonObject)c["Eal"]!;
            eal["Hugepages"] = "require";
            ((JsonObject)c["Observability"]!)["PacketCapture"] = true;
            huge.Track(eal["FilePrefix"]!.GetValue<string>());
            string input = Path.Combine(dir, "in.pcap");
            // An endless replay of the four SYNs; what the appliance sends goes nowhere.
            eal["Vdevs"] = new JsonArray($"net_pcap0,rx_pcap={input},infinite_rx=1,tx_pcap=/dev/null");
        });
        Assert.Contains("hugepages: using the free hugepages", app.Process.StdErr);
        Assert.Contains("packet capture: on; dpdk-dumpcap can attach", app.Process.StdErr);
        app.WaitForRx(1000, TimeSpan.FromSeconds(60));

        string capture = Path.Combine(app.Dir, "capture.pcapng");
        var d = ProcessRunner.Run(dumpcap, [$"--file-prefix={app.FilePrefix}", "-i", "net_pcap0", "-c", "40", "-w", capture],
            TimeSpan.FromSeconds(90));
        string why = d.Describe($"{dumpcap} --file-prefix={app.FilePrefix} -i net_pcap0 -c 40 -w {capture}") + "\n" + huge.Log + "\n" + app.Output;
        Assert.True(d.ExitCode == 0, why);
        Assert.True(File.Exists(capture), why);

        var pkts = Tshark.Fields(capture, ["eth.dst", "ip.dst", "tcp.srcport", "tcp.dstport", "tcp.flags.syn"]);
        // -c N stops at the first burst that reaches N: at least N packets, at most a burst (32) more.
        Assert.True(pkts.Count is >= 40 and < 40 + 32, $"{pkts.Count} packets in the capture\n{why}");
        var ports = new HashSet<string> { "33001", "33002", "33003", "33004" };
        var backendMacs = Dsr.Backends.Select(b => b.Mac!).ToHashSet();
        foreach (var p in pkts)
        {
            Assert.Equal(Dsr4.Address, p["ip.dst"]);
            Assert.Equal("80", p["tcp.dstport"]);
            Assert.Contains(p["tcp.srcport"] ?? "(no tcp.srcport)", ports);
            Assert.True(p["tcp.flags.syn"] is "1" or "True", p["tcp.flags.syn"]);
            Assert.True(p["eth.dst"] == PortMac || backendMacs.Contains(p["eth.dst"]!), $"eth.dst {p["eth.dst"]}");
        }
        // Received frames (to the port's MAC) and transmitted ones (rewritten to a backend's MAC) are both captured.
        Assert.Contains(pkts, p => p["eth.dst"] == PortMac);
        Assert.Contains(pkts, p => backendMacs.Contains(p["eth.dst"]!));

        // With hugepages, the telemetry socket answers too.
        var t = TelemetryTool.Query(app.FilePrefix, "/switchyard/info", "/ethdev/list");
        Assert.True(L(t.Replies[0]!["rxPackets"]) > 0, t.Output);
        Assert.Equal(0, app.Stop());
    }
}
