// How to add a setting:
//   1. Add a public get/set property to the section class below, with its default as the initializer
//      (nullable when "absent" has a meaning of its own, e.g. "use the device's MAC"). Use int, not
//      ushort/byte, for numbers a user types: a value out of range then reaches OptionsValidator and
//      gets a "must be 1..65535" message instead of a binder overflow.
//   2. Check it in OptionsValidator (one Add(path, reason) per mistake; never throw).
//   3. If the dataplane reads it, carry it into the snapshot in Compile/SnapshotCompiler.cs.
//   4. An array or section property: copy it in its class's Copy() (the control plane edits copies);
//      a setting only a restart can change: compare it in RestartSettings.
//   5. Show it, commented, in appliance.json and add a test under tests/Switchyard.Tests/Config.
// Enumerated settings are enums whose file names are defined once, in OptionNames.
// Nothing else is needed: ConfigurationShape walks these classes by reflection, so an unknown key or
// a value of the wrong type in the file, the environment or the command line is reported with its
// path automatically.
//
// JSON keys are the property names below (the binder ignores case). Environment variables:
// SWITCHYARD_Section__Key (double underscore = ':'); command line: --Section:Key=value, array items
// by index: --Vips:0:Port=8080.

using Switchyard.Dataplane.Control;

namespace Switchyard.Management.Options;

/// <summary>The root of appliance.json.</summary>
public sealed class ApplianceOptions
{
    public EalOptions Eal { get; set; } = new();
    public PortOptions[] Ports { get; set; } = [];
    /// <summary>Explicit worker layout. Leave empty and set <see cref="Cores"/> for automatic assignment.</summary>
    public WorkerOptions[] Workers { get; set; } = [];
    /// <summary>Worker cores when <see cref="Workers"/> is empty: one worker per core, every port's receive
    /// queues dealt round-robin (port by port, queue by queue) to the workers.</summary>
    public int[] Cores { get; set; } = [];
    public PoolOptions[] Pools { get; set; } = [];
    public VipOptions[] Vips { get; set; } = [];
    public DataplaneOptions Dataplane { get; set; } = new();
    public MptcpOptions Mptcp { get; set; } = new();
    /// <summary>QUIC-LB configurations (QuicLbOptions.cs) for UDP VIPs with QuicLb set.</summary>
    public QuicLbOptions QuicLb { get; set; } = new();
    public RunOptions Run { get; set; } = new();
    public DemoOptions Demo { get; set; } = new();
    public ObservabilityOptions Observability { get; set; } = new();
    public ControlOptions Control { get; set; } = new();
    // ---- issue 12: scale-out (BgpOptions.cs)
    public BgpOptions Bgp { get; set; } = new();
    public ExceptionPathOptions ExceptionPath { get; set; } = new();
    /// <summary>Learned tokens shared between the appliances of a cluster (ClusterOptions.cs).</summary>
    public ClusterOptions Cluster { get; set; } = new();

    /// <summary>A deep copy: the control plane edits copies, never the running configuration.</summary>
    public ApplianceOptions Copy()
    {
        var c = (ApplianceOptions)MemberwiseClone();
        c.Eal = Eal.Copy();
        c.Ports = [.. Ports.Select(p => p.Copy())];
        c.Workers = [.. Workers.Select(w => w.Copy())];
        c.Cores = [.. Cores];
        c.Pools = [.. Pools.Select(p => p.Copy())];
        c.Vips = [.. Vips.Select(v => v.Copy())];
        c.Dataplane = Dataplane.Copy();
        c.Mptcp = Mptcp.Copy();
        c.QuicLb = QuicLb.Copy();
        c.Run = Run.Copy();
        c.Demo = Demo.Copy();
        c.Observability = Observability.Copy();
        c.Control = Control.Copy();
        c.Bgp = Bgp.Copy();
        c.ExceptionPath = ExceptionPath.Copy();
        c.Cluster = Cluster.Copy();
        return c;
    }
}

