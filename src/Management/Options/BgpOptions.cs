namespace Switchyard.Management.Options;

// Issue 12: announcing the VIPs over BGP (through gobgpd's gRPC API) and the exception path that carries
// the appliance's own traffic (BGP, ICMP echo, ...) between the DPDK port and a kernel tap interface.

/// <summary>
/// BGP announcement of the VIPs, coupled to the appliance's state (see Management/Bgp/BgpAnnouncer).
/// The speaker is gobgpd (Debian package <c>gobgpd</c>, GoBGP 3.10), driven through its gRPC API.
/// </summary>
public sealed class BgpOptions
{
    /// <summary>Announce the VIPs. Off by default: a single appliance needs no routing protocol.</summary>
    public bool Enabled { get; set; }
    /// <summary>The appliance's AS number (1..4294967295, 4-byte ASNs allowed).</summary>
    public long LocalAs { get; set; }
    /// <summary>BGP router id, an IPv4 address unique among the routers' peers.</summary>
    public string RouterId { get; set; } = "";
    public BgpNeighborOptions[] Neighbors { get; set; } = [];
    /// <summary>Next hop of the announced IPv4 VIPs; default the first IPv4 address of <see cref="ExceptionPathOptions.Port"/>
    /// (or of the first port): the appliance's data-plane address.</summary>
    public string? NextHopV4 { get; set; }
    /// <summary>Next hop of the announced IPv6 VIPs; default the first IPv6 address of that port.</summary>
    public string? NextHopV6 { get; set; }
    /// <summary>BGP hold time offered to the neighbours: 0 (no keepalives) or 3..65535 seconds.</summary>
    public int HoldTimeSeconds { get; set; } = 9;
    /// <summary>Seconds between connection attempts to a neighbour that is down.</summary>
    public int ConnectRetrySeconds { get; set; } = 2;
    /// <summary>Default for every VIP: announce it only while its pool has at least this many serving backends
    /// (enabled, weight above 0, health up). Overridden per pool (Pools[].MinHealthyBackends) and per VIP
    /// (Vips[].MinHealthyBackends).</summary>
    public int MinHealthyBackends { get; set; } = 1;
    /// <summary>On SIGTERM and `ctl appliance drain`: seconds to keep forwarding after the withdrawal, while
    /// the routers move the traffic elsewhere, before the appliance stops (SIGTERM) or reports drained.</summary>
    public int DrainHoldDownSeconds { get; set; } = 5;
    /// <summary>A worker whose loop has not advanced for this long counts as stalled: its VIPs are withdrawn.</summary>
    public int StallMilliseconds { get; set; } = 1000;
    /// <summary>gobgpd's gRPC API (host:port).</summary>
    public string GrpcAddress { get; set; } = "127.0.0.1:50051";
    /// <summary>Optionally run gobgpd as a child process (in the appliance's network namespace).</summary>
    public GobgpdOptions Daemon { get; set; } = new();
    /// <summary>BFD is not available: gobgpd 3.10 (Debian 12) has no BFD; it arrived in GoBGP 4.x.
    /// Present so that a configuration asking for it is refused with that reason instead of "unknown setting".</summary>
    public BfdOptions Bfd { get; set; } = new();

    public BgpOptions Copy()
    {
        var c = (BgpOptions)MemberwiseClone();
        c.Neighbors = [.. Neighbors.Select(n => n.Copy())];
        c.Daemon = Daemon.Copy();
        c.Bfd = Bfd.Copy();
        return c;
    }
}

public sealed class BgpNeighborOptions
{
    /// <summary>The router's address (IPv4 or IPv6).</summary>
    public string Address { get; set; } = "";
    /// <summary>The router's AS number.</summary>
    public long As { get; set; }
    /// <summary>The router's BGP port.</summary>
    [ValueRange("1..65535")]
    public int Port { get; set; } = 179;
    /// <summary>Wait for the router to connect instead of connecting to it.</summary>
    public bool Passive { get; set; }

    public BgpNeighborOptions Copy() => (BgpNeighborOptions)MemberwiseClone();
}

public sealed class GobgpdOptions
{
    /// <summary>Start gobgpd as a child process, restart it when it dies, stop it at exit.</summary>
    public bool Manage { get; set; }
    /// <summary>The gobgpd executable.</summary>
    public string Path { get; set; } = "/usr/bin/gobgpd";
    /// <summary>Extra arguments (e.g. "--log-level=debug").</summary>
    public string[] Args { get; set; } = [];

    public GobgpdOptions Copy()
    {
        var c = (GobgpdOptions)MemberwiseClone();
        c.Args = [.. Args];
        return c;
    }
}

public sealed class BfdOptions
{
    public bool Enabled { get; set; }

    public BfdOptions Copy() => (BfdOptions)MemberwiseClone();
}

/// <summary>
/// The exception path: frames for the appliance's own addresses that the dataplane does not answer itself
/// (BGP on TCP 179, ICMP echo, ARP replies, anything not for a VIP) go to a kernel tap interface (DPDK
/// <c>net_tap</c>) that carries those addresses and the port's MAC; what the kernel sends leaves through the
/// port. Workers hand frames off through a lock-free ring; a management-side thread does the tap I/O.
/// </summary>
public sealed class ExceptionPathOptions
{
    public bool Enabled { get; set; }
    /// <summary>The data port whose own addresses are served (default the first port).</summary>
    public string? Port { get; set; }
    /// <summary>Kernel interface name of the tap (at most 15 bytes).</summary>
    public string Interface { get; set; } = "sy-tap0";
    /// <summary>Addresses with prefix length given to the tap ("10.0.0.11/24"); each must be one of the
    /// port's Addresses. Empty: the port's addresses as /32 and /128 (then add routes yourself).</summary>
    public string[] Addresses { get; set; } = [];
    /// <summary>Frames per second each worker may hand to the kernel (token bucket); 0 = no limit.</summary>
    public int RatePerSecond { get; set; } = 10_000;
    /// <summary>Token bucket depth (frames).</summary>
    public int Burst { get; set; } = 256;
    /// <summary>Slots of each ring (to the kernel, from the kernel), a power of two.</summary>
    public int RingSize { get; set; } = 1024;

    public ExceptionPathOptions Copy()
    {
        var c = (ExceptionPathOptions)MemberwiseClone();
        c.Addresses = [.. Addresses];
        return c;
    }
}
