using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Management.Compile;
using Switchyard.Management.Host;
using Switchyard.Management.Observability;
using Switchyard.Tests.Config;
using static Switchyard.Management.Observability.PrometheusWriter;

namespace Switchyard.Tests.Observability;

public class PrometheusWriterTests
{
    [Fact]
    public void Label_values_escape_backslash_quote_and_newline_and_keep_other_text()
    {
        var w = new PrometheusWriter();
        w.Family("x_total", Kind.Counter, "help").Sample(1, ("v", "a\\b\"c\nd}e,f=g ü"));
        string text = w.ToString();
        Assert.Contains("x_total{v=\"a\\\\b\\\"c\\nd}e,f=g ü\"} 1\n", text);
        var page = PromText.Parse(text);
        Assert.Equal("a\\b\"c\nd}e,f=g ü", page.Samples.Single()["v"]);
    }

    [Fact]
    public void Help_escapes_backslash_and_newline_and_each_family_has_help_and_type_before_its_samples()
    {
        var w = new PrometheusWriter();
        w.Family("a_total", Kind.Counter, "line1\nline2 \\ \"q\"").Sample(3).Family("b", Kind.Gauge, "g").Sample(2.5, ("k", "v"));
        Assert.Equal("# HELP a_total line1\\nline2 \\\\ \"q\"\n# TYPE a_total counter\na_total 3\n# HELP b g\n# TYPE b gauge\nb{k=\"v\"} 2.5\n", w.ToString());
        var page = PromText.Parse(w.ToString());
        Assert.Equal("counter", page.Types["a_total"]);
        Assert.Equal("gauge", page.Types["b"]);
    }

    [Fact]
    public void Invalid_names_a_counter_without_total_and_a_family_written_twice_are_refused()
    {
        var w = new PrometheusWriter();
        Assert.Throws<ArgumentException>(() => w.Family("packets", Kind.Counter, "h"));
        Assert.Throws<ArgumentException>(() => w.Family("1x", Kind.Gauge, "h"));
        Assert.Throws<ArgumentException>(() => w.Family("a-b", Kind.Gauge, "h"));
        w.Family("ok", Kind.Gauge, "h");
        Assert.Throws<ArgumentException>(() => w.Sample(1, ("bad-label", "v")));
        Assert.Throws<ArgumentException>(() => w.Sample(1, ("__reserved", "v")));
        Assert.Throws<InvalidOperationException>(() => w.Family("ok", Kind.Gauge, "h"));
        Assert.Throws<InvalidOperationException>(() => new PrometheusWriter().Sample(1));
    }

    [Theory]
    [InlineData(0d, "0")]
    [InlineData(12345678901234d, "12345678901234")]
    [InlineData(-3d, "-3")]
    [InlineData(0.25d, "0.25")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    public void Values_are_written_as_prometheus_parses_them(double v, string text) => Assert.Equal(text, FormatValue(v));

    [Theory]
    [InlineData("RxPackets", "rx_packets")]
    [InlineData("Ipv4BadIhl", "ipv4_bad_ihl")]
    [InlineData("JoinsByEncryptedToken", "joins_by_encrypted_token")]
    [InlineData("MptcpMalformedOptions", "mptcp_malformed_options")]
    [InlineData("IcmpTooBigSent", "icmp_too_big_sent")]
    public void Snake_case_names(string pascal, string snake) => Assert.Equal(snake, Snake(pascal));
}

public class MetricsPageTests
{
    [Fact]
    public void Every_worker_counter_has_its_own_help_text()
    {
        var missing = Enum.GetValues<GlobalCounter>().Where(g => g != GlobalCounter.Count && !Metrics.Help.ContainsKey(g)).ToList();
        Assert.True(missing.Count == 0, "counters without HELP text in Metrics.Help: " + string.Join(", ", missing));
    }

