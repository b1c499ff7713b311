namespace Switchyard.Management.Options;

/// <summary>Metrics endpoint and DPDK telemetry (docs/observability.md).</summary>
public sealed class ObservabilityOptions
{
    /// <summary>Address and port of the HTTP endpoint serving GET /metrics (Prometheus text format 0.0.4)
    /// and GET /counters (the counters JSON): "127.0.0.1:9469", "[::1]:9469", "localhost:9469".
    /// Port 0 = any free port (logged at start). "" = no endpoint.</summary>
    public string PrometheusListen { get; set; } = "127.0.0.1:9469";
    /// <summary>Allow a non-loopback PrometheusListen address. The endpoint has no authentication: keep it on
    /// a management network.</summary>
    public bool AllowNonLoopback { get; set; }
    /// <summary>Register the /switchyard/... commands on DPDK's telemetry socket (dpdk-telemetry.py).</summary>
    public bool Telemetry { get; set; } = true;
    /// <summary>Let dpdk-dumpcap attach to the running appliance (needs hugepages and a FilePrefix). Off by default:
    /// DPDK closes its multi-process channel when the workers register as lcores, so with capture on the workers
    /// run without an lcore id and hence without a per-worker mempool cache (slower mbuf alloc/free).</summary>
    public bool PacketCapture { get; set; }
    /// <summary>How often the state shown by the telemetry commands is refreshed (1..3600).</summary>
    public int TelemetryIntervalSeconds { get; set; } = 1;
    /// <summary>Most HTTP connections served at once; further ones are closed at once (1..1024).</summary>
    public int MaxConnections { get; set; } = 32;

    public ObservabilityOptions Copy() => (ObservabilityOptions)MemberwiseClone();
}
