using System.Globalization;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Management.Host;
using static Switchyard.Management.Observability.PrometheusWriter;

namespace Switchyard.Management.Observability;

/// <summary>
/// The /metrics page: every counter of the counters JSON (<see cref="CountersReport"/>) as Prometheus
/// families. Per-worker families carry a worker="CORE" label; sum them in PromQL for totals. Drops
/// are given twice, in two families so that sum() never double-counts: switchyard_drops_total{reason}
/// (summed over workers) and switchyard_worker_drops_total{worker,reason}. The names and labels are
/// documented in docs/observability.md; the values match the counters JSON read at the same time.
/// </summary>
public static class Metrics
{
    public static readonly string Version = typeof(Metrics).Assembly.GetName().Version?.ToString() ?? "0";

    /// <summary>The per-worker global counters exported as switchyard_worker_*; the MPTCP ones are exported
    /// summed as switchyard_mptcp_*.</summary>
    static bool IsMptcp(GlobalCounter g) => g >= GlobalCounter.MptcpMalformedOptions && !IsQuic(g);
    /// <summary>QUIC-LB counters, exported per worker as switchyard_quic_*.</summary>
    static bool IsQuic(GlobalCounter g) => g >= GlobalCounter.QuicRoutedByCid;

    public static string MetricName(GlobalCounter g)
    {
        string s = Snake(g.ToString());
        if (IsQuic(g)) return "switchyard_quic_" + (s.StartsWith("quic_", StringComparison.Ordinal) ? s[5..] : s) + "_total";
        return IsMptcp(g) ? "switchyard_mptcp_" + (s.StartsWith("mptcp_", StringComparison.Ordinal) ? s[6..] : s) + "_total"
                          : "switchyard_worker_" + s + "_total";
    }

    /// <summary>HELP text of a counter; a counter added later without one still renders (named after itself),
    /// and a test requires every counter to have its own.</summary>
    internal static string HelpOf(GlobalCounter g) => Help.TryGetValue(g, out var h) ? h : $"Worker counter {g}.";

