using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Switchyard.Demo;

/// <summary>One appliance change and what it did.</summary>
/// <param name="RouteChangeMs">Event to the router's kernel route reflecting it (both VIPs).</param>
/// <param name="TrafficMovedMs">Event to every live stream having carried new, verified bytes after the route changed.</param>
/// <param name="Broken">Established connections that broke (stream state broken/corrupt) during the step.</param>
/// <param name="ActionMs">How long the event's own action took (starting an appliance: until its workers run).</param>
public sealed record ClusterEvent(string Name, double ActionMs, double RouteChangeMs, double TrafficMovedMs, int Broken, string Detail)
{
    /// <summary>New connections started between this event and the next that failed.</summary>
    public int FailedNew { get; init; }
    public long StartUnixMs { get; init; }
}

public sealed record ClusterResult(bool Ok, string? Failure, double ConvergenceMs, int Connections, int Broken,
    IReadOnlyList<ClusterEvent> Events, IReadOnlyDictionary<string, long> ApplianceRx, string StreamSummaries, string ArrivalsSummary)
{
    public string Summary()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"cluster result: {(Ok ? "OK" : "FAILED: " + Failure)}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  initial ECMP convergence (all appliances announced): {ConvergenceMs:F0} ms");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  frames received per appliance before the changes: {string.Join(", ", ApplianceRx.Select(kv => $"{kv.Key} {kv.Value}"))}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  long-lived connections: {Connections}, broken: {Broken}");
        sb.AppendLine("  event (times from the event)            action done   route change   traffic moved   broken  new conns failed");
        foreach (var e in Events)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {e.Name,-40} {e.ActionMs,8:F0} ms {e.RouteChangeMs,11:F0} ms {e.TrafficMovedMs,12:F0} ms   {e.Broken,6}   {e.FailedNew,6}   {e.Detail}");
        sb.AppendLine($"  streams: {StreamSummaries}");
        sb.AppendLine($"  new connections during the changes: {ArrivalsSummary}");
        return sb.ToString();
    }
}

/// <summary>
/// The cluster run shared by `switchyard demo --cluster` and the tests: ECMP over every appliance, long-lived TCP
/// (IPv4, IPv6) and MPTCP streams plus a steady arrival of new connections, then (with <c>full</c>) drain, undrain,
/// SIGTERM, restart (an appliance added), SIGKILL, restart, each measured. With a stable backend set Maglev sends a
/// moved flow to the same backend on every appliance, so no established connection may break.
/// </summary>
public static class ClusterScenario
{
    sealed class Stream(string name, Process p, string status)
    {
        public string Name = name; public Process P = p; public string StatusFile = status;
        public readonly StringBuilder Out = new();
    }

    public static ClusterResult Run(ClusterSpec spec, string peerDll, Action<string> log, bool full)
    {
        using var topo = ClusterTopology.Create(spec, log);
        return Run(topo, peerDll, log, full);
    }

