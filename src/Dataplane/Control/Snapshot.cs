using Switchyard.Dataplane.Datapath;

namespace Switchyard.Dataplane.Control;

public enum ForwardingMode : byte
{
    L2Dsr = 0,   // rewrite the destination MAC; the backend holds the VIP on loopback
    Ipip = 1,    // IPv4-in-IPv4 / IPv6-in-IPv6
    Gue = 2,     // GUE variant 1: the inner IP packet directly in UDP
    Gre = 3,     // GRE (RFC 2784) without key or sequence
}

public enum FragmentPolicy : byte
{
    /// <summary>Hash fragments on (source, destination, protocol), the same way for every fragment of a
    /// datagram, and send them through the pool's Maglev table with that hash.</summary>
    HashThreeTuple = 0,
    /// <summary>Count fragments under <see cref="DropReason.FragmentDropped"/> and drop them.</summary>
    Drop = 1,
}

/// <summary>
/// A backend's state as the workers see it (compiled from its administrative state and its health).
/// Ordered so that the packet path tests one comparison: states up to <see cref="Draining"/> keep the
/// flows pinned to the backend (and the MP_JOINs of its connections); the others send those flows to
/// the pool's removal policy (<see cref="RemovedFlowPolicy"/>).
/// </summary>
public enum BackendState : byte
{
    /// <summary>In the pool's Maglev table (when its weight is above 0); pinned flows and joins go to it.</summary>
    Active = 0,
    /// <summary>Out of the Maglev table: no new flows, but pinned flows and joins of its existing
    /// connections (encrypted token, learned token, announced port) still reach it. The control plane
    /// turns it into <see cref="Disabled"/> when the drain deadline passes.</summary>
    Draining = 1,
    /// <summary>Failed its health check: out of Maglev; pinned flows follow the removal policy.</summary>
    Down = 2,
    /// <summary>Disabled by the operator (or drained past its deadline): as <see cref="Down"/>.</summary>
    Disabled = 3,
    /// <summary>No longer configured. Its id is never handed out again in this process.</summary>
    Removed = 4,
}

/// <summary>What happens to a packet of a flow pinned to a backend that is Down, Disabled or Removed.</summary>
public enum RemovedFlowPolicy : byte
{
    /// <summary>Steer it again with the current Maglev table and re-pin the flow (counted as FlowRepins).</summary>
    Rehash = 0,
    /// <summary>TCP: answer with a RST (Outcome.FlowReset); anything else, or a TCP segment no RST can be
    /// built for: drop under DropReason.BackendGone. The flow entry is removed.</summary>
    Reset = 1,
}

