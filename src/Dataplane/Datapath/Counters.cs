using System.Runtime.CompilerServices;

namespace Switchyard.Dataplane.Datapath;

/// <summary>Indexes into <see cref="WorkerCounters.Global"/> after the outcome and drop-reason slots.</summary>
public enum GlobalCounter
{
    RxPackets = 0,
    RxBytes,
    TxPackets,
    TxBytes,
    FlowHits,            // packets steered by an existing flow-table entry
    FlowInserts,         // new flow-table entries (TCP SYN, first UDP packet)
    FlowEvictions,       // live entries replaced because their bucket was full
    FlowRepins,          // pinned flows whose backend was no longer usable, steered again
    MaglevSteered,       // packets steered by the Maglev table without a flow entry
    IcmpErrorsRouted,    // ICMP "frag needed"/"packet too big" sent to the backend of the quoted flow
    FragmentsHashed,     // fragments steered by their 3-tuple
    Bursts,              // non-empty bursts processed
    // MPTCP (VIPs with join steering)
    MptcpMalformedOptions, // segments whose kind-30 options are malformed: forwarded as plain TCP, never steered on
    JoinsSeen,             // MP_JOIN SYNs not already pinned
    JoinsByEncryptedToken,
    JoinsByLearnedToken,
    JoinsByAnnouncedPort,
    JoinsUnplaceable,      // no mode placed it: answered with RST (Outcome.JoinReset) or dropped (JoinUnplaceable)
    JoinsWithCollidedToken, // of those, how many carried a token learned for two backends
    TokensLearned,
    TokenCollisions,       // a token learned for a second backend: poisoned until it expires
    TokensForgotten,       // on FIN/RST of the initial subflow or MP_FASTCLOSE
    TokenTableFull,
    FlowResets,          // flows pinned to a gone backend ended by the pool's "reset" policy (RST or drop)
    FromKernel,          // frames the kernel sent through the exception path, transmitted by worker 0 (in TxPackets)
    IdleSleeps,          // idle back-off sleeps (Dataplane.IdleBackoffMicroseconds)
    // QUIC-LB (UDP VIPs with QuicLb): routed by the decoded server id, or why not (then 4-tuple + Maglev)
    QuicRoutedByCid,       // DCID decoded to a usable backend's server id: sent there
    QuicRepinned,          // of those, the 4-tuple was pinned to another backend (a migrated connection): pin moved
    QuicClientInitial,     // Initial/0-RTT: client-chosen DCID
    QuicServerOnlyPacket,  // Version Negotiation / Retry (servers send these, never receive them)
    QuicUnknownVersion,    // long header of a version whose packet types are unknown
    QuicUnroutableCid,     // config rotation bits 0b111
    QuicUnknownConfig,     // no configuration at the CID's codepoint
    QuicCidTooShort,       // long-header DCID shorter than its configuration's CID length
    QuicUnknownServerId,   // decoded to a server id no usable backend of the pool has
    QuicCidLengthMismatch, // self-encoded CID length (config SelfEncodedLength) disagrees with the DCID's length
    FloodGuardUnpinned,    // new flows above Dataplane.FloodGuardNewFlowsPerSecond: steered by Maglev, not pinned (also in MaglevSteered)
    // Flow pins shared between the appliances of a cluster (issue 12 item 4)
    PinsExported,          // live pins the sweep found differing from the current Maglev pick, queued for the peers
    PinExportOverflows,    // of those, refused because the export queue was full (the next pass retries)
    PinSweepPasses,        // full passes of the pin-sharing sweep over the flow table
    SharedPinHits,         // non-SYN packets missing the flow table that a peer's shared pin placed (then pinned here)
    HandshakePinsRefused,  // SYNs and MP_JOIN SYNs steered but not pinned: their bucket's four live entries all outlive a handshake pin
    Count
}

/// <summary>Per-VIP and per-backend counter slots.</summary>
public enum ServiceCounter { Packets = 0, Bytes, NewFlows, Count }