    public static ClusterResult Run(ClusterTopology topo, string peerDll, Action<string> log, bool full)
    {
        var spec = topo.Spec;
        var events = new List<ClusterEvent>();
        var streams = new List<Stream>();
        Process? arrivals = null;
        var arrivalsOut = new StringBuilder();
        try
        {
            topo.StartServers(peerDll, mptcp: true);
            topo.ConfigureMptcp();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < spec.Appliances; i++) topo.StartAppliance(i);
            var all = Enumerable.Range(0, spec.Appliances).ToArray();
            WaitRoutes(topo, all, TimeSpan.FromSeconds(180), "every appliance announced");
            double convergence = sw.Elapsed.TotalMilliseconds;
            log($"router has ECMP over {spec.Appliances} appliance(s) for {ClusterTopology.VipV4} and {ClusterTopology.VipV6} after {convergence:F0} ms (appliances started in sequence)");
            for (int i = 0; i < spec.Appliances; i++)
                if (topo.TryExec(topo.RouterNs, ["ping", "-n", "-q", "-c", "1", "-W", "2", ClusterTopology.ApplianceV4(i).ToString()]).ExitCode != 0)
                    throw new InvalidOperationException($"appliance {i} does not answer ICMP echo on its data-plane address through the exception path");
            log("every appliance answers ping on its data-plane address (exception path)");

            streams.Add(StartStream(topo, peerDll, "tcp4", ClusterTopology.VipV4, 6, mptcp: false));
            streams.Add(StartStream(topo, peerDll, "tcp6", ClusterTopology.VipV6, 6, mptcp: false));
            streams.Add(StartStream(topo, peerDll, "mptcp4", ClusterTopology.VipV4, 4, mptcp: true));
            foreach (var s in streams) WaitReady(s);
            arrivals = StartArrivals(topo, peerDll, arrivalsOut);
            int connections = streams.Sum(s => Status(s).Count);
            log($"{connections} long-lived connections streaming (TCP over IPv4 and IPv6, MPTCP with 2 subflows), new connections arriving");
            // Traffic over every appliance before the counters are read: wait (bounded) until each one has received frames.
            var seenUntil = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < seenUntil && Enumerable.Range(0, spec.Appliances).Any(i => ApplianceCtl.RxPackets(topo.ControlSocket(i)) == 0))
                Thread.Sleep(50);
            var rx = new Dictionary<string, long>();
            for (int i = 0; i < spec.Appliances; i++) rx[$"a{i}"] = ApplianceCtl.RxPackets(topo.ControlSocket(i));
            log("frames per appliance: " + string.Join(", ", rx.Select(kv => $"{kv.Key} {kv.Value}")));

            if (full)
            {
                int d = 0, t = Math.Min(1, spec.Appliances - 1), k = Math.Min(2, spec.Appliances - 1);
                events.Add(Step(topo, streams, log, $"drain a{d} (ctl appliance drain)", all.Where(x => x != d).ToArray(),
                    () => ApplianceCtl.Result(topo.ControlSocket(d), "appliance", "drain")));
                events.Add(Step(topo, streams, log, $"undrain a{d}", all,
                    () => ApplianceCtl.Result(topo.ControlSocket(d), "appliance", "undrain")));
                events.Add(Step(topo, streams, log, $"SIGTERM a{t}", all.Where(x => x != t).ToArray(), () => topo.Appliance(t)!.Terminate()));
                if (!topo.Appliance(t)!.WaitForExit(TimeSpan.FromSeconds(30)) || topo.Appliance(t)!.ExitCode != 0)
                    throw new InvalidOperationException($"a{t} did not stop cleanly after SIGTERM (exit {topo.Appliance(t)!.ExitCode}):\n{topo.Appliance(t)!.StdErr}");
                events.Add(Step(topo, streams, log, $"add a{t} back (start)", all, () => topo.StartAppliance(t)));
                events.Add(Step(topo, streams, log, $"SIGKILL a{k}", all.Where(x => x != k).ToArray(), () => topo.KillAppliance(k)));
                events.Add(Step(topo, streams, log, $"add a{k} back (start)", all, () => topo.StartAppliance(k)));
            }

