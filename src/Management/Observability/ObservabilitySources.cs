using Switchyard.Dataplane.Control;
using Switchyard.Management.Host;

namespace Switchyard.Management.Observability;

/// <summary>
/// What the metrics endpoint and the telemetry commands read. Every member is called from threads
/// other than the management thread (HTTP requests, the telemetry refresh), so each must be safe to
/// call concurrently: the snapshot comes from <c>SnapshotHolder.Current</c> (immutable), worker counters
/// are read with Volatile reads, and port statistics with rte_eth_stats_get.
/// </summary>
/// <param name="Snapshot">The snapshot the workers use now.</param>
/// <param name="Workers">One view per worker (core and counters).</param>
/// <param name="Ports">Port statistics, in port id order.</param>
/// <param name="Uptime">Time since the appliance started.</param>
/// <param name="BackendStates">Optional: each backend's administrative/health state by pool and backend name
/// (e.g. "active", "draining", "down"), exported as switchyard_backend_state{pool,backend,state} 1.</param>
/// <param name="Health">Optional: the health checker's read model (probe counters, transitions, up/down).</param>
public sealed record ObservabilitySources(
    Func<DataplaneSnapshot> Snapshot,
    IReadOnlyList<CountersReport.WorkerView> Workers,
    Func<IReadOnlyList<PortStatsView>> Ports,
    Func<TimeSpan> Uptime,
    Func<IEnumerable<(string Pool, string Backend, string State)>>? BackendStates = null,
    Func<IReadOnlyList<Health.BackendHealthStatus>>? Health = null,
    Func<Bgp.BgpMetrics.Sample>? Bgp = null, // issue 12: BGP sessions, announced prefixes, exception path
    Func<System.Text.Json.Nodes.JsonObject?>? Cluster = null); // issue 12, item 2: the learned-token exchange