    internal static (DataplaneSnapshot Snap, CountersReport.WorkerView[] Workers) Sample()
    {
        var snap = new SnapshotCompiler().Compile(ConfigFixtures.Load(ConfigFixtures.ValidJson).Options, ConfigFixtures.Macs);
        var a = new WorkerCounters(64, 64);
        var b = new WorkerCounters(64, 64);
        a.Add(GlobalCounter.RxPackets, 10); b.Add(GlobalCounter.RxPackets, 7);
        a.Add(GlobalCounter.Bursts, 3);
        a.Drop(DropReason.Ipv4BadChecksum); a.Drop(DropReason.Ipv4BadChecksum); b.Drop(DropReason.Ipv4BadChecksum);
        b.Drop(DropReason.NotForVip);
        a.Count(Outcome.Forwarded);
        a.AddVip(0, ServiceCounter.Packets, 5); b.AddVip(0, ServiceCounter.Packets, 6);
        a.AddVip(1, ServiceCounter.Bytes, 1000);
        int w2 = Array.FindIndex(snap.Backends, x => x.Name == "w2");
        a.AddBackend(w2, ServiceCounter.NewFlows, 4); b.AddBackend(w2, ServiceCounter.NewFlows, 1);
        a.Add(GlobalCounter.JoinsByLearnedToken, 2); b.Add(GlobalCounter.JoinsByLearnedToken, 3);
        return (snap, [new(1, a), new(2, b)]);
    }

    static ObservabilitySources Sources(DataplaneSnapshot snap, CountersReport.WorkerView[] workers,
        Func<IEnumerable<(string, string, string)>>? states = null) =>
        new(() => snap, workers,
            () => [new PortStatsView("outside", 11, 12, 13, 14, 15, 16, 17, 18), new PortStatsView("inside", 1, 2, 3, 4, 5, 6, 7, 8)],
            () => TimeSpan.FromSeconds(42.5), states);

    [Fact]
    public void Every_family_parses_strictly_and_values_match_the_counters()
    {
        var (snap, workers) = Sample();
        var page = PromText.Parse(Metrics.Render(Sources(snap, workers)));

        Assert.Equal(42.5, page.Value("switchyard_uptime_seconds"));
        Assert.Equal(snap.Generation, page.Value("switchyard_snapshot_generation"));
        Assert.Equal(2, page.Value("switchyard_workers"));
        Assert.Equal(10, page.Value("switchyard_worker_rx_packets_total", ("worker", "1")));
        Assert.Equal(7, page.Value("switchyard_worker_rx_packets_total", ("worker", "2")));
        Assert.Equal(3, page.Value("switchyard_worker_bursts_total", ("worker", "1")));
        Assert.Equal(3, page.Value("switchyard_drops_total", ("reason", "Ipv4BadChecksum")));
        Assert.Equal(1, page.Value("switchyard_drops_total", ("reason", "NotForVip")));
        Assert.Equal(2, page.Value("switchyard_worker_drops_total", ("worker", "1"), ("reason", "Ipv4BadChecksum")));
        Assert.Equal(1, page.Value("switchyard_worker_drops_total", ("worker", "2"), ("reason", "Ipv4BadChecksum")));
        Assert.Equal(2, page.Value("switchyard_worker_frames_total", ("worker", "1"), ("outcome", "dropped")));
        Assert.Equal(1, page.Value("switchyard_worker_frames_total", ("worker", "1"), ("outcome", "forwarded")));
        // Every drop reason appears, summed and per worker, under its counters-JSON name.
        Assert.Equal((int)DropReason.Count - 1, page.Family("switchyard_drops_total").Count());
        Assert.Equal(2 * ((int)DropReason.Count - 1), page.Family("switchyard_worker_drops_total").Count());
        Assert.Equal(5, page.Value("switchyard_mptcp_joins_by_learned_token_total"));
        Assert.Equal(0, page.Value("switchyard_mptcp_malformed_options_total"));

        Assert.Equal(11, page.Value("switchyard_vip_packets_total", ("vip", "http")));
        Assert.Equal(1000, page.Value("switchyard_vip_bytes_total", ("vip", "dns")));
        Assert.Equal(1, page.Value("switchyard_vip_info", ("vip", "http"), ("address", "192.0.2.100"), ("port", "80"), ("protocol", "tcp"), ("pool", "web")));
        Assert.Equal(5, page.Value("switchyard_backend_new_flows_total", ("backend", "w2")));
        Assert.Equal(2, page.Value("switchyard_backend_weight", ("backend", "w2")));
        Assert.Equal(0, page.Value("switchyard_backend_usable", ("backend", "w3")));   // Enabled: false
        Assert.Equal(1, page.Value("switchyard_backend_usable", ("backend", "w1")));
        Assert.Equal(snap.Backends.Count(b => b.Name is not null), page.Family("switchyard_backend_packets_total").Count());
        Assert.Equal(15, page.Value("switchyard_port_rx_missed_total", ("port", "outside")));
        Assert.Equal(8, page.Value("switchyard_port_rx_nombuf_total", ("port", "inside")));
        Assert.Empty(page.Family("switchyard_backend_state"));
        Assert.All(page.Types.Where(t => t.Value == "counter"), t => Assert.EndsWith("_total", t.Key));
    }