            StopArrivals(arrivals, arrivalsOut);
            var summaries = new List<string>();
            int broken = 0;
            foreach (var s in streams)
            {
                var final = Status(s);
                try { s.P.StandardInput.WriteLine("stop"); s.P.StandardInput.Flush(); } catch (IOException) { }
                if (!s.P.WaitForExit(30_000)) throw new TimeoutException($"stream {s.Name} did not finish");
                s.P.WaitForExit();
                final = Status(s);
                int bad = final.Count(c => c.State is not "closed");
                broken += bad;
                summaries.Add($"{s.Name}: {final.Count} connection(s), {final.Count(c => c.State == "closed")} ended cleanly, exit {s.P.ExitCode}" +
                    (bad > 0 ? " [" + string.Join("; ", final.Where(c => c.State != "closed").Select(c => $"#{c.Id} {c.State} {c.Error}")) + "]" : ""));
            }
            string arrivalsSummary = ArrivalsSummary(arrivalsOut.ToString(), out int arrivalsFailed);
            // Which step each failed new connection belongs to (by its start time).
            var failedStarts = FailedStarts(Path.Combine(topo.Dir, "arrivals.jsonl"));
            for (int e = 0; e < events.Count; e++)
            {
                long from = events[e].StartUnixMs, to = e + 1 < events.Count ? events[e + 1].StartUnixMs : long.MaxValue;
                events[e] = events[e] with { FailedNew = failedStarts.Count(t => t >= from && t < to) };
            }
            // Established connections must never break. New connections may fail only while a killed appliance is still
            // in the routers' ECMP set (until the BGP hold time runs out): SIGKILL gives no chance to withdraw.
            bool ok = broken == 0 && events.All(e => e.Broken == 0) && arrivalsFailed >= 0
                && events.Where(e => !e.Name.StartsWith("SIGKILL", StringComparison.Ordinal)).All(e => e.FailedNew == 0)
                && failedStarts.Count(t => events.Count == 0 || t < events[0].StartUnixMs) == 0;
            return new ClusterResult(ok, ok ? null : $"{broken} broken stream connection(s), {arrivalsFailed} failed new connection(s)",
                convergence, connections, broken, events, rx, string.Join("; ", summaries), arrivalsSummary);
        }
        finally
        {
            foreach (var s in streams) try { if (!s.P.HasExited) s.P.Kill(true); } catch (InvalidOperationException) { }
            try { if (arrivals is { HasExited: false }) arrivals.Kill(true); } catch (InvalidOperationException) { }
        }
    }

    /// <summary>What the katran-155 sequence did: connections older than the backend change that broke when ECMP moved them.</summary>
    public sealed record Katran155Result(int Connections, int BrokenAfterBackendChange, ClusterEvent Move, string StreamSummaries, string Counters)
    {
        /// <summary>Backend change to every appliance having swept its table twice and the peers holding the pins (-1: not waited for).</summary>
        public double PinsSharedMs { get; init; } = -1;
        public string Summary() =>
            $"katran-155 sequence: {Connections} long-lived TCP connections (IPv4 and IPv6), the last backend added (weight {Katran155Weight}) on every appliance, then a0 drained\n" +
            (PinsSharedMs >= 0 ? $"  pins shared with the peers {PinsSharedMs:F0} ms after the backend change\n" : "") +
            $"  broken by the backend change alone: {BrokenAfterBackendChange}\n" +
            $"  broken when ECMP moved a0's flows: {Move.Broken} (route change {Move.RouteChangeMs:F0} ms, traffic moved {Move.TrafficMovedMs:F0} ms) {Move.Detail}\n" +
            $"  streams: {StreamSummaries}\n  appliances: {Counters}";
    }

    /// <summary>Weight of the backend the katran-155 sequence adds (the others have 1): about half of the flow hashes
    /// change backend, so a moved flow re-steered afresh lands elsewhere with probability ~1/2.</summary>
    public const int Katran155Weight = 3;

    /// <summary>
    /// The katran-155 sequence (issue 12 item 4): every appliance starts with backends b0..b(N-2) (the topology has N);
    /// long-lived TCP streams over IPv4 and IPv6 are established; the last backend is added on every appliance (the
    /// backend set changes under established connections: each appliance keeps its own pins); then a0 is drained, so
    /// ECMP moves a0's flows to appliances that have never seen them. Without shared state those re-steer by the new
    /// Maglev table and the share that now maps to another backend breaks (the backend answers RST).
    /// <paramref name="edit"/> edits every appliance's configuration (e.g. turns flow-pin sharing on).
    /// </summary>
    public static Katran155Result RunKatran155(ClusterTopology topo, string peerDll, Action<string> log, int connectionsPerFamily,
        Action<int, JsonObject>? edit = null, bool waitForPinSharing = false)
    {
        var spec = topo.Spec;
        if (spec.Backends < 2 || spec.Appliances < 2) throw new ArgumentException("the katran-155 sequence needs 2+ backends and 2+ appliances");
        int added = spec.Backends - 1;
        var streams = new List<Stream>();
        try
        {
            topo.StartServers(peerDll, mptcp: false);
            for (int i = 0; i < spec.Appliances; i++)
                topo.StartAppliance(i, cfg =>
                {
                    var list = cfg["Pools"]![0]!["Backends"]!.AsArray();
                    list.RemoveAt(added);
                    edit?.Invoke(i, cfg);
                });
            var all = Enumerable.Range(0, spec.Appliances).ToArray();
            WaitRoutes(topo, all, TimeSpan.FromSeconds(180), "every appliance announced");
            streams.Add(StartStream(topo, peerDll, "tcp4", ClusterTopology.VipV4, connectionsPerFamily, mptcp: false));
            streams.Add(StartStream(topo, peerDll, "tcp6", ClusterTopology.VipV6, connectionsPerFamily, mptcp: false));
            foreach (var s in streams) WaitReady(s);
            int connections = streams.Sum(s => Status(s).Count);
            log($"{connections} long-lived TCP connections streaming over {spec.Appliances} appliances");
            WaitProgress(streams, "before the backend change");

            var changeWatch = Stopwatch.StartNew();
            var passesAfterChange = new long[spec.Appliances];
            for (int i = 0; i < spec.Appliances; i++)
            {
                ApplianceCtl.Result(topo.ControlSocket(i), "backend", "add", "web", $"b{added}", ClusterTopology.BackendV4(added).ToString(),
                    "mac", ClusterTopology.BackendMac(added), "weight", Katran155Weight.ToString(CultureInfo.InvariantCulture));
                // Counted from here, once this appliance's change has returned (the new snapshot published, its worker past
                // a quiescent point): every pass end after this one compared pins with the new Maglev table. Counted from
                // before the adds, a pass that the OLD table ended while the other appliances were read and changed (seconds
                // on a loaded host) was one of the two, and the start of the table had not been compared with the new table
                // (its differing pins not exported) when the wait ended and the drain raced the rest of the sweep.
                passesAfterChange[i] = Total(topo.ControlSocket(i), "pinSweepPasses");
            }
            log($"backend b{added} (weight {Katran155Weight}) added on every appliance");
            double pinsShared = -1;
            if (waitForPinSharing)
            {
                // Every appliance ends two passes against the new table: the pass in progress (the rest of the table) and
                // a whole one, so each differing pin has been exported at least once; then every peer has received what
                // its peers had sent by then.
                var until = DateTime.UtcNow.AddSeconds(120);
                while (all.Any(i => Total(topo.ControlSocket(i), "pinSweepPasses") < passesAfterChange[i] + 2))
                {
                    if (DateTime.UtcNow > until) throw new TimeoutException("the pin-sharing sweeps did not complete two passes within 120 s");
                    Thread.Sleep(50);
                }
                // Per receiver, not summed over the appliances: a sum is also met by other pins (the next passes' refreshes,
                // received by another appliance) while one peer still lacks a pin that a connection moving to it needs.
                var sent = all.Select(i => Pins(topo.ControlSocket(i), "sent")).ToArray();
                long sentInAll = sent.Sum();
                while (all.Any(j => Pins(topo.ControlSocket(j), "received") < sentInAll - sent[j]))
                {
                    if (DateTime.UtcNow > until)
                        throw new TimeoutException($"peers did not receive the pins sent ({string.Join(", ", all.Select(j => $"a{j} sent {sent[j]}, received {Pins(topo.ControlSocket(j), "received")} of {sentInAll - sent[j]}"))})");
                    Thread.Sleep(50);
                }
                pinsShared = changeWatch.Elapsed.TotalMilliseconds;
                log($"pins shared: {sentInAll} sent in all, every peer received its peers' {pinsShared:F0} ms after the backend change");
            }
            WaitProgress(streams, "after the backend change");
            int brokenAfterAdd = streams.Sum(s => Status(s).Count(c => c.State is "broken" or "corrupt"));

            var move = Step(topo, streams, log, "drain a0 (ctl appliance drain)", all.Where(x => x != 0).ToArray(),
                () => ApplianceCtl.Result(topo.ControlSocket(0), "appliance", "drain"));
            var counters = string.Join("; ", all.Select(i => $"a{i} " + PinCounters(topo.ControlSocket(i))));
            var summaries = new List<string>();
            foreach (var s in streams)
            {
                try { s.P.StandardInput.WriteLine("stop"); s.P.StandardInput.Flush(); } catch (IOException) { }
                if (!s.P.WaitForExit(30_000)) throw new TimeoutException($"stream {s.Name} did not finish");
                s.P.WaitForExit();
                var final = Status(s);
                summaries.Add($"{s.Name}: {final.Count} connection(s), {final.Count(c => c.State == "closed")} ended cleanly" +
                    (final.Any(c => c.State != "closed") ? " [" + string.Join("; ", final.Where(c => c.State != "closed").Select(c => $"#{c.Id} {c.State} {c.Error}")) + "]" : ""));
            }
            return new Katran155Result(connections, brokenAfterAdd, move, string.Join("; ", summaries), counters) { PinsSharedMs = pinsShared };
        }
        finally
        {
            foreach (var s in streams) try { if (!s.P.HasExited) s.P.Kill(true); } catch (InvalidOperationException) { }
        }
    }

    static long Total(string socket, string name) => ApplianceCtl.Result(socket, "counters")["totals"]?[name]?.GetValue<long>() ?? 0;

    static long Pins(string socket, string name) => ApplianceCtl.Result(socket, "cluster")["pins"]?[name]?.GetValue<long>() ?? 0;

    /// <summary>The flow-table and shared-pin counters of one appliance (totals of the counters JSON).</summary>
    static string PinCounters(string socket)
    {
        var t = ApplianceCtl.Result(socket, "counters")["totals"]?.AsObject();
        if (t is null) return "(no totals)";
        string pins = "";
        if (ApplianceCtl.Send(socket, "cluster") is { } cl && cl["ok"]?.GetValue<bool>() == true && cl["result"]?["pins"] is JsonObject p)
            pins = $", pins sent {p["sent"]} received {p["received"]} installed {p["installed"]} refreshed {p["refreshed"]} live {p["live"]}";
        return string.Join(", ", t.Where(kv => kv.Key.StartsWith("flow", StringComparison.Ordinal) || kv.Key.StartsWith("maglev", StringComparison.Ordinal)
            || kv.Key.StartsWith("pin", StringComparison.Ordinal) || kv.Key.StartsWith("sharedPin", StringComparison.Ordinal)).Select(kv => $"{kv.Key} {kv.Value}")) + pins;
    }

    /// <summary>Waits until every streaming connection has verified new bytes (the streams move data in this state).</summary>
    static void WaitProgress(List<Stream> streams, string what)
    {
        var at = streams.SelectMany(s => Status(s).Select(c => (Key: s.Name + "#" + c.Id, c.Verified))).ToDictionary(x => x.Key, x => x.Verified);
        var until = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var now = streams.SelectMany(s => Status(s).Select(c => (Key: s.Name + "#" + c.Id, c))).ToList();
            if (now.Where(x => x.c.State == "streaming").All(x => x.c.Verified > at.GetValueOrDefault(x.Key))) return;
            if (DateTime.UtcNow > until) throw new TimeoutException($"streams made no progress {what}");
            Thread.Sleep(20);
        }
    }

    static void WaitRoutes(ClusterTopology topo, int[] expected, TimeSpan timeout, string what)
    {
        var v4 = expected.Select(ClusterTopology.ApplianceV4).Select(a => a.ToString()).Order(StringComparer.Ordinal).ToList();
        var v6 = expected.Select(ClusterTopology.ApplianceV6).Select(a => a.ToString()).Order(StringComparer.Ordinal).ToList();
        topo.WaitForNextHops(ClusterTopology.VipV4, h => h.Select(a => a.ToString()).SequenceEqual(v4), timeout, what + " (IPv4)");
        topo.WaitForNextHops(ClusterTopology.VipV6, h => h.Select(a => a.ToString()).SequenceEqual(v6), timeout, what + " (IPv6)");
    }

    /// <summary>Runs one event; measures event -> route change (both VIPs) -> every live stream verified new bytes.</summary>
    static ClusterEvent Step(ClusterTopology topo, List<Stream> streams, Action<string> log, string name, int[] expected, Action action)
    {
        var before = streams.SelectMany(s => Status(s).Select(c => (s.Name, c))).ToList();
        int brokenBefore = before.Count(x => x.c.State is "broken" or "corrupt");
        long startUnix = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var sw = Stopwatch.StartNew();
        action();
        double actionMs = sw.Elapsed.TotalMilliseconds;
        WaitRoutes(topo, expected, TimeSpan.FromSeconds(120), name);
        double route = sw.Elapsed.TotalMilliseconds;
        var atRoute = streams.SelectMany(s => Status(s).Select(c => (Key: s.Name + "#" + c.Id, c.Verified))).ToDictionary(x => x.Key, x => x.Verified);
        double moved = -1;
        var until = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < until)
        {
            var now = streams.SelectMany(s => Status(s).Select(c => (Key: s.Name + "#" + c.Id, c))).ToList();
            if (now.Where(x => x.c.State == "streaming").All(x => x.c.Verified > atRoute.GetValueOrDefault(x.Key)))
            {
                moved = sw.Elapsed.TotalMilliseconds;
                break;
            }
            Thread.Sleep(10);
        }
        // Judge the step only after another round of traffic in the new layout: every connection still streaming has
        // verified more bytes again (a connection that breaks late, e.g. by a reset, is then seen), bounded by 30 s.
        var atMoved = streams.SelectMany(s => Status(s).Select(c => (Key: s.Name + "#" + c.Id, c.Verified))).ToDictionary(x => x.Key, x => x.Verified);
        var settleUntil = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < settleUntil
               && !streams.SelectMany(s => Status(s).Select(c => (Key: s.Name + "#" + c.Id, c))).Where(x => x.c.State == "streaming")
                   .All(x => x.c.Verified > atMoved.GetValueOrDefault(x.Key)))
            Thread.Sleep(50);
        var after = streams.SelectMany(s => Status(s).Select(c => (s.Name, c))).ToList();
        var broken = after.Where(x => x.c.State is "broken" or "corrupt").ToList();
        int newlyBroken = broken.Count - brokenBefore;
        string detail = moved < 0 ? "some stream made no progress within 60 s" : "";
        if (newlyBroken > 0) detail += string.Join("; ", broken.Select(x => $"{x.Name}#{x.c.Id} {x.c.State}: {x.c.Error}"));
        log($"{name}: action done after {actionMs:F0} ms, route changed after {route:F0} ms, traffic moved after {moved:F0} ms, {newlyBroken} connection(s) broken");
        log("router: " + string.Join(" | ", topo.Birdc("show", "protocols").Split('\n').Where(l => l.StartsWith('a')).Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries)))));
        return new ClusterEvent(name, actionMs, route, moved, Math.Max(newlyBroken, moved < 0 ? 1 : 0), detail) { StartUnixMs = startUnix };
    }

    sealed record Conn(long Id, string State, string? Error, long Verified);

    static List<Conn> Status(Stream s)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                var root = JsonDocument.Parse(File.ReadAllText(s.StatusFile)).RootElement;
                return root.GetProperty("connections").EnumerateArray().Select(c => new Conn(c.GetProperty("id").GetInt64(), c.GetProperty("state").GetString()!,
                    c.GetProperty("error").ValueKind == JsonValueKind.String ? c.GetProperty("error").GetString() : null, c.GetProperty("verified").GetInt64())).ToList();
            }
            catch (Exception e) when (attempt < 50 && e is IOException or JsonException or FileNotFoundException) { Thread.Sleep(20); }
        }
    }

    static Stream StartStream(ClusterTopology topo, string peerDll, string name, IPAddress vip, int n, bool mptcp)
    {
        var status = Path.Combine(topo.Dir, $"stream-{name}.json");
        var args = new List<string> { peerDll, "stream", "--target", vip.ToString(), "--port", topo.Spec.StreamPort.ToString(CultureInfo.InvariantCulture),
            "--connections", n.ToString(CultureInfo.InvariantCulture), "--chunk", "2048", "--interval-ms", "20", "--status", status, "--status-ms", "50",
            "--timeout-ms", "10000", "--finish-timeout-ms", "15000" };
        if (mptcp) args.AddRange(["--mptcp", "--expect-subflows", "2", "--subflow-wait-ms", "5000"]);
        var p = topo.Start(topo.ClientNs, ApplianceProcess.Dotnet, [.. args]);
        var s = new Stream(name, p, status);
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (s.Out) s.Out.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (s.Out) s.Out.AppendLine(e.Data); };
        p.BeginOutputReadLine(); p.BeginErrorReadLine();
        return s;
    }

    static void WaitReady(Stream s)
    {
        var until = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            lock (s.Out) if (s.Out.ToString().Contains("READY ", StringComparison.Ordinal)) return;
            if (s.P.HasExited) throw new InvalidOperationException($"stream {s.Name} exited before READY:\n{s.Out}");
            if (DateTime.UtcNow > until) throw new TimeoutException($"stream {s.Name} not READY:\n{s.Out}");
            Thread.Sleep(50);
        }
    }

    /// <summary>A steady arrival of short connections (IPv4, 20 KB each, 2 at a time, 50 ms apart).</summary>
    static Process StartArrivals(ClusterTopology topo, string peerDll, StringBuilder output)
    {
        var p = topo.Start(topo.ClientNs, ApplianceProcess.Dotnet, peerDll, "client", "--target", ClusterTopology.VipV4.ToString(),
            "--port", topo.Spec.ServicePort.ToString(CultureInfo.InvariantCulture), "--connections", "1000000", "--concurrency", "2",
            "--bytes", "20000", "--interval-ms", "50", "--timeout-ms", "10000", "--deadline-ms", "600000", "--stop-on-stdin", "--json",
            "--details", Path.Combine(topo.Dir, "arrivals.jsonl"));
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.BeginOutputReadLine(); p.BeginErrorReadLine();
        return p;
    }

    static void StopArrivals(Process p, StringBuilder output)
    {
        try { p.StandardInput.WriteLine("stop"); p.StandardInput.Flush(); } catch (IOException) { }
        if (!p.WaitForExit(30_000)) { p.Kill(true); lock (output) output.AppendLine("(killed: did not stop)"); }
        p.WaitForExit();
    }

    static List<long> FailedStarts(string details)
    {
        var list = new List<long>();
        if (!File.Exists(details)) return list;
        foreach (var line in File.ReadLines(details))
        {
            var j = JsonDocument.Parse(line).RootElement;
            if (!j.GetProperty("ok").GetBoolean()) list.Add(j.GetProperty("startUnixMs").GetInt64());
        }
        return list;
    }

    static string ArrivalsSummary(string output, out int failed)
    {
        failed = -1;
        var line = output.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (line is null) return "no summary: " + output;
        var j = JsonDocument.Parse(line).RootElement;
        failed = j.GetProperty("failed").GetInt32();
        int ok = j.GetProperty("succeeded").GetInt32();
        var backends = j.TryGetProperty("backends", out var b) ? string.Join(", ", b.EnumerateObject().Select(x => $"{x.Name} {x.Value}")) : "";
        return $"{ok} succeeded, {failed} failed ({backends})";
    }
}