/// <summary>Live operations: the control socket (<c>switchyard ctl</c>) and the configuration file watch.</summary>
public sealed class ControlOptions
{
    public const string DefaultSocket = "/run/switchyard/switchyard.sock";
    /// <summary>Unix domain socket path, created 0600 and removed at exit; "" = no control socket.</summary>
    public string Socket { get; set; } = DefaultSocket;
    /// <summary>Poll the configuration file (mtime, size, SHA-256) every second and reload it when it changes.</summary>
    public bool WatchConfigFile { get; set; } = true;
    /// <summary>Longest wait, after publishing a change, for every worker to pass a quiescent point (the grace period).</summary>
    public int ChangeTimeoutMilliseconds { get; set; } = 2000;

    public ControlOptions Copy() => (ControlOptions)MemberwiseClone();
}

/// <summary>DPDK Environment Abstraction Layer arguments (see <c>EalArguments.Build</c>).</summary>
public sealed class EalOptions
{
    /// <summary>Raw EAL arguments, appended after everything derived from the other settings.</summary>
    public string[] Args { get; set; } = [];
    /// <summary>Virtual device specs, each passed as --vdev=SPEC (e.g. "net_af_packet0,iface=sy-c0").</summary>
    public string[] Vdevs { get; set; } = [];
    /// <summary>PCI addresses to probe (-a), optionally with device arguments ("0000:03:00.0,rxq_cqe_comp_en=1").</summary>
    public string[] Allow { get; set; } = [];
    /// <summary>--file-prefix: lets several DPDK processes share a machine.</summary>
    public string? FilePrefix { get; set; }
    /// <summary>-m, in MiB, used when running without hugepages.</summary>
    public int MemoryMb { get; set; } = 1024;
    /// <summary>"auto" (use hugepages when free ones exist, else --no-huge), "require", or "off".</summary>
    public string Hugepages { get; set; } = "auto";
    /// <summary>-l core list for EAL's own threads; absent = EAL's default.</summary>
    public string? Lcores { get; set; }

    public EalOptions Copy()
    {
        var c = (EalOptions)MemberwiseClone();
        c.Args = [.. Args]; c.Vdevs = [.. Vdevs]; c.Allow = [.. Allow];
        return c;
    }
}

public sealed class PortOptions
{
    /// <summary>Our name for the port, used by workers, backends and counters.</summary>
    public string Name { get; set; } = "";
    /// <summary>DPDK device name: a vdev name ("net_af_packet0") or a PCI address ("0000:03:00.0").</summary>
    public string Device { get; set; } = "";
    /// <summary>Default: the number of workers with <c>Cores</c>; with explicit <c>Workers</c>, one more
    /// than the highest queue they assign on this port.</summary>
    public int? RxQueues { get; set; }
    /// <summary>Default: the number of workers (worker i transmits on queue i of every port).</summary>
    public int? TxQueues { get; set; }
    public int RxDescriptors { get; set; } = 1024;
    public int TxDescriptors { get; set; } = 1024;
    public int Mtu { get; set; } = 1500;
    /// <summary>Overrides the MAC the device reports.</summary>
    public string? Mac { get; set; }
    /// <summary>Next-hop MAC for encapsulated traffic leaving this port (the router towards the backends).</summary>
    public string? GatewayMac { get; set; }
    /// <summary>The appliance's own IPv4/IPv6 addresses on this port (answered by ARP/NDP, ICMP source).</summary>
    public string[] Addresses { get; set; } = [];
    public bool Promiscuous { get; set; }

    public PortOptions Copy()
    {
        var c = (PortOptions)MemberwiseClone();
        c.Addresses = [.. Addresses];
        return c;
    }
}

public sealed class WorkerOptions
{
    /// <summary>CPU id the worker thread is pinned to.</summary>
    public int Core { get; set; } = -1;
    public WorkerQueueOptions[] Queues { get; set; } = [];

    public WorkerOptions Copy()
    {
        var c = (WorkerOptions)MemberwiseClone();
        c.Queues = [.. Queues.Select(q => q.Copy())];
        return c;
    }
}