/// <summary>
/// One worker's counters. Only that worker writes them, with plain increments (no atomics, no
/// sharing: each array is its own allocation, padded at both ends so two workers' arrays never
/// share a cache line). Readers sum across workers and may see a value a few packets stale.
///
/// Invariants (asserted by the tests on the counters JSON):
///   RxPackets = Forwarded + ArpReplied + NdpReplied + IcmpTooBigSent + JoinReset + FlowReset + ToKernel + Dropped
///   Dropped   = sum(Drops) - Drops[TxQueueFull] - Drops[ExceptionRateLimited] - Drops[ExceptionQueueFull]
///   TxPackets + Drops[TxQueueFull] = Forwarded + ArpReplied + NdpReplied + IcmpTooBigSent + JoinReset + FlowReset + FromKernel
///   Forwarded = sum over VIPs of Packets = sum over backends of Packets
/// TxQueueFull is counted by the worker loop after the processor gave the frame its outcome (the
/// NIC refused it), so it is a drop reason but not part of the Dropped outcome.
/// </summary>
public sealed class WorkerCounters
{
    const int Pad = 8; // one cache line of longs at each end

    public readonly long[] Outcomes;     // [Pad + (int)Outcome]
    public readonly long[] Drops;        // [Pad + (int)DropReason]
    public readonly long[] Global;       // [Pad + (int)GlobalCounter]
    public readonly long[] Vips;         // [Pad + vip * ServiceCounter.Count + counter]
    public readonly long[] Backends;     // [Pad + id * ServiceCounter.Count + counter]
    public readonly int MaxVips, MaxBackends;

    public WorkerCounters(int maxVips, int maxBackends)
    {
        MaxVips = maxVips; MaxBackends = maxBackends;
        Outcomes = new long[Pad * 2 + 8];
        Drops = new long[Pad * 2 + (int)DropReason.Count];
        Global = new long[Pad * 2 + (int)GlobalCounter.Count];
        Vips = new long[Pad * 2 + maxVips * (int)ServiceCounter.Count];
        Backends = new long[Pad * 2 + maxBackends * (int)ServiceCounter.Count];
    }

    public const int Offset = Pad;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Drop(DropReason r) { Outcomes[Pad + (int)Outcome.Dropped]++; Drops[Pad + (int)r]++; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Count(Outcome o) => Outcomes[Pad + (int)o]++;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Count(Outcome o, long n) => Outcomes[Pad + (int)o] += n;
    /// <summary>A forwarded packet of <paramref name="bytes"/> to backend <paramref name="id"/>: its packets and bytes,
    /// one range check (the two counters are adjacent). The VIP's side is <see cref="AddVipForwarded"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddBackendForwarded(int id, long bytes)
    {
        ref long b = ref Backends[Pad + id * (int)ServiceCounter.Count + (int)ServiceCounter.Bytes];
        Unsafe.Add(ref b, -1)++; // Packets: the slot before Bytes, inside the array (Pad >= 1)
        b += bytes;
    }
    /// <summary><paramref name="packets"/> forwarded packets, <paramref name="bytes"/> bytes in all, on
    /// <paramref name="vip"/>: counted as <see cref="Outcome.Forwarded"/> and on the VIP (packets and bytes, one range check).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddVipForwarded(int vip, long packets, long bytes)
    {
        Outcomes[Pad + (int)Outcome.Forwarded] += packets;
        ref long v = ref Vips[Pad + vip * (int)ServiceCounter.Count + (int)ServiceCounter.Bytes];
        Unsafe.Add(ref v, -1) += packets;
        v += bytes;
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(GlobalCounter c, long n = 1) => Global[Pad + (int)c] += n;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddVip(int vip, ServiceCounter c, long n = 1) => Vips[Pad + vip * (int)ServiceCounter.Count + (int)c] += n;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddBackend(int id, ServiceCounter c, long n = 1) => Backends[Pad + id * (int)ServiceCounter.Count + (int)c] += n;

    public long Get(Outcome o) => Volatile.Read(ref Outcomes[Pad + (int)o]);
    public long Get(DropReason r) => Volatile.Read(ref Drops[Pad + (int)r]);
    public long Get(GlobalCounter c) => Volatile.Read(ref Global[Pad + (int)c]);
    public long GetVip(int vip, ServiceCounter c) => Volatile.Read(ref Vips[Pad + vip * (int)ServiceCounter.Count + (int)c]);
    public long GetBackend(int id, ServiceCounter c) => Volatile.Read(ref Backends[Pad + id * (int)ServiceCounter.Count + (int)c]);
}