    [Fact]
    public void Backend_states_from_the_control_plane_are_exported_when_given()
    {
        var (snap, workers) = Sample();
        var page = PromText.Parse(Metrics.Render(Sources(snap, workers, () => [("web", "w1", "up"), ("web", "w3", "drain \"soon\"")])));
        Assert.Equal(1, page.Value("switchyard_backend_state", ("pool", "web"), ("backend", "w3"), ("state", "drain \"soon\"")));
        Assert.Equal(2, page.Family("switchyard_backend_state").Count());
    }

    [Fact]
    public void Health_check_state_and_counters_are_exported_when_given()
    {
        var (snap, workers) = Sample();
        Switchyard.Management.Health.BackendHealthStatus H(string backend, bool up, bool effective, long ok, long failed, long transitions) =>
            new("web", backend, "198.18.0.21:80", "tcp", up, effective, 0, 0, "", ok + failed, ok, failed, transitions, null);
        var sources = Sources(snap, workers) with
        {
            Health = () => [H("w1", up: true, effective: true, ok: 7, failed: 1, transitions: 0), H("w2", up: false, effective: true, ok: 2, failed: 5, transitions: 1)],
        };
        var page = PromText.Parse(Metrics.Render(sources));
        Assert.Equal(1, page.Value("switchyard_health_up", ("pool", "web"), ("backend", "w1"), ("type", "tcp")));
        Assert.Equal(0, page.Value("switchyard_health_up", ("pool", "web"), ("backend", "w2"), ("type", "tcp")));
        Assert.Equal(1, page.Value("switchyard_health_effective_up", ("pool", "web"), ("backend", "w2")));
        Assert.Equal(7, page.Value("switchyard_health_probes_total", ("pool", "web"), ("backend", "w1"), ("result", "success")));
        Assert.Equal(5, page.Value("switchyard_health_probes_total", ("pool", "web"), ("backend", "w2"), ("result", "failure")));
        Assert.Equal(1, page.Value("switchyard_health_transitions_total", ("pool", "web"), ("backend", "w2")));
        Assert.Empty(PromText.Parse(Metrics.Render(Sources(snap, workers))).Family("switchyard_health_up"));
    }

    [Fact]
    public void The_telemetry_document_has_a_section_per_command_with_the_counters_json_names()
    {
        var (snap, workers) = Sample();
        string doc = TelemetryDocument.Render(Sources(snap, workers));
        string[] lines = doc.Split('\n');
        int info = Array.IndexOf(lines, "@d /switchyard/info");
        Assert.True(info >= 0, doc);
        Assert.Contains("u rxPackets 17", lines);
        Assert.Contains("@d /switchyard/vip http", lines);
        Assert.Contains("@d /switchyard/worker 2", lines);
        Assert.Contains("@d /switchyard/drops 1", lines);
        int drops = Array.IndexOf(lines, "@d /switchyard/drops");
        Assert.Equal("u RuntFrame 0", lines[drops + 1]);
        Assert.Contains("u Ipv4BadChecksum 3", lines[drops..]);
        Assert.Contains("@n /switchyard/workers", lines);
        Assert.DoesNotContain(lines, l => l.Length > 0 && l[0] is not ('@' or 'u' or 's' or 'v'));
    }
}