/// <summary>A backend as the workers see it. Indexed by its stable id, which a flow-table entry stores.</summary>
public readonly record struct BackendEntry(
    string Name,
    Addr128 Address,
    ulong Mac,          // 48-bit MAC in the low bits, byte 0 of the wire order in bits 47..40
    byte EgressPort,    // port index used to reach it
    uint Weight,
    BackendState State)
{
    /// <summary>Index of its pool in <see cref="DataplaneSnapshot.Pools"/> (-1: removed). The pin-sharing sweep
    /// recomputes the pool's Maglev pick of a pinned flow from it.</summary>
    public int Pool { get; init; } = -1;

    /// <summary>The MAC of its egress port (<see cref="EgressPort"/>'s <see cref="PortEntry.Mac"/>), the source of every
    /// frame sent to it, and that port's MTU: copied here by the snapshot compiler so that forwarding reads the backend's
    /// entry only, not the port's object behind it as well.</summary>
    public ulong EgressMac { get; init; }
    /// <summary>The egress port's IP MTU (<see cref="PortEntry.Mtu"/>).</summary>
    public int EgressMtu { get; init; }
    /// <summary>The first 12 bytes of a frame sent to it (destination <see cref="Mac"/>, source <see cref="EgressMac"/>)
    /// as they lie in memory, bytes 0-7 and 8-11 read in the machine's order (<see cref="MacHeader"/>): an L2 DSR
    /// rewrite is these two stores.</summary>
    public ulong MacHeader0 { get; init; }
    public uint MacHeader1 { get; init; }

    /// <summary><see cref="MacHeader0"/> and <see cref="MacHeader1"/> for destination <paramref name="dst"/> and source
    /// <paramref name="src"/> (48-bit MACs as <see cref="Mac"/> holds them).</summary>
    public static unsafe (ulong Bytes0, uint Bytes8) MacHeader(ulong dst, ulong src)
    {
        byte* h = stackalloc byte[12];
        Datapath.BigEndian.WriteMac(h, dst);
        Datapath.BigEndian.WriteMac(h + 6, src);
        return (System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ulong>(h), System.Runtime.CompilerServices.Unsafe.ReadUnaligned<uint>(h + 8));
    }

    /// <summary>Pinned flows and joins may go to it: Active or Draining (one byte compare on the hot path).</summary>
    public bool Usable
    {
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        get => State <= BackendState.Draining;
    }

    /// <summary>New connections may go to it: Active with a weight above 0 (what puts it in the Maglev table).</summary>
    public bool TakesNewFlows
    {
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        get => State == BackendState.Active && Weight != 0;
    }
}

/// <summary>A pool: its forwarding method, Maglev table and per-pool policies.</summary>
public sealed class PoolEntry
{
    public required string Name { get; init; }
    public required ForwardingMode Mode { get; init; }
    public required FragmentPolicy Fragments { get; init; }
    /// <summary>Maglev lookup table: backend ids, length is a prime M. Empty when no backend is usable.</summary>
    public required int[] Maglev
    {
        get => _maglev;
        init { _maglev = value; MaglevMultiplier = Datapath.Steering.Maglev.FastModMultiplier(value.Length); }
    }
    int[] _maglev = [];
    /// <summary>For <see cref="Datapath.Steering.Maglev.Slot(ulong, int, ulong)"/>: the slot of a flow without a division.</summary>
    public ulong MaglevMultiplier { get; private init; }
    /// <summary>GUE destination port.</summary>
    public ushort GuePort { get; init; } = 6080;
    /// <summary>Outer source addresses: base | (flow hash &amp; host mask), per family.</summary>
    public Addr128 EncapSourceV4 { get; init; }
    public uint EncapSourceV4HostMask { get; init; }
    public Addr128 EncapSourceV6 { get; init; }
    public ulong EncapSourceV6HostMask { get; init; }
    /// <summary>Idle timeouts in dataplane ticks (milliseconds).</summary>
    public uint TcpIdleTicks { get; init; } = 300_000;
    public uint UdpIdleTicks { get; init; } = 30_000;
    /// <summary>Lifetime of a pin made by a TCP SYN or an MP_JOIN SYN until the connection's first non-SYN segment
    /// refreshes it to <see cref="TcpIdleTicks"/>: flood pins expire first, so the table evicts them, not established flows.</summary>
    public uint HandshakeIdleTicks { get; init; } = 10_000;
    /// <summary>Encrypted-token joins: server id -> backend id (-1 = none); empty when no backend has a server id.</summary>
    public int[] ServerIdToBackend { get; init; } = [];
    /// <summary>Flows pinned to a backend that is Down, Disabled or Removed: re-steer, or reset.</summary>
    public RemovedFlowPolicy RemovedFlows { get; init; } = RemovedFlowPolicy.Rehash;
    /// <summary>QUIC-LB: server id -> backend id (null when no backend has a QuicServerId).</summary>
    public Datapath.Quic.QuicServerIdMap? QuicServerIds { get; init; }
}