public sealed class WorkerQueueOptions
{
    /// <summary>Port name.</summary>
    public string Port { get; set; } = "";
    public int Queue { get; set; }

    public WorkerQueueOptions Copy() => (WorkerQueueOptions)MemberwiseClone();
}

public sealed class PoolOptions
{
    public string Name { get; set; } = "";
    /// <summary>"l2dsr", "ipip", "gue" or "gre".</summary>
    public ForwardingMode Forwarding { get; set; } = ForwardingMode.L2Dsr;
    /// <summary>GUE destination UDP port.</summary>
    [ValueRange("1..65535")]
    public int GuePort { get; set; } = 6080;
    /// <summary>Outer IPv4 source prefix for encapsulation (CIDR); the host bits come from the flow hash,
    /// so a backend's receive side spreads flows over its queues.</summary>
    public string? EncapSourceV4 { get; set; }
    /// <summary>Outer IPv6 source prefix (CIDR); at most the low 64 bits vary.</summary>
    public string? EncapSourceV6 { get; set; }
    /// <summary>"hash" (three-tuple hash, every fragment of a datagram to one backend) or "drop".</summary>
    public FragmentPolicy Fragments { get; set; } = FragmentPolicy.HashThreeTuple;
    /// <summary>Maglev table size: a prime, much larger than the number of backends (100x keeps shares within ~1%).</summary>
    public int MaglevSize { get; set; } = 65537;
    public int TcpIdleTimeoutSeconds { get; set; } = 300;
    public int UdpIdleTimeoutSeconds { get; set; } = 30;
    /// <summary>How long the pin of a TCP SYN (or MP_JOIN SYN) lives before the connection's first non-SYN segment
    /// makes it an established flow (TcpIdleTimeoutSeconds): the flow table evicts the entry that expires soonest,
    /// so the pins of a SYN or join flood push each other out, not established flows.</summary>
    public int HandshakeTimeoutSeconds { get; set; } = 10;
    /// <summary>Flows pinned to a backend that is down, disabled or removed: "rehash" (steer again with the
    /// current Maglev table and re-pin) or "reset" (TCP answered with a RST, other packets dropped).</summary>
    public RemovedFlowPolicy RemovedFlows { get; set; } = RemovedFlowPolicy.Rehash;
    public BackendOptions[] Backends { get; set; } = [];
    /// <summary>Health checks of this pool's backends (Type "none" by default: no checks).</summary>
    public HealthCheckOptions HealthCheck { get; set; } = new();
    /// <summary>When every enabled backend is down: "fail-open" (route to all of them as if up) or "fail-closed" (route nothing).</summary>
    /// <summary>BGP: announce this pool's VIPs only while at least this many backends serve (default Bgp.MinHealthyBackends).</summary>
    public int? MinHealthyBackends { get; set; }
    public AllDownPolicy AllDownPolicy { get; set; } = AllDownPolicy.FailOpen;

    public PoolOptions Copy()
    {
        var c = (PoolOptions)MemberwiseClone();
        c.Backends = [.. Backends.Select(b => b.Copy())];
        c.HealthCheck = HealthCheck.Copy();
        return c;
    }
}

public sealed class BackendOptions
{
    /// <summary>Unique within the pool and stable: it fixes the backend's Maglev permutation (and its id).</summary>
    public string Name { get; set; } = "";
    public string Address { get; set; } = "";
    /// <summary>Required for l2dsr; for encapsulation the egress port's GatewayMac is used when absent.</summary>
    public string? Mac { get; set; }
    /// <summary>Egress port name; default the first port.</summary>
    public string? Port { get; set; }
    /// <summary>0..65535; 0 = draining: no new flows, pinned flows stay.</summary>
    public int Weight { get; set; } = 1;
    /// <summary>false = out of service: no new flows; pinned flows follow the pool's RemovedFlows policy.</summary>
    public bool Enabled { get; set; } = true;
    /// <summary>Encrypted-token joins: the server id this backend mints tokens with (0 .. 2^Mptcp.ServerIdBits - 1).</summary>
    public int? ServerId { get; set; }
    /// <summary>Announced-port joins: the VIP port this backend announces (ip mptcp endpoint add VIP port P signal);
    /// every packet to VIP:P goes to this backend.</summary>
    [ValueRange("1..65535")]
    public int? AnnouncedPort { get; set; }
    /// <summary>QUIC-LB: the server id this backend mints its connection IDs with (hex, as long as a
    /// QuicLb.Configs entry's ServerIdLength).</summary>
    public string? QuicServerId { get; set; }