    internal static readonly Dictionary<GlobalCounter, string> Help = new()
    {
        [GlobalCounter.RxPackets] = "Frames received by the worker.",
        [GlobalCounter.RxBytes] = "Bytes received by the worker.",
        [GlobalCounter.TxPackets] = "Frames the worker handed to the NIC and the NIC accepted.",
        [GlobalCounter.TxBytes] = "Bytes the worker transmitted.",
        [GlobalCounter.FlowHits] = "Packets steered by an existing flow-table entry.",
        [GlobalCounter.FlowInserts] = "New flow-table entries.",
        [GlobalCounter.FlowEvictions] = "Live flow-table entries replaced because their bucket was full.",
        [GlobalCounter.FlowRepins] = "Pinned flows steered again because their backend was no longer usable.",
        [GlobalCounter.FlowResets] = "Flows pinned to a gone backend ended by the pool's reset policy (RST or drop).",
        [GlobalCounter.MaglevSteered] = "Packets steered by the Maglev table without a flow entry.",
        [GlobalCounter.IcmpErrorsRouted] = "ICMP packet-too-big errors sent to the backend of the quoted flow.",
        [GlobalCounter.FragmentsHashed] = "Fragments steered by their 3-tuple.",
        [GlobalCounter.Bursts] = "Non-empty receive bursts processed.",
        [GlobalCounter.MptcpMalformedOptions] = "Segments with malformed MPTCP options (forwarded as plain TCP).",
        [GlobalCounter.JoinsSeen] = "MP_JOIN SYNs not already pinned.",
        [GlobalCounter.JoinsByEncryptedToken] = "MP_JOIN SYNs placed by the encrypted token.",
        [GlobalCounter.JoinsByLearnedToken] = "MP_JOIN SYNs placed by a learned token.",
        [GlobalCounter.JoinsByAnnouncedPort] = "MP_JOIN SYNs placed by the announced port.",
        [GlobalCounter.JoinsUnplaceable] = "MP_JOIN SYNs no mode could place.",
        [GlobalCounter.JoinsWithCollidedToken] = "Unplaceable MP_JOIN SYNs whose token was learned for two backends.",
        [GlobalCounter.TokensLearned] = "MPTCP tokens learned.",
        [GlobalCounter.TokenCollisions] = "Tokens learned for a second backend (poisoned until they expire).",
        [GlobalCounter.TokensForgotten] = "Learned tokens forgotten on FIN/RST/MP_FASTCLOSE of the initial subflow.",
        [GlobalCounter.TokenTableFull] = "Tokens not learned because the table was full.",
        [GlobalCounter.FromKernel] = "Frames the kernel sent through the exception path, transmitted by this worker.",
        [GlobalCounter.FloodGuardUnpinned] = "New flows above Dataplane.FloodGuardNewFlowsPerSecond, steered by Maglev without a flow-table entry.",
        [GlobalCounter.IdleSleeps] = "Idle back-off sleeps (Dataplane.IdleBackoffMicroseconds).",
        [GlobalCounter.QuicRoutedByCid] = "QUIC packets routed by their decoded QUIC-LB server id.",
        [GlobalCounter.QuicRepinned] = "QUIC packets routed by server id whose 4-tuple was pinned to another backend (migrations); the pin moved.",
        [GlobalCounter.QuicClientInitial] = "QUIC Initial/0-RTT packets (client-chosen DCID) steered by 4-tuple and Maglev.",
        [GlobalCounter.QuicServerOnlyPacket] = "QUIC Version Negotiation/Retry packets arriving at a VIP, steered by 4-tuple.",
        [GlobalCounter.QuicUnknownVersion] = "QUIC long headers of an unknown version, steered by 4-tuple.",
        [GlobalCounter.QuicUnroutableCid] = "QUIC CIDs marked unroutable (config rotation bits 0b111), steered by 4-tuple.",
        [GlobalCounter.QuicUnknownConfig] = "QUIC CIDs whose config rotation codepoint has no configuration, steered by 4-tuple.",
        [GlobalCounter.QuicCidTooShort] = "QUIC long-header DCIDs shorter than their configuration's CID length, steered by 4-tuple.",
        [GlobalCounter.QuicUnknownServerId] = "QUIC CIDs that decoded to a server id no usable backend has, steered by 4-tuple.",
        [GlobalCounter.QuicCidLengthMismatch] = "QUIC CIDs whose self-encoded length (config SelfEncodedLength) disagrees with the DCID's length, steered by 4-tuple.",
        [GlobalCounter.PinsExported] = "Flow pins the sweep found differing from the current Maglev pick, queued for the cluster's other appliances.",
        [GlobalCounter.PinExportOverflows] = "Flow pins not queued for the cluster because the export queue was full (the next sweep pass retries).",
        [GlobalCounter.PinSweepPasses] = "Full passes of the pin-sharing sweep over the flow table.",
        [GlobalCounter.SharedPinHits] = "Packets missing the flow table that a pin shared by another appliance placed (then pinned here).",
        [GlobalCounter.HandshakePinsRefused] = "SYNs and MP_JOIN SYNs steered but not pinned: their flow-table bucket held four live entries that all outlive a handshake pin (Pools[].HandshakeTimeoutSeconds).",
    };

    static string Protocol(byte p) => p switch { 6 => "tcp", 17 => "udp", 0 => "any", _ => p.ToString(CultureInfo.InvariantCulture) };