/// <summary>How an MP_JOIN SYN finds the backend of its connection (sources.md, design.md).</summary>
public enum JoinMode : byte
{
    None = 0,
    EncryptedToken = 1,   // decrypt the token (token-format.md): server id -> backend
    LearnedToken = 2,     // token -> backend learned from the client's MP_CAPABLE (third ACK / first data)
    AnnouncedPort = 3,    // the join goes to VIP:P that one backend announced; stateless
    AnnouncedAddress = 4, // joins go to the servers' own addresses; one that reaches the VIP is unplaceable
}

/// <summary>A virtual service. Port 0 means "every port"; protocol 0 means "every protocol".</summary>
public readonly record struct VipEntry(string Name, Addr128 Address, ushort Port, byte Protocol, int Pool)
{
    /// <summary>Join modes in the order they are tried, 4 bits each, first in the low nibble; 0 = MPTCP-unaware
    /// (a join is balanced like any SYN).</summary>
    public uint JoinModes { get; init; }
    /// <summary>For an announced port (VIP:P announced by one backend): that backend's id; else -1.</summary>
    public int AnnouncedBackend { get; init; } = -1;
    /// <summary>QUIC-LB mode: UDP packets whose DCID decodes to a live server id go to that server.</summary>
    public bool QuicLb { get; init; }

    public static uint PackJoinModes(ReadOnlySpan<JoinMode> modes)
    {
        uint packed = 0;
        for (int i = modes.Length - 1; i >= 0; i--) packed = packed << 4 | (uint)modes[i];
        return packed;
    }

    public bool Has(JoinMode mode)
    {
        for (uint m = JoinModes; m != 0; m >>= 4) if ((JoinMode)(m & 0xF) == mode) return true;
        return false;
    }
}

/// <summary>A DPDK port as the workers see it.</summary>
public sealed class PortEntry
{
    public required string Name { get; init; }
    public required ulong Mac { get; init; }
    public required int Mtu { get; init; }
    /// <summary>Next-hop MAC for encapsulated traffic (the router towards the backends).</summary>
    public ulong GatewayMac { get; init; }
    /// <summary>The appliance's own addresses on this port (ICMP source, ARP/NDP answers).</summary>
    public Addr128[] Addresses { get; init; } = [];
    public ushort RxQueues { get; init; } = 1;
    public ushort TxQueues { get; init; } = 1;
}

/// <summary>
/// Everything the packet path reads, compiled by the control plane and published with one
/// <c>Volatile.Write</c> (see <see cref="SnapshotHolder"/>). Immutable once published: the
/// control plane never mutates an array it has handed out, it builds a new snapshot.
/// </summary>
public sealed class DataplaneSnapshot
{
    public long Generation { get; init; }
    public required PortEntry[] Ports { get; init; }
    public required VipEntry[] Vips { get; init; }
    public required VipTable VipTable { get; init; }
    public required PoolEntry[] Pools { get; init; }
    /// <summary>Indexed by backend id; ids are stable across snapshots while the backend exists.</summary>
    public required BackendEntry[] Backends { get; init; }
    /// <summary>Addresses answered for by ARP/NDP: the ports' own addresses and every VIP address.</summary>
    public required LocalAddressSet LocalAddresses { get; init; }
    /// <summary>Seed of the flow hash. Balancers sharing VIPs behind ECMP must use the same seed.</summary>
    public uint FlowHashSeed { get; init; }
    /// <summary>Encrypted-token keys (null when none are configured).</summary>
    public Datapath.Steering.Tokens.TokenKeys? TokenKeys { get; init; }
    /// <summary>Learned tokens not refreshed for this many ticks are forgotten.</summary>
    public uint LearnedTokenIdleTicks { get; init; } = 600_000;
    /// <summary>Answer an unplaceable join with RST + MP_TCPRST (true) or drop it (false).</summary>
    public bool ResetUnplaceableJoins { get; init; } = true;
    /// <summary>QUIC-LB configurations by config id (null when none are configured).</summary>
    public Datapath.Quic.QuicLbConfigSet? QuicLb { get; init; }
}