    public BackendOptions Copy() => (BackendOptions)MemberwiseClone(); // every property a value or an immutable string
}

public sealed class VipOptions
{
    public string Name { get; set; } = "";
    public string Address { get; set; } = "";
    /// <summary>0 = every port of the address.</summary>
    [ValueRange("1..65535, or 0 for every port")]
    public int Port { get; set; }
    /// <summary>"tcp", "udp" or "any" ("any" requires Port 0).</summary>
    public string Protocol { get; set; } = "tcp";
    /// <summary>Pool name.</summary>
    public string Pool { get; set; } = "";
    /// <summary>How MP_JOIN subflows reach the backend of their connection, tried in this order:
    /// "encrypted-token", "learned-token", "announced-port", "announced-address". Empty: the VIP is
    /// MPTCP-unaware and a join is balanced like any SYN (what a plain L4 balancer does).</summary>
    /// <summary>BGP: announce this VIP only while its pool has at least this many serving backends (default: the pool's, then Bgp's).</summary>
    public int? MinHealthyBackends { get; set; }
    public JoinMode[] Joins { get; set; } = [];
    /// <summary>QUIC-LB mode (UDP VIPs): route QUIC packets whose destination connection ID decodes to a
    /// backend's QuicServerId to that backend, whatever their 4-tuple (so migrated connections keep their
    /// server); everything else (Initial/0-RTT, unknown or undecodable CIDs) takes the 4-tuple flow table
    /// and Maglev like any UDP flow.</summary>
    public bool QuicLb { get; set; }

    public VipOptions Copy()
    {
        var c = (VipOptions)MemberwiseClone();
        c.Joins = [.. Joins];
        return c;
    }
}

public sealed class DataplaneOptions
{
    /// <summary>The fixed default seed; every balancer sharing VIPs behind ECMP must use the same one.</summary>
    public const uint DefaultFlowHashSeed = 0x5359_4C42; // "SYLB"

    /// <summary>Flow-table entries per worker, a power of two.</summary>
    public int FlowTableEntries { get; set; } = 1 << 20;
    /// <summary>Bound on backend ids handed out in the process lifetime (ids are never reused).</summary>
    public int MaxBackends { get; set; } = 4096;
    public int MaxVips { get; set; } = 256;
    public uint FlowHashSeed { get; set; } = DefaultFlowHashSeed;
    /// <summary>mbufs in the packet pool (2^n - 1 is the most memory-efficient size for DPDK's ring).</summary>
    public int MempoolMbufs { get; set; } = 16383;
    /// <summary>Per-core mbuf cache; DPDK caps it at 512 and at MempoolMbufs / 1.5.</summary>
    public int MbufCacheSize { get; set; } = 256;

    /// <summary>Flood guard (Katran's): new flows per second per worker above which new flows are steered by
    /// Maglev but not pinned, so a flood of new 5-tuples cannot evict established flows. 0 (default) = off.</summary>
    public int FloodGuardNewFlowsPerSecond { get; set; }

    /// <summary>Forward with one loop per (forwarding mode x address family), compiled for it (true, default), or
    /// with the one plain body that branches per packet (false): the same output bytes (tested); a diagnostic switch.</summary>
    public bool SpecialisedBodies { get; set; } = true;

