using Switchyard.Dataplane.Control;
using System.Net;
using System.Text;
using System.Text.Json;
using Switchyard.Demo;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Integration;
using Xunit.Abstractions;

namespace Switchyard.Tests.EndToEnd;

/// <summary>
/// Live changes under sustained load, end to end: one topology (one client with a second address, three backends and
/// a spare one, the appliance in L2 DSR on net_af_packet with a control socket and learned-token MPTCP steering),
/// long-lived streams to every backend (TCP over IPv4 and IPv6, MPTCP with two subflows; every byte echoed and
/// checked), a steady arrival of short connections, and then, through the real `switchyard ctl`: add a backend,
/// change weights, drain one, remove it, rotate a token key, reload an invalid file, reload a valid one.
/// After each step: every stream not on the removed backend is alive and its verified byte count moved on; no
/// drop counter a swap could cause moved (<see cref="SwapDropReasons"/>), nor a flow re-pinned; new connections
/// split by the new weights (binomial, 4 sigma) and none reach a draining or removed backend.
/// Needs root and an MPTCP kernel: without them this FAILS, never skips.
/// </summary>
[Trait("Category", "EndToEnd")]
// One appliance at a time: its worker busy-polls a pinned core, and the other end-to-end classes' appliances would
// share that core with it (measured: the MPTCP end-to-end tests then time out, and this one runs 50% longer).
[Collection(ApplianceCollection.Name)]
public sealed class LiveChangesUnderLoadTests(ITestOutputHelper output)
{
    const int TcpPort = 80, StreamPort = 81;
    const string Pool = "p";

    /// <summary>Drop reasons a configuration swap could cause, asserted unchanged across every step: a VIP missing
    /// for a moment (NotForVip; ARP/NDP for it unanswered: ArpNotForUs/NdpNotForUs are NOT in the list, since the
    /// bridge floods the clients' neighbour requests for the backends to the appliance all the time), a pool without
    /// a usable backend (NoBackend), a join whose learned token or backend was lost (JoinUnplaceable; with RSTs on,
    /// the joinReset outcome and joinsUnplaceable, checked separately), a flow whose pinned backend looked gone
    /// (BackendGone, checked on every step but the removal, where the "reset" policy may use it).</summary>
    static readonly string[] SwapDropReasons = ["NoBackend", "NotForVip", "JoinUnplaceable", "BackendGone"];

    /// <summary>Totals that must not move on any step but the removal: flows re-steered or reset because their backend
    /// looked gone, and joins that could not be placed.</summary>
    static readonly string[] SwapTotals = ["flowRepins", "flowResets", "joinsUnplaceable", "joinReset", "flowReset"];

    static readonly string Key0 = "000102030405060708090a0b0c0d0e0f", Key1 = "f0e0d0c0b0a090807060504030201000";

    readonly StringBuilder _log = new();
    void Log(string s) { lock (_log) _log.AppendLine(s); output.WriteLine(s); }