    public static string Render(ObservabilitySources src)
    {
        var snap = src.Snapshot();
        var workers = src.Workers;
        var ports = src.Ports();
        var w = new PrometheusWriter();
        string Core(CountersReport.WorkerView v) => v.Core.ToString(CultureInfo.InvariantCulture);

        w.Family("switchyard_build_info", Kind.Gauge, "Always 1; the version label is the appliance's.").Sample(1, ("version", Version));
        w.Family("switchyard_uptime_seconds", Kind.Gauge, "Seconds since the appliance started.").Sample(Math.Round(src.Uptime().TotalSeconds, 3));
        w.Family("switchyard_snapshot_generation", Kind.Gauge, "Generation of the configuration snapshot the workers use.").Sample(snap.Generation);
        w.Family("switchyard_workers", Kind.Gauge, "Number of worker threads.").Sample(workers.Count);

        // ---- per worker
        for (var g = (GlobalCounter)0; g < GlobalCounter.Count; g++)
        {
            if (IsMptcp(g)) continue;
            w.Family(MetricName(g), Kind.Counter, HelpOf(g));
            foreach (var v in workers) w.Sample(v.Counters.Get(g), ("worker", Core(v)));
        }
        w.Family("switchyard_worker_frames_total", Kind.Counter, "Received frames by outcome (forwarded, answered or dropped).");
        foreach (var v in workers)
            foreach (var o in Enum.GetValues<Outcome>())
                w.Sample(v.Counters.Get(o), ("worker", Core(v)), ("outcome", Snake(o.ToString())));
        w.Family("switchyard_worker_drops_total", Kind.Counter, "Frames dropped (or refused by the NIC), by worker and reason.");
        foreach (var v in workers)
            for (var r = (DropReason)1; r < DropReason.Count; r++)
                w.Sample(v.Counters.Get(r), ("worker", Core(v)), ("reason", r.ToString()));

        // ---- drops summed over workers
        w.Family("switchyard_drops_total", Kind.Counter, "Frames dropped (or refused by the NIC), by reason, summed over workers.");
        for (var r = (DropReason)1; r < DropReason.Count; r++)
            w.Sample(workers.Sum(v => v.Counters.Get(r)), ("reason", r.ToString()));

        // ---- MPTCP, summed over workers
        for (var g = (GlobalCounter)0; g < GlobalCounter.Count; g++)
        {
            if (!IsMptcp(g)) continue;
            w.Family(MetricName(g), Kind.Counter, HelpOf(g) + " Summed over workers.").Sample(workers.Sum(v => v.Counters.Get(g)));
        }

        // ---- VIPs
        w.Family("switchyard_vip_info", Kind.Gauge, "One sample per VIP: its address, port, protocol and pool.");
        foreach (var vip in snap.Vips)
            w.Sample(1, ("vip", vip.Name), ("address", vip.Address.ToString()), ("port", vip.Port.ToString(CultureInfo.InvariantCulture)),
                ("protocol", Protocol(vip.Protocol)), ("pool", snap.Pools[vip.Pool].Name));
        ServiceFamily(w, "switchyard_vip_packets_total", "Packets forwarded for the VIP.", ServiceCounter.Packets, snap, workers, vip: true);
        ServiceFamily(w, "switchyard_vip_bytes_total", "Bytes forwarded for the VIP.", ServiceCounter.Bytes, snap, workers, vip: true);
        ServiceFamily(w, "switchyard_vip_new_flows_total", "New flows to the VIP.", ServiceCounter.NewFlows, snap, workers, vip: true);

        // ---- backends
        ServiceFamily(w, "switchyard_backend_packets_total", "Packets forwarded to the backend.", ServiceCounter.Packets, snap, workers, vip: false);
        ServiceFamily(w, "switchyard_backend_bytes_total", "Bytes forwarded to the backend.", ServiceCounter.Bytes, snap, workers, vip: false);
        ServiceFamily(w, "switchyard_backend_new_flows_total", "New flows steered to the backend.", ServiceCounter.NewFlows, snap, workers, vip: false);
        w.Family("switchyard_backend_weight", Kind.Gauge, "The backend's weight in its pool's Maglev table.");
        ForEachBackend(snap, (id, b) => w.Sample(b.Weight, BackendLabels(id, b)));
        w.Family("switchyard_backend_usable", Kind.Gauge, "1 when pinned flows and joins may go to the backend (active or draining), 0 when it is down, disabled or removed.");
        ForEachBackend(snap, (id, b) => w.Sample(b.Usable ? 1 : 0, BackendLabels(id, b)));
        if (src.BackendStates is { } states)
        {
            w.Family("switchyard_backend_state", Kind.Gauge, "1 for each backend's current administrative/health state.");
            foreach (var (pool, backend, state) in states()) w.Sample(1, ("pool", pool), ("backend", backend), ("state", state));
        }

        // ---- health checks
        if (src.Health is { } health)
        {
            var checks = health();
            w.Family("switchyard_health_up", Kind.Gauge, "1 when the backend's health checks say up (after rise/fall), else 0.");
            foreach (var h in checks) w.Sample(h.Up ? 1 : 0, ("pool", h.Pool), ("backend", h.Backend), ("type", h.Type));
            w.Family("switchyard_health_effective_up", Kind.Gauge, "1 when routing treats the backend as up (health, or the pool failing open).");
            foreach (var h in checks) w.Sample(h.EffectiveUp ? 1 : 0, ("pool", h.Pool), ("backend", h.Backend));
            w.Family("switchyard_health_probes_total", Kind.Counter, "Health probes sent, by result.");
            foreach (var h in checks)
            {
                w.Sample(h.ProbesSucceeded, ("pool", h.Pool), ("backend", h.Backend), ("result", "success"));
                w.Sample(h.ProbesFailed, ("pool", h.Pool), ("backend", h.Backend), ("result", "failure"));
            }
            w.Family("switchyard_health_transitions_total", Kind.Counter, "Up/down transitions of the backend's health.");
            foreach (var h in checks) w.Sample(h.Transitions, ("pool", h.Pool), ("backend", h.Backend));
        }

        // ---- ports
        PortFamily(w, ports, "rx_packets", "Frames received by the port (DPDK ipackets).", p => p.RxPackets);
        PortFamily(w, ports, "tx_packets", "Frames transmitted by the port (DPDK opackets).", p => p.TxPackets);
        PortFamily(w, ports, "rx_bytes", "Bytes received by the port.", p => p.RxBytes);
        PortFamily(w, ports, "tx_bytes", "Bytes transmitted by the port.", p => p.TxBytes);
        PortFamily(w, ports, "rx_missed", "Frames the NIC dropped because the receive ring was full (DPDK imissed).", p => p.RxMissed);
        PortFamily(w, ports, "rx_errors", "Erroneous frames received (DPDK ierrors).", p => p.RxErrors);
        PortFamily(w, ports, "tx_errors", "Failed transmits (DPDK oerrors).", p => p.TxErrors);
        PortFamily(w, ports, "rx_nombuf", "Receive mbuf allocation failures (DPDK rx_nombuf).", p => p.RxNoMbuf);
        if (src.Bgp is { } bgp) Bgp.BgpMetrics.Write(w, bgp());
        if (src.Cluster?.Invoke() is { } cluster) Management.Cluster.ClusterMetrics.Write(w, cluster);
        return w.ToString();
    }