    public DataplaneOptions Copy() => (DataplaneOptions)MemberwiseClone();
    /// <summary>Idle back-off for workers sharing cores with other work (several appliances on one host):
    /// after <see cref="IdleBackoffPolls"/> empty polls in a row, a worker sleeps this many microseconds
    /// before polling again. 0 (default) = pure busy polling, the lowest latency.</summary>
    public int IdleBackoffMicroseconds { get; set; }
    /// <summary>Empty polls in a row before the idle back-off starts sleeping.</summary>
    public int IdleBackoffPolls { get; set; } = 256;
}

public sealed class RunOptions
{
    /// <summary>0 = until SIGINT/SIGTERM.</summary>
    public int DurationSeconds { get; set; }
    /// <summary>0 = never. For pcap replays: stop once no packet has arrived for this long after the first.</summary>
    public int StopAfterIdleMilliseconds { get; set; }
    /// <summary>Counters JSON, rewritten atomically (write + rename) while running and at exit.</summary>
    public string? CountersFile { get; set; }
    public int CountersIntervalSeconds { get; set; } = 1;
    // ---- cycle budget (issue 14; perf/load/run.sh --stages) ----
    /// <summary>Per-stage cycle budget: sampled TSC stamps per stage on every worker, written here as JSON at exit
    /// (StageBudget.ToJson). Unset = no stamps.</summary>
    public string? StageStampsFile { get; set; }
    /// <summary>Stamp one non-empty burst in this many (a power of two, 1..65536).</summary>
    public int StageStampsEvery { get; set; } = 64;
    /// <summary>The floor of the budget: workers forward every frame out of <see cref="ForwardOnlyPort"/> with its
    /// MACs swapped (ForwardOnlyHandler) instead of running the packet path. For measurements only.</summary>
    public bool ForwardOnly { get; set; }
    /// <summary>ForwardOnly's egress port name; unset = the last port in Ports.</summary>
    public string? ForwardOnlyPort { get; set; }

    public RunOptions Copy() => (RunOptions)MemberwiseClone();
}

/// <summary>The self-contained demo topology (network namespaces and clients); only bound and checked here.</summary>
public sealed class DemoOptions
{
    public bool Enabled { get; set; }
    /// <summary>Prefix of namespace and interface names; kept short because Linux caps interface names at 15 bytes.</summary>
    public string Prefix { get; set; } = "sy";
    public int Clients { get; set; } = 2;
    public int Connections { get; set; } = 100;
    public int Concurrency { get; set; } = 10;
    public long BytesPerConnection { get; set; } = 1 << 20;

    public DemoOptions Copy() => (DemoOptions)MemberwiseClone();
}

/// <summary>MPTCP join steering (see Vips[].Joins).</summary>
public sealed class MptcpOptions
{
    /// <summary>Shared token keys (token-format.md): up to three, ids 0..2, 16 bytes as 32 hex digits.</summary>
    public TokenKeyOptions[] TokenKeys { get; set; } = [];
    /// <summary>k: bits of the 30-bit token plaintext that carry the server id (1..15).</summary>
    public int ServerIdBits { get; set; } = 10;
    /// <summary>Learned-token table slots, shared by all workers (power of two).</summary>
    public int LearnedTokenCapacity { get; set; } = 1 << 20;
    /// <summary>A learned token not seen again (no join, no refresh) for this long is forgotten.</summary>
    public int LearnedTokenIdleTimeoutSeconds { get; set; } = 600;
    /// <summary>Answer a join that no mode can place with a TCP RST carrying MP_TCPRST (true), or drop it (false).
    /// Either way it is counted and never sent to a random backend.</summary>
    public bool ResetUnplaceableJoins { get; set; } = true;

    public MptcpOptions Copy()
    {
        var c = (MptcpOptions)MemberwiseClone();
        c.TokenKeys = [.. TokenKeys.Select(k => k.Copy())];
        return c;
    }
}

public sealed class TokenKeyOptions
{
    public int Id { get; set; }
    public string Key { get; set; } = "";

    public TokenKeyOptions Copy() => (TokenKeyOptions)MemberwiseClone();
}