    [Fact]
    public void Live_changes_under_sustained_load_break_no_connection_but_the_removed_backends_and_drop_nothing()
    {
        Namespaces.RequireRoot();
        if (!File.Exists("/proc/sys/net/mptcp/enabled"))
            throw new InvalidOperationException("this test needs a kernel with MPTCP (/proc/sys/net/mptcp missing)");
        string prefix;
        var dir = Directory.CreateTempSubdirectory("sy-live-").FullName;
        try
        {
            using (var t = Topology.Create(new TopologySpec
            {
                Prefix = Namespaces.NewPrefix(), Clients = 1, Backends = 3, SpareBackends = 1, IPv6 = true,
                ClientSecondAddress = true, Mptcp = true,
            }))
            {
                prefix = t.Prefix;
                try { Scenario(t, dir); }
                catch (Exception e)
                {
                    output.WriteLine($"FAILED: {e.GetType().Name}: {e.Message}");
                    output.WriteLine("---- everything the scenario logged ----");
                    output.WriteLine(_log.ToString());
                    throw;
                }
            }
            Namespaces.AssertNoneWithPrefix(prefix);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    sealed record BackendSpec(string Name, Endpoint Host, int Weight);

    void Scenario(Topology t, string dir)
    {
        var client = t.Clients[0];
        var hosts = t.Backends.Concat(t.SpareBackends).ToList();
        t.ConfigureMptcpClient(client);
        foreach (var b in hosts) t.ConfigureMptcpBackend(b);
        for (int i = 0; i < hosts.Count; i++) StartServer(t, hosts[i].Namespace, $"b{i + 1}");

        var socket = Path.Combine(dir, "ctl.sock");
        var configPath = Path.Combine(dir, "appliance.json");
        var b1 = new BackendSpec("b1", hosts[0], 1);
        var b2 = new BackendSpec("b2", hosts[1], 1);
        var b3 = new BackendSpec("b3", hosts[2], 1);
        var b4 = new BackendSpec("b4", hosts[3], 1);
        File.WriteAllText(configPath, ConfigJson(t, socket, [b1, b2, b3]));
        using var appliance = ApplianceProcess.Start(t.ApplianceNamespace, configPath, [], line => Log("appliance: " + line));
        var ctl = new SwitchyardCtl(socket, Log);
        ctl.Check("list");

        // ---- load: long-lived streams to every backend, and a steady arrival of short connections ----
        var want3 = new Dictionary<string, int> { ["b1"] = 2, ["b2"] = 2, ["b3"] = 2 };
        string vip4 = t.VipV4.ToString(), vip6 = t.VipV6!.ToString();
        var streams = new List<StreamPeer>
        {
            StreamPeer.Start(t, "tcp4", client.Namespace, vip4, StreamPort, want3, dir),
            StreamPeer.Start(t, "tcp6", client.Namespace, vip6, StreamPort, want3, dir),
            StreamPeer.Start(t, "mptcp", client.Namespace, vip4, StreamPort, want3, dir, mptcp: true),
        };
        foreach (var s in streams) Log($"stream {s.Name} ready: {s.Ready}");
        var mp = streams[2].Status();
        Assert.True(mp.All(c => c.Fallback == false && c.Subflows == 2),
            "every MPTCP stream runs two established subflows (the join was placed on its backend):\n  " + string.Join("\n  ", mp));
        var arrivals = new[]
        {
            ArrivalsPeer.Start(t, "arr4", client.Namespace, vip4, TcpPort, dir, sourcePorts: "10000-19999"),
            ArrivalsPeer.Start(t, "arr6", client.Namespace, vip6, TcpPort, dir, sourcePorts: "20000-29999"),
        };

        var steps = new List<StepRecord>();
        var previous = new Checkpoint("start", DateTimeOffset.UtcNow, ctl.Counters(), AllStatus(streams));
        Thread.Sleep(1000);
        previous = CheckStep(ctl, streams, previous, "baseline", gone: [], steps, swapAllowed: false);

        // ---- 1. add a backend ----
        var t0 = DateTimeOffset.UtcNow;
        ctl.Check("backend", "add", Pool, "b4", b4.Host.V4!.ToString(), "mac", b4.Host.Mac, "weight", "1");
        previous = CheckStep(ctl, streams, previous, "add b4", gone: [], steps, swapAllowed: false);
        AssertSplit(t, ctl, "after add b4", new() { ["b1"] = 1, ["b2"] = 1, ["b3"] = 1, ["b4"] = 1 });
        var addedAt = t0;
        // b4 gets long-lived connections too, which later steps (and the reload) must keep.
        streams.Add(StreamPeer.Start(t, "tcp4-b4", client.Namespace, vip4, StreamPort, new Dictionary<string, int> { ["b4"] = 2 }, dir));
        previous = previous with { Streams = AllStatus(streams) };

        // ---- 2. change weights ----
        ctl.Check("backend", "set", Pool, "b2", "weight", "3");
        ctl.Check("backend", "set", Pool, "b3", "weight", "2");
        ctl.Check("backend", "set", Pool, "b4", "weight", "2");
        previous = CheckStep(ctl, streams, previous, "weights 1:3:2:2", gone: [], steps, swapAllowed: false);
        AssertSplit(t, ctl, "after weights 1:3:2:2", new() { ["b1"] = 1, ["b2"] = 3, ["b3"] = 2, ["b4"] = 2 });

        // ---- 3. drain b3: its streams keep going, new connections avoid it ----
        ctl.Check("backend", "drain", Pool, "b3");
        var drainedAt = DateTimeOffset.UtcNow;
        previous = CheckStep(ctl, streams, previous, "drain b3", gone: [], steps, swapAllowed: false);
        AssertSplit(t, ctl, "after drain b3", new() { ["b1"] = 1, ["b2"] = 3, ["b3"] = 0, ["b4"] = 2 });
        AssertMptcpJoinsPlaced(t, "after drain b3", ["b3"]);

        // ---- 4. remove b3: only its connections break, the way the pool's policy ("reset") says ----
        ctl.Check("backend", "del", Pool, "b3");
        var removedAt = DateTimeOffset.UtcNow;
        WaitForRemovedStreamsToBreak(streams, "b3", TimeSpan.FromSeconds(20));
        previous = CheckStep(ctl, streams, previous, "remove b3", gone: ["b3"], steps, swapAllowed: true);
        var removal = steps[^1];
        Assert.True(removal.TotalDelta("flowResets") > 0,
            $"the \"reset\" policy ended b3's flows (flowResets moved): {removal}");
        Assert.Equal(0, removal.TotalDelta("flowRepins")); // "reset" never re-steers a flow
        Assert.True(removal.TotalDelta("flowReset") > 0, $"the appliance answered b3's segments with RSTs: {removal}");
        AssertSplit(t, ctl, "after remove b3", new() { ["b1"] = 1, ["b2"] = 3, ["b4"] = 2 });

        // ---- 5. rotate a token key ----
        ctl.Check("keys", "rotate", "1", Key1);
        var keys = JsonDocument.Parse(ctl.Check("--json", "keys", "list").StdOut).RootElement.GetProperty("result").GetProperty("keyIds");
        Assert.Equal([0, 1], keys.EnumerateArray().Select(k => k.GetInt32()).ToArray());
        previous = CheckStep(ctl, streams, previous, "rotate key 1", gone: ["b3"], steps, swapAllowed: false);
        AssertMptcpJoinsPlaced(t, "after key rotation", ["b3"]);

        // ---- 6. reload an invalid file: refused with the JSON path, nothing changes ----
        long generation = previous.Counters.GetProperty("generation").GetInt64();
        File.WriteAllText(configPath, ConfigJson(t, socket, [b1 with { Weight = 70000 }, b2 with { Weight = 1 }, b4]));
        var bad = ctl.Run("reload");
        Assert.True(bad.ExitCode == 1, "an invalid file is refused with exit 1:\n" + bad.Describe("ctl reload"));
        Assert.Contains("Pools[0].Backends[0].Weight", bad.StdOut + bad.StdErr);
        previous = CheckStep(ctl, streams, previous, "reload invalid", gone: ["b3"], steps, swapAllowed: false);
        Assert.Equal(generation, previous.Counters.GetProperty("generation").GetInt64());
        AssertSplit(t, ctl, "after the refused reload", new() { ["b1"] = 1, ["b2"] = 3, ["b4"] = 2 });

        // ---- 7. reload a valid file: the new weights, b3 still absent, every stream kept ----
        File.WriteAllText(configPath, ConfigJson(t, socket, [b1 with { Weight = 2 }, b2 with { Weight = 1 }, b4 with { Weight = 1 }]));
        ctl.Check("reload");
        previous = CheckStep(ctl, streams, previous, "reload valid", gone: ["b3"], steps, swapAllowed: false);
        Assert.True(previous.Counters.GetProperty("generation").GetInt64() > generation, "a valid reload publishes a new snapshot");
        AssertSplit(t, ctl, "after the valid reload", new() { ["b1"] = 2, ["b2"] = 1, ["b4"] = 1 });
        AssertMptcpJoinsPlaced(t, "after the valid reload", ["b3"]);

        // ---- the end: every stream but b3's finishes cleanly with every byte echoed; every arrival succeeded ----
        var arrived = new List<ArrivalsPeer.Arrival>();
        foreach (var a in arrivals)
        {
            var (code, summary, list, text) = a.Stop(TimeSpan.FromSeconds(60));
            Log($"arrivals {a.Name}: exit {code}, {summary}");
            Assert.True(list.Count > 0, $"arrivals {a.Name} made connections:\n{text}");
            arrived.AddRange(list);
        }
        foreach (var s in streams)
        {
            var (code, summary, final) = s.Stop(TimeSpan.FromSeconds(60));
            Log($"stream {s.Name}: exit {code}, {summary}");
            foreach (var c in final) Log("  " + c);
            foreach (var c in final)
            {
                if (c.Backend == "b3")
                    // TCP: reset; MPTCP: no subflow left, so its finish never completes (see Ended).
                    Assert.True(c.State is "broken" && (c.Fallback is not null || ResetSeen(c)),
                        $"a stream on the removed backend ended by the reset policy: {c}");
                else
                    Assert.True(c.State == "closed" && c.Verified == c.Sent && c.Sent > 0,
                        $"a stream ended cleanly with every byte echoed and verified: {c}");
            }
        }
        var failed = arrived.Where(a => !a.Ok).ToList();
        Assert.True(failed.Count == 0, $"{failed.Count} of {arrived.Count} short connections failed:\n  " + string.Join("\n  ", failed.Take(20)));
        var toB3 = arrived.Where(a => a.Start > drainedAt && a.Backend == "b3").ToList();
        Assert.True(toB3.Count == 0, $"short connections reached b3 after the drain:\n  " + string.Join("\n  ", toB3.Take(20)));
        Assert.Contains(arrived, a => a.Start > addedAt && a.Backend == "b4");
        Log($"short connections: {arrived.Count}, all ok; per backend: " +
            string.Join(", ", arrived.GroupBy(a => a.Backend).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")) +
            $"; after the drain ({drainedAt:HH:mm:ss.fff}) none to b3, after the removal ({removedAt:HH:mm:ss.fff}) neither");

        Log("---- counters deltas per step (swap drop reasons and flow re-steering) ----");
        foreach (var s in steps) Log(s.ToString());
        var counters = appliance.Stop();
        CountersInvariants.AssertHold(counters);
        Log("---- ctl transcript ----\n" + ctl.Transcript);
    }

    // ---------------------------------------------------------------- steps

    sealed record Checkpoint(string Name, DateTimeOffset At, JsonElement Counters, IReadOnlyList<StreamPeer.Connection> Streams);

    /// <summary>One step's counter deltas (totals and drop reasons), for the assertions and the report.</summary>
    sealed record StepRecord(string Name, Dictionary<string, long> Totals, Dictionary<string, long> Drops, long GenerationBefore, long GenerationAfter)
    {
        public long TotalDelta(string name) => Totals.GetValueOrDefault(name);
        public override string ToString() =>
            $"{Name,-18} generation {GenerationBefore}->{GenerationAfter}; " +
            string.Join(", ", SwapTotals.Select(n => $"{n} +{Totals.GetValueOrDefault(n)}")) + "; drops " +
            string.Join(", ", Drops.Where(d => d.Value != 0 || SwapDropReasons.Contains(d.Key)).Select(d => $"{d.Key} +{d.Value}")) +
            $"; forwarded +{Totals.GetValueOrDefault("forwarded")}";
    }

    /// <summary>After a step: give the streams time to move (at least one second), then check every stream not on a
    /// gone backend is alive and verified more bytes than at the previous checkpoint, and that no swap counter moved.</summary>
    Checkpoint CheckStep(SwitchyardCtl ctl, List<StreamPeer> streams, Checkpoint before, string name, string[] gone,
        List<StepRecord> steps, bool swapAllowed)
    {
        Thread.Sleep(1000);
        var now = AllStatus(streams);
        var counters = ctl.Counters();
        var record = Delta(name, before.Counters, counters);
        steps.Add(record);
        Log($"step {record}");
        var was = before.Streams.ToDictionary(c => c.Key);
        var problems = new List<string>();
        foreach (var c in now)
        {
            if (gone.Contains(c.Backend)) continue;
            if (!c.Alive) { problems.Add($"not alive: {c}"); continue; }
            if (was.TryGetValue(c.Key, out var w) && c.Verified <= w.Verified)
                problems.Add($"no progress since '{before.Name}' ({w.Verified} bytes verified then): {c}");
            if (c.Fallback is not null && (c.Fallback == true || c.Subflows != 2))
                problems.Add($"MPTCP stream lost a subflow or fell back: {c}");
        }
        foreach (var reason in SwapDropReasons)
            if (record.Drops.GetValueOrDefault(reason) != 0 && !(swapAllowed && reason == "BackendGone"))
                problems.Add($"drop counter {reason} moved by {record.Drops[reason]} during '{name}'");
        if (!swapAllowed)
            foreach (var total in SwapTotals)
                if (record.TotalDelta(total) != 0) problems.Add($"{total} moved by {record.TotalDelta(total)} during '{name}'");
        if (problems.Count > 0)
            throw new Xunit.Sdk.XunitException($"step '{name}':\n  " + string.Join("\n  ", problems) +
                "\nall streams:\n  " + string.Join("\n  ", now) + "\nctl transcript:\n" + ctl.Transcript);
        return new Checkpoint(name, DateTimeOffset.UtcNow, counters, now);
    }

    static IReadOnlyList<StreamPeer.Connection> AllStatus(List<StreamPeer> streams) => streams.SelectMany(s => s.Status()).ToList();

    static StepRecord Delta(string name, JsonElement before, JsonElement after)
    {
        var totals = new Dictionary<string, long>();
        var drops = new Dictionary<string, long>();
        var tb = before.GetProperty("totals");
        foreach (var p in after.GetProperty("totals").EnumerateObject())
        {
            if (p.Name == "drops")
            {
                foreach (var d in p.Value.EnumerateObject())
                    drops[d.Name] = d.Value.GetInt64() - (tb.GetProperty("drops").TryGetProperty(d.Name, out var x) ? x.GetInt64() : 0);
                continue;
            }
            if (p.Value.ValueKind == JsonValueKind.Number)
                totals[p.Name] = p.Value.GetInt64() - (tb.TryGetProperty(p.Name, out var x) ? x.GetInt64() : 0);
        }
        return new StepRecord(name, totals, drops, before.GetProperty("generation").GetInt64(), after.GetProperty("generation").GetInt64());
    }

    /// <summary>A stream ended by the "reset" policy. TCP: the client's socket got the RST (ConnectionReset; or, when
    /// the sending task consumed the socket's error first, the receiving one sees the end of the stream). MPTCP:
    /// every subflow got one, so no subflow is left; Linux reports a subflow's error to an MPTCP socket only once it
    /// fell back to TCP, so the MPTCP socket itself stays open, with no path, until the application gives up (the
    /// appliance sends no MP_FASTCLOSE: it does not keep the client's key).</summary>
    static bool Ended(StreamPeer.Connection c) =>
        c.Fallback is null ? ResetSeen(c) : !c.Alive || c.Subflows == 0;

    static bool ResetSeen(StreamPeer.Connection c) =>
        c.State == "broken" && c.Error is { } e && (e.Contains("ConnectionReset") || e.StartsWith("receive: end of stream", StringComparison.Ordinal));

    void WaitForRemovedStreamsToBreak(List<StreamPeer> streams, string backend, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            var on = AllStatus(streams).Where(c => c.Backend == backend).ToList();
            Assert.NotEmpty(on);
            if (on.All(Ended))
            {
                Log($"streams on removed {backend}:\n  " + string.Join("\n  ", on));
                return;
            }
            if (DateTime.UtcNow > until)
                throw new Xunit.Sdk.XunitException($"streams on the removed backend {backend} still alive after {timeout.TotalSeconds}s " +
                    "(the \"reset\" policy should have ended them):\n  " + string.Join("\n  ", on));
            Thread.Sleep(200);
        }
    }

    // ---------------------------------------------------------------- new connections

    /// <summary>
    /// New connections split by the weights: 160 over IPv4 and 160 over IPv6 at once; a backend with weight 0 (or
    /// absent, i.e. drained or removed) must get none. Tolerance: a connection lands on backend i with probability
    /// p_i = w_i / sum(w) (the flow hash spreads 5-tuples uniformly over the Maglev table), so its count is binomial;
    /// 4 standard deviations (a false alarm about once in 16,000 per backend and step), plus 1% of N for the Maglev
    /// table itself, whose weighted fill gives each backend its share only to within a fraction of a percent.
    /// </summary>
    void AssertSplit(Topology t, SwitchyardCtl ctl, string when, Dictionary<string, int> weights)
    {
        const int PerFamily = 160;
        var before = ctl.Counters();
        string ports = NextSourcePorts(PerFamily);
        var v4 = Task.Run(() => RunShort(t.Clients[0].Namespace, "v4", t.VipV4.ToString(), PerFamily, ports));
        var v6 = Task.Run(() => RunShort(t.Clients[0].Namespace, "v6", t.VipV6!.ToString(), PerFamily, ports));
        var runs = new[] { v4.Result, v6.Result };
        var after = ctl.Counters();
        foreach (var r in runs)
            Assert.True(r.Result.ExitCode == 0 && r.Conns.Count == PerFamily && r.Conns.All(c => c.Ok),
                $"{when}: every new connection succeeds\n{r.Result.Describe("client")}");
        var conns = runs.SelectMany(r => r.Conns).ToList();
        var seen = conns.GroupBy(c => c.Backend!).ToDictionary(g => g.Key, g => g.Count());
        int n = conns.Count;
        double sum = weights.Values.Sum();
        var lines = new List<string>();
        var problems = new List<string>();
        var newFlows = BackendDeltas(before, after, "newFlows");
        foreach (var name in weights.Keys.Union(seen.Keys).Order())
        {
            int w = weights.GetValueOrDefault(name);
            int got = seen.GetValueOrDefault(name);
            double p = w / sum, expect = n * p, tol = 4 * Math.Sqrt(n * p * (1 - p)) + 0.01 * n;
            lines.Add($"{name}: weight {w}, {got} of {n} (expected {expect:F1} +- {tol:F1}; appliance newFlows +{newFlows.GetValueOrDefault(name)})");
            if (w == 0 ? got != 0 : Math.Abs(got - expect) > tol) problems.Add(lines[^1]);
        }
        Log($"split {when}: " + string.Join("; ", lines));
        if (problems.Count > 0)
        {
            // Where did the connections to an excluded backend come from: an earlier connection's 5-tuple still pinned?
            var excluded = weights.Where(kv => kv.Value == 0).Select(kv => kv.Key).ToHashSet();
            var bad = conns.Where(c => excluded.Contains(c.Backend!) || !weights.ContainsKey(c.Backend!)).ToList();
            var earlier = _shortConns.Where(c => c.Local is not null).GroupBy(c => c.Local!).ToDictionary(g => g.Key, g => g.ToList());
            var why = bad.Select(c => $"{c}; same local endpoint earlier: " +
                (c.Local is not null && earlier.TryGetValue(c.Local, out var prev) ? string.Join(" | ", prev) : "none seen"));
            var d = Delta(when, before, after);
            throw new Xunit.Sdk.XunitException($"{when}: new connections do not follow the weights:\n  " + string.Join("\n  ", problems) +
                "\nall: " + string.Join("; ", lines) + $"\nduring the batch: flowHits +{d.TotalDelta("flowHits")}, flowInserts +{d.TotalDelta("flowInserts")}, " +
                $"flowEvictions +{d.TotalDelta("flowEvictions")}\nconnections on an excluded backend:\n  " + string.Join("\n  ", why));
        }
        _shortConns.AddRange(conns);
    }

    readonly List<ArrivalsPeer.Arrival> _shortConns = new();

    /// <summary>`switchyard-peer client` to completion with --details (each connection's local endpoint and backend).</summary>
    /// <summary>
    /// Source ports for the next batch of new connections, never used before in this run (arrivals use 10000-29999,
    /// batches 1100-9999, the kernel's ephemeral range starts at 32768), so each batch's split is measured on fresh
    /// 5-tuples. A SYN that reuses the 5-tuple of a closed connection whose entry is still live (the kernel reuses
    /// ports after TIME_WAIT, long before the 300 s idle timeout) is steered as a new connection: that is covered
    /// where the timing can be controlled, in ControlPlaneTests (A_new_syn_on_a_reused_five_tuple_...).
    /// </summary>
    string NextSourcePorts(int n)
    {
        int from = _nextSourcePort;
        _nextSourcePort += n;
        Assert.True(_nextSourcePort <= 10000, "the test ran out of source ports for its batches");
        return $"{from}-{from + n - 1}";
    }

    int _nextSourcePort = 1100;

    static (ProcessResult Result, List<ArrivalsPeer.Arrival> Conns) RunShort(string ns, string name, string target, int n, string sourcePorts)
    {
        var details = Path.Combine(Path.GetTempPath(), $"sy-live-{Guid.NewGuid():N}.jsonl");
        try
        {
            var r = ProcessRunner.Run("ip", ["netns", "exec", ns, PeerProcess.Dotnet, PeerProcess.DllPath, "client", "--target", target,
                "--port", TcpPort.ToString(), "--connections", n.ToString(), "--concurrency", "16", "--bytes", "4096",
                "--timeout-ms", "10000", "--deadline-ms", "60000", "--json", "--details", details, "--source-ports", sourcePorts],
                TimeSpan.FromSeconds(90));
            var conns = File.Exists(details) ? File.ReadLines(details).Where(l => l.StartsWith('{')).Select(l => ArrivalsPeer.Parse(name, l)).ToList() : [];
            return (r, conns);
        }
        finally { File.Delete(details); }
    }

    static Dictionary<string, long> BackendDeltas(JsonElement before, JsonElement after, string field)
    {
        var b = before.GetProperty("backends").EnumerateArray().ToDictionary(x => x.GetProperty("name").GetString()!, x => x.GetProperty(field).GetInt64());
        return after.GetProperty("backends").EnumerateArray().ToDictionary(x => x.GetProperty("name").GetString()!,
            x => x.GetProperty(field).GetInt64() - b.GetValueOrDefault(x.GetProperty("name").GetString()!));
    }

    /// <summary>A short burst of new MPTCP connections: every one gets its join placed on its own backend (two
    /// subflows), none on an excluded backend.</summary>
    void AssertMptcpJoinsPlaced(Topology t, string when, string[] excluded)
    {
        const int N = 20;
        var r = MptcpPeer.RunClient(t.Clients[0].Namespace, t.VipV4.ToString(), TcpPort, N, 10, 64 * 1024, subflowWaitMs: 5000,
            sourcePorts: NextSourcePorts(N));
        Log($"mptcp {when}: {r.Summary}");
        Assert.True(r.Process.ExitCode == 0 && r.Succeeded == N, $"{when}: every new MPTCP connection succeeds\n{r}");
        Assert.Equal(new Dictionary<int, int> { [2] = N }, r.SubflowsHistogram);
        foreach (var x in excluded) Assert.False(r.Backends.ContainsKey(x), $"{when}: a new MPTCP connection reached {x}");
    }

    // ---------------------------------------------------------------- set-up

    /// <summary>One MPTCP server per backend (plain TCP clients fall back to TCP on it): the ordinary protocol on
    /// port 80 and the echo streams on port 81, IPv4 and IPv6.</summary>
    static void StartServer(Topology t, string ns, string id)
    {
        var bp = new BackgroundProcess(t.StartProcess(ns, PeerProcess.Dotnet, PeerProcess.DllPath, "server", "--mptcp",
            "--port", TcpPort.ToString(), "--stream-port", StreamPort.ToString(), "--id", id, "--listen", "0.0.0.0", "--listen", "::"));
        var until = DateTime.UtcNow.AddSeconds(30);
        while (bp.StdOut.Split('\n').Count(l => l.StartsWith("READY")) < 4)
        {
            if (bp.Process.HasExited) throw new InvalidOperationException($"server {id} in {ns} exited ({bp.Process.ExitCode}):\n{bp.StdErr}");
            if (DateTime.UtcNow > until) throw new TimeoutException($"server {id} in {ns} not ready:\n{bp.StdOut}\n{bp.StdErr}");
            Thread.Sleep(50);
        }
    }

    /// <summary>The appliance's configuration: one L2 DSR pool whose removed flows are reset, VIPs on 80 and 81 over
    /// IPv4 and IPv6 with learned-token join steering, a token key (for the rotation step), the control socket,
    /// and no file watch (every reload in this test is an explicit `ctl reload`).</summary>
    static string ConfigJson(Topology t, string socket, IReadOnlyList<BackendSpec> backends)
    {
        string[] joins = ["learned-token"];
        var vips = new List<object>();
        foreach (var (fam, addr) in new[] { ("v4", t.VipV4), ("v6", t.VipV6!) })
        {
            vips.Add(new { Name = $"tcp-{fam}", Address = addr.ToString(), Port = TcpPort, Protocol = "tcp", Pool, Joins = joins });
            vips.Add(new { Name = $"stream-{fam}", Address = addr.ToString(), Port = StreamPort, Protocol = "tcp", Pool, Joins = joins });
        }
        var config = new
        {
            Eal = EndToEndConfig.Eal(t),
            Ports = EndToEndConfig.LanPort(t),
            Workers = EndToEndConfig.OneWorker(),
            Pools = new[]
            {
                new
                {
                    Name = Pool, Forwarding = "l2dsr", RemovedFlows = "reset",
                    Backends = backends.Select(b => new { b.Name, Address = b.Host.V4!.ToString(), b.Host.Mac, b.Weight }).ToArray(),
                },
            },
            Vips = vips,
            Mptcp = new { TokenKeys = new[] { new { Id = 0, Key = Key0 } } },
            Dataplane = new { FlowTableEntries = 65536 },
            Control = new { Socket = socket, WatchConfigFile = false },
        };
        return JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true });
    }
}
