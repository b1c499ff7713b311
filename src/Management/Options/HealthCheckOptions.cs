namespace Switchyard.Management.Options;

/// <summary>
/// Pools[].HealthCheck: how the management thread probes each backend of the pool (src/Management/Health).
/// The default (Type "none") checks nothing and every backend stays as configured: today's behaviour.
/// </summary>
public sealed class HealthCheckOptions
{
    /// <summary>"none" (default), "tcp" (connect), "http" (HTTP/1.1 GET) or "encap" (a TCP SYN to VIP:Port,
    /// encapsulated exactly like data and sent to the backend address; ipip, gue and gre pools only).</summary>
    public string Type { get; set; } = "none";
    /// <summary>TCP port probed. Absent or 0: the port of the pool's VIPs (it must then be one non-zero port).</summary>
    [ValueRange("1..65535, or 0 for the VIPs' port")]
    public int? Port { get; set; }
    /// <summary>http: the request target (absolute path, e.g. "/healthz").</summary>
    public string Path { get; set; } = "/";
    /// <summary>http: the status code that counts as success (100..599).</summary>
    public int ExpectStatus { get; set; } = 200;
    /// <summary>http: the Host header. Absent: the backend's address (IPv6 in brackets).</summary>
    public string? Host { get; set; }
    /// <summary>Time from the start of one probe to the start of the next, per backend (100..3600000 ms).</summary>
    public int IntervalMs { get; set; } = 2000;
    /// <summary>A probe without an answer within this long fails as "timeout N ms" (10..IntervalMs).</summary>
    public int TimeoutMs { get; set; } = 1000;
    /// <summary>Consecutive successes that bring a down backend up (1..100).</summary>
    public int Rise { get; set; } = 2;
    /// <summary>Consecutive failures that take an up backend down (1..100).</summary>
    public int Fall { get; set; } = 3;
    /// <summary>"up" (default: a backend serves until proven down) or "down" (it serves after Rise successes).
    /// Applies when the checker starts and to backends added later.</summary>
    public string Initial { get; set; } = "up";
    /// <summary>Local address the probes are sent from (bind address; for encap also the outer and inner source,
    /// where the backend's SYN-ACK returns). Used for backends of its family; absent: the kernel's route choice.</summary>
    public string? SourceAddress { get; set; }

    public HealthCheckOptions Copy() => (HealthCheckOptions)MemberwiseClone();
}