    static (string, string)[] BackendLabels(int id, BackendEntry b) =>
        [("backend", b.Name), ("id", id.ToString(CultureInfo.InvariantCulture))];

    static void ForEachBackend(DataplaneSnapshot snap, Action<int, BackendEntry> each)
    {
        for (int id = 0; id < snap.Backends.Length; id++)
            if (snap.Backends[id].Name is not null) each(id, snap.Backends[id]);
    }

    static void ServiceFamily(PrometheusWriter w, string name, string help, ServiceCounter c, DataplaneSnapshot snap,
        IReadOnlyList<CountersReport.WorkerView> workers, bool vip)
    {
        w.Family(name, Kind.Counter, help);
        if (vip)
            for (int v = 0; v < snap.Vips.Length; v++)
                w.Sample(workers.Sum(x => x.Counters.GetVip(v, c)), ("vip", snap.Vips[v].Name));
        else
            ForEachBackend(snap, (id, b) => w.Sample(workers.Sum(x => x.Counters.GetBackend(id, c)), BackendLabels(id, b)));
    }

    static void PortFamily(PrometheusWriter w, IReadOnlyList<PortStatsView> ports, string what, string help, Func<PortStatsView, ulong> get)
    {
        w.Family($"switchyard_port_{what}_total", Kind.Counter, help);
        foreach (var p in ports) w.Sample(get(p), ("port", p.Name));
    }
}
