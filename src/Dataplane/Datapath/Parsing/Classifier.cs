using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Forwarding;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Dataplane.Datapath.Parsing;

/// <summary>What the first pass made of a frame.</summary>
public enum Classified : byte
{
    Dropped,   // counted under its drop reason
    Neighbor,  // an ARP request or neighbor solicitation: the Answers stage replies or drops
    Steer,     // for a VIP: FrameState holds its VIP, hash, kind and token action
    ToKernel,  // for the receiving port's own address, not answered here: the exception path (issue 12)
}

/// <summary>
/// First pass of the packet path: parses a frame, finds its VIP and flow hash, tells joins, SYNs and
/// MPTCP signalling apart, and prefetches what the second pass will read (the Maglev
/// slot, encapsulation headroom). Drops are counted here; nothing is forwarded here.
/// </summary>
public sealed unsafe class Classifier(FrameState frames, WorkerCounters counters, bool learnedTokens)
{
    MptcpInfo _mp;

    /// <summary>Hand the port's own traffic to the kernel instead of dropping it (issue 12's exception path).</summary>
    public bool ExceptionPath { get; set; }

    /// <summary>An address of the receiving port (not a VIP's: a VIP's address is the dataplane's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsOwnAddress(DataplaneSnapshot snap, in Addr128 a, byte rxPort) =>
        !snap.VipTable.ContainsAddress(a) && snap.LocalAddresses.Contains(a, rxPort);

    /// <summary>
    /// Classifies frame <paramref name="i"/>, one that <see cref="ClassifyCommon"/> left (another VIP than the cached one,
    /// or anything its straight pass does not take). A frame the straight pass parsed, for a VIP, takes the short path
    /// inlined here; everything else goes through <see cref="ClassifyOther"/>, a call of its own.
    /// </summary>
    /// <param name="parsed">True when <see cref="ClassifyCommon"/> already took the frame through the straight pass
    /// (one segment, <see cref="PacketParser.TryParseCommon"/> true: its result is in place); false sends it to the general
    /// parser.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Classified Classify(DataplaneSnapshot snap, byte* frame, int len, int segments, int i, byte rxPort, bool parsed)
    {
        ref PacketInfo p = ref frames.Info[i];
        if (parsed)
        {
            // TCP or UDP with ports, not a fragment, not ICMP: only the VIP is left to find.
            int vip = LookupVip(snap, p.Dst, p.DstPort, p.Protocol);
            if (vip >= 0) return SteerToVip(snap, frame, i, ref p, vip);
        }
        return ClassifyOther(snap, frame, len, segments, i, rxPort, parsed);
    }

    /// <summary>Everything but the common frame for a VIP: multi-segment frames, frames the straight pass leaves to
    /// <see cref="PacketParser.ParseGeneral"/> (<paramref name="parsed"/> false), neighbour discovery, ICMP errors,
    /// fragments, and frames for no VIP.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    Classified ClassifyOther(DataplaneSnapshot snap, byte* frame, int len, int segments, int i, byte rxPort, bool parsed)
    {
        frames[i].Kind = FrameKind.Done;
        if (segments > 1) return Drop(DropReason.MultiSegment);
        ref PacketInfo p = ref frames.Info[i];
        if (!parsed)
        {
            var r = PacketParser.ParseGeneral(frame, len, ref p);
            if (r != DropReason.None) return Drop(r);
        }
        if ((p.Flags & (PacketFlags.Arp | PacketFlags.NeighborSolicitation)) != 0) return Classified.Neighbor;

        frames[i].Action = TokenAction.None;
        int vip;
        if ((p.Flags & PacketFlags.IcmpError) != 0)
        {
            // The quoted packet went from the VIP to the client; the flow we pinned is the reverse.
            vip = snap.VipTable.Lookup(p.InnerSrc, p.InnerSrcPort, p.InnerProtocol);
            if (vip < 0) return Drop(DropReason.NotForVip);
            ulong h = FlowHash.FiveTuple(p.InnerDst, p.InnerSrc, p.InnerDstPort, p.InnerSrcPort, p.InnerProtocol, snap.FlowHashSeed);
            counters.Add(GlobalCounter.IcmpErrorsRouted);
            return Steer(snap, i, vip, h, FrameKind.Steer, p.IsIPv6, p.InnerProtocol);
        }

        if ((p.Flags & PacketFlags.Fragment) != 0)
        {
            vip = snap.VipTable.LookupForFragment(p.Dst, p.Protocol);
            if (vip < 0) return Drop(DropReason.NotForVip);
            if (snap.Pools[snap.Vips[vip].Pool].Fragments == FragmentPolicy.Drop) return Drop(DropReason.FragmentDropped);
            // Every fragment of a datagram, first or not, hashes the same way and is never pinned.
            counters.Add(GlobalCounter.FragmentsHashed);
            return Steer(snap, i, vip, FlowHash.ThreeTuple(p.Src, p.Dst, p.Protocol, snap.FlowHashSeed), FrameKind.Steer, p.IsIPv6, p.Protocol);
        }

        ushort dstPort = (p.Flags & PacketFlags.HasPorts) != 0 ? p.DstPort : (ushort)0;
        vip = LookupVip(snap, p.Dst, dstPort, p.Protocol);
        if (vip < 0)
        {
            if (ExceptionPath && IsOwnAddress(snap, p.Dst, rxPort)) { counters.Count(Outcome.ToKernel); return Classified.ToKernel; }
            return Drop(p.Protocol is IpProtocol.Icmp or IpProtocol.IcmpV6 && snap.VipTable.ContainsAddress(p.Dst)
                ? DropReason.IcmpUnsupported : DropReason.NotForVip);
        }
        if (p.Protocol is IpProtocol.Icmp or IpProtocol.IcmpV6 && snap.Vips[vip].Protocol == 0)
            return Drop(DropReason.IcmpUnsupported);
        return SteerToVip(snap, frame, i, ref p, vip);
    }

    /// <summary>A parsed frame for <paramref name="vip"/> (not an ICMP error, not a fragment): its flow hash, the
    /// prefetches for the second pass, its kind and forwarding body, and its MPTCP signalling. What it needs of the VIP
    /// and its pool comes from <see cref="_vipFacts"/>, which <see cref="LookupVip"/> left describing <paramref name="vip"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    Classified SteerToVip(DataplaneSnapshot snap, byte* frame, int i, ref PacketInfo p, int vip)
    {
        Debug.Assert(vip == _lastVip && ReferenceEquals(snap, _lastSnapshot));
        ref FrameSlot slot = ref frames[i];
        ulong hash = Pin(frame, ref slot, ref p, vip, snap.FlowHashSeed, out bool syn);
        ref readonly VipFacts f = ref _vipFacts;
        if (f.JoinModes != 0 && p.Protocol == IpProtocol.Tcp) ClassifyMptcp(snap, frame, i, ref p, in snap.Vips[vip], syn);
        // A SYN is nearly always a flow-table miss that the second pass steers by Maglev: fetch its
        // slot too (a 65537-entry table is 256 KiB; the SYN flood's profile had this load as its top stall). Not for a
        // join's SYN, which its token places (stage stamps, join-enc-new: first pass 76.6-77.3 cycles per frame with its
        // Maglev slot fetched, 71.2-72.0 without).
        if (syn && f.ByMaglev && slot.Kind != FrameKind.Join) PrefetchMaglev(f.Pool!, hash);
        return Classified.Steer;
    }

    /// <summary>
    /// The first pass's common case over the whole burst, in one loop with no call in it (issue 14): every frame's
    /// transmit delta and length start as received; a frame of one segment that the straight pass parses, for the VIP
    /// <see cref="LookupVip"/> found last in this snapshot, is hashed and pinned here (<see cref="Pin"/>: what
    /// <see cref="SteerToVip"/> does for it). Returns the frames left to
    /// <see cref="Classify"/> (bit i = frame i); <paramref name="parsedMask"/>: those of them the straight pass already
    /// parsed; <paramref name="mptcpMask"/>: the TCP frames pinned here for a VIP that steers joins, whose MPTCP signalling
    /// <see cref="ClassifyMptcpFrames"/> reads next (before anything changes the cached VIP); <paramref name="udpMask"/>: with
    /// QUIC-LB configured (<paramref name="quic"/>), the UDP datagrams pinned here, for QuicSteering.Classify. Everything that can call (the general parser, the VIP table's probe, MPTCP signalling, answers)
    /// stays out of this loop, so that the JIT keeps its state in registers; the per-frame loop with those calls inlined
    /// next to them spilled and reloaded a dozen values per frame.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a loop of its own: the calls of the pass's other loop stay out of its registers
    public uint ClassifyCommon(DataplaneSnapshot snap, Burst burst, int n, bool quic, out uint parsedMask, out uint mptcpMask, out uint udpMask)
    {
        short* delta = burst.Delta;
        ushort* length = burst.Length, outLength = burst.OutLength, segments = burst.Segments;
        byte** data = burst.Data;
        byte* outPort = burst.OutPort;
        PacketInfo* info = frames.Info;
        FrameSlot* slots = frames.Slots;
        // The cached VIP, valid for the snapshot it was found in: under another, every frame goes to Classify, whose
        // lookup caches anew (port-and-protocol words are below 2^24: MaxValue never matches).
        ulong lastLo = _lastDstLo, lastHi = _lastDstHi;
        uint lastPortProto = ReferenceEquals(snap, _lastSnapshot) ? _lastPortProto : uint.MaxValue;
        int vip = _lastVip;
        bool joins = _vipFacts.JoinModes != 0;
        uint seed = snap.FlowHashSeed;
        uint slow = 0, parsed = 0, mptcp = 0, udp = 0;
        for (int i = 0; i < n; i++)
        {
            uint bit = 1u << i;
            ushort len = length[i];
            delta[i] = 0;
            outLength[i] = len;
            ref PacketInfo p = ref info[i];
            byte* frame = data[i];
            if (segments[i] > 1 || !PacketParser.TryParseCommon(frame, len, ref p)) { slow |= bit; continue; }
            parsed |= bit;
            if (p.Dst.Lo != lastLo || ((uint)p.DstPort << 8 | p.Protocol) != lastPortProto || p.Dst.Hi != lastHi) { slow |= bit; continue; }
            ulong hash = Pin(frame, ref slots[i], ref p, vip, seed, out bool syn);
            outPort[i] = Burst.DropPort; // steered: the forwarding pass writes its port
            // A join VIP's TCP segment: its signalling is read after the loop (it may make a SYN a join, which Maglev does
            // not place: the Maglev prefetch waits for that answer too).
            if (p.Protocol == IpProtocol.Tcp && joins) mptcp |= bit;
            else if (syn && _vipFacts.ByMaglev) PrefetchMaglev(_vipFacts.Pool!, hash);
            if (quic && p.Protocol == IpProtocol.Udp) udp |= bit;
        }
        parsedMask = parsed;
        mptcpMask = mptcp;
        udpMask = udp;
        return slow;
    }

    /// <summary>The MPTCP signalling of the frames <see cref="ClassifyCommon"/> pinned for the cached VIP, which steers
    /// joins (<paramref name="mask"/>: its mptcpMask), as <see cref="SteerToVip"/> reads it; then a SYN that is no join
    /// has its Maglev slot fetched.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void ClassifyMptcpFrames(DataplaneSnapshot snap, Burst burst, uint mask)
    {
        ref readonly VipEntry v = ref snap.Vips[_lastVip];
        while (mask != 0)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(mask);
            mask &= mask - 1;
            ref FrameSlot slot = ref frames[i];
            bool syn = slot.SynOpens;
            ClassifyMptcp(snap, burst.Data[i], i, ref frames.Info[i], in v, syn);
            if (syn && _vipFacts.ByMaglev && slot.Kind != FrameKind.Join) PrefetchMaglev(_vipFacts.Pool!, slot.Hash);
        }
    }

    /// <summary>A parsed frame for <paramref name="vip"/> (<see cref="_vipFacts"/> describes it): its flow hash (returned),
    /// the headroom prefetch for an encapsulating pool, its slot (VIP, hash, kind, timeouts, body; no token action).
    /// <paramref name="syn"/>: a TCP SYN without ACK.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    ulong Pin(byte* frame, ref FrameSlot slot, ref PacketInfo p, int vip, uint seed, out bool syn)
    {
        ref readonly VipFacts f = ref _vipFacts;
        ulong hash = FlowHash.Of(p, seed);
        // The flow-table bucket is prefetched after the pass, for the whole burst at once (BurstProcessor.PrefetchBuckets).
        // Encapsulation writes its outer headers into the headroom, the cache line in front of the
        // frame, which nothing has touched yet: fetch it now rather than stall the second pass's stores.
        if (f.Encapsulates && Sse.IsSupported) Sse.Prefetch0(frame - 1);
        syn = p.Protocol == IpProtocol.Tcp && (p.TcpFlags & (TcpFlag.Syn | TcpFlag.Ack)) == TcpFlag.Syn;
        // Pin TCP flows from their SYN, UDP flows from their first packet (docs/design.md).
        slot.Vip = vip;
        slot.Hash = hash;
        slot.Kind = p.Protocol == IpProtocol.Udp || syn ? FrameKind.SteerPin : FrameKind.Steer;
        slot.SynOpens = syn;
        // The steering pass's timeouts, from the pool at hand (its flow-table hits then read nothing else of VIP and pool).
        uint idle = p.Protocol == IpProtocol.Udp ? f.UdpIdleTicks : f.TcpIdleTicks;
        slot.IdleTicks = idle;
        // A SYN's pin lives for the handshake only (FlowSteering).
        slot.PinIdleTicks = syn ? f.HandshakeIdleTicks : idle;
        slot.Action = TokenAction.None;
        slot.Body = p.IsIPv6 ? f.Body6 : f.Body4;
        return hash;
    }

    // The last (destination, port, protocol) that found a VIP, and in which snapshot: consecutive frames of a burst
    // mostly go to one service, and comparing three words is cheaper than the table's probe.
    DataplaneSnapshot? _lastSnapshot;
    ulong _lastDstHi, _lastDstLo;
    uint _lastPortProto;
    int _lastVip;

    /// <summary>What the first pass reads of a VIP and its pool for every frame, taken from the snapshot when the VIP
    /// was looked up (<see cref="LookupVipMiss"/>) and kept beside the last VIP found: a frame of the same service then
    /// reads a few fields of this object, not the VIP's entry, its pool's array slot and the pool's fields (three dependent
    /// loads and two range checks). Valid for that snapshot only, which the cache's key includes (a new snapshot may change
    /// a pool's mode or timeouts behind the same VIP).</summary>
    struct VipFacts
    {
        public PoolEntry? Pool;          // for the Maglev prefetch
        public uint TcpIdleTicks, UdpIdleTicks, HandshakeIdleTicks;
        public uint JoinModes;
        public ForwardBody Body4, Body6;
        public bool Encapsulates;        // the pool's mode is not L2 DSR
        public bool ByMaglev;            // no announced backend: a new flow is steered by the pool's Maglev table
    }
    VipFacts _vipFacts;

    /// <summary><see cref="VipTable.Lookup"/>, answered from the last hit when the frame goes to the same service
    /// (the same destination, port and protocol, and the same snapshot). A VIP found leaves <see cref="_vipFacts"/>
    /// describing it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    int LookupVip(DataplaneSnapshot snap, in Addr128 dst, ushort port, byte protocol)
    {
        uint portProto = (uint)port << 8 | protocol;
        if (dst.Lo == _lastDstLo && portProto == _lastPortProto && dst.Hi == _lastDstHi && ReferenceEquals(snap, _lastSnapshot))
            return _lastVip;
        return LookupVipMiss(snap, dst, port, protocol, portProto);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    int LookupVipMiss(DataplaneSnapshot snap, in Addr128 dst, ushort port, byte protocol, uint portProto)
    {
        int vip = snap.VipTable.Lookup(dst, port, protocol);
        if (vip >= 0)
        {
            ref readonly var v = ref snap.Vips[vip];
            var pool = snap.Pools[v.Pool];
            _vipFacts = new VipFacts
            {
                Pool = pool,
                TcpIdleTicks = pool.TcpIdleTicks,
                UdpIdleTicks = pool.UdpIdleTicks,
                HandshakeIdleTicks = pool.HandshakeIdleTicks,
                JoinModes = v.JoinModes,
                Body4 = Forwarder.BodyOf(pool.Mode, v6: false),
                Body6 = Forwarder.BodyOf(pool.Mode, v6: true),
                Encapsulates = pool.Mode != ForwardingMode.L2Dsr,
                ByMaglev = v.AnnouncedBackend < 0,
            };
            _lastSnapshot = snap;
            _lastDstHi = dst.Hi;
            _lastDstLo = dst.Lo;
            _lastPortProto = portProto;
            _lastVip = vip;
        }
        return vip;
    }

    /// <summary>ICMP errors and fragments: the frame goes to <paramref name="vip"/> with this hash, never pinned anew.
    /// <paramref name="flowProtocol"/>: the flow's own protocol (an ICMP error refreshes the quoted flow's entry, and must
    /// not stretch a UDP flow to the TCP timeout).</summary>
    Classified Steer(DataplaneSnapshot snap, int i, int vip, ulong hash, FrameKind kind, bool v6, byte flowProtocol)
    {
        ref FrameSlot slot = ref frames[i];
        var pool = snap.Pools[snap.Vips[vip].Pool];
        slot.Vip = vip;
        slot.Hash = hash;
        slot.Kind = kind;
        slot.SynOpens = false;
        slot.IdleTicks = slot.PinIdleTicks = flowProtocol == IpProtocol.Udp ? pool.UdpIdleTicks : pool.TcpIdleTicks;
        slot.Body = Forwarder.BodyOf(pool.Mode, v6);
        return Classified.Steer;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchMaglev(PoolEntry pool, ulong hash)
    {
        int[] table = pool.Maglev;
        if (table.Length == 0 || !Sse.IsSupported) return;
        // The same slot FlowSteering reads. Only a hint: if the GC moved the array meanwhile, the
        // prefetch warms a stale line and nothing else happens.
        Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(table), (nint)(uint)Maglev.Slot(hash, table.Length, pool.MaglevMultiplier))));
    }

    /// <summary>MPTCP signalling of a TCP segment to a VIP that steers joins: joins, keys to learn, closes. A call of
    /// its own: the option walk dwarfs the call, and the first pass's loop stays small for the frames without it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    void ClassifyMptcp(DataplaneSnapshot snap, byte* frame, int i, ref PacketInfo p, in VipEntry v, bool syn)
    {
        // The join's SYN, the one kind of segment a join flood is made of, without the general decoder (same answer).
        if (syn && p.TcpOptionsLength != 0 && TryJoinSyn(frame + p.TcpOptionsOffset, p.TcpOptionsLength, out uint token))
        {
            MarkJoin(snap, i, in v, token);
            return;
        }
        bool learning = learnedTokens && v.Has(JoinMode.LearnedToken);
        var r = p.TcpOptionsLength == 0 ? MptcpParse.None
            : MptcpOptions.Parse(frame + p.TcpOptionsOffset, p.TcpOptionsLength, p.TcpFlags, p.PayloadLength, ref _mp);
        if (r == MptcpParse.Malformed)
        {
            // Never steer on half-understood signalling: forwarded as plain TCP, which is also what the
            // backend's Linux makes of an option it cannot parse.
            counters.Add(GlobalCounter.MptcpMalformedOptions);
        }
        else if (r == MptcpParse.Ok)
        {
            if (syn && (_mp.Subtypes & MptcpSubtypes.Join) != 0)
            {
                MarkJoin(snap, i, in v, _mp.JoinToken);
                return;
            }
            if (learning && (_mp.Subtypes & MptcpSubtypes.FastClose) != 0)
            {
                frames[i].Action = TokenAction.FastClose;
                frames[i].Key = _mp.FastCloseKey;
                return;
            }
            if (learning && !syn && (_mp.Subtypes & MptcpSubtypes.Capable) != 0 && _mp.HasReceiverKey)
            {
                frames[i].Action = TokenAction.Learn;
                frames[i].Key = _mp.ReceiverKey; // the server's key, echoed by the client
                return;
            }
        }
        if (learning) frames[i].Action = TokenAction.Track;
    }

    /// <summary>An MP_JOIN SYN with <paramref name="token"/>: steered by its token in the second pass, decrypted in between
    /// when the VIP routes encrypted tokens and the token names a key.</summary>
    void MarkJoin(DataplaneSnapshot snap, int i, in VipEntry v, uint token)
    {
        ref FrameSlot slot = ref frames[i];
        slot.Kind = FrameKind.Join;
        slot.JoinToken = token;
        slot.ServerId = FrameState.NoServerId;
        if (snap.TokenKeys is not null && v.Has(JoinMode.EncryptedToken) && TokenCipher.KeyId(token) != TokenKeys.NotRoutableKeyId)
            frames.QueueDecrypt(i, token);
    }

    /// <summary>
    /// The options of a SYN (without ACK) whose every MPTCP option is an MP_JOIN of the SYN's length (12 bytes): true,
    /// with the first one's token. This is exactly what <see cref="MptcpOptions.Parse"/> decodes such a segment to (a valid
    /// join); anything else (no MPTCP option, another subtype, a bad length) returns false and goes to the general decoder.
    /// The area's kinds and lengths were checked by the parser (every option lies inside it; EOL ends it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryJoinSyn(byte* options, int length, out uint token)
    {
        token = 0;
        bool found = false;
        int o = 0;
        while (o < length)
        {
            byte kind = options[o];
            if (kind == 0) break;            // EOL
            if (kind == 1) { o++; continue; } // NOP
            int len = options[o + 1];
            if (kind == MptcpOptions.Kind)
            {
                if (len != 12 || options[o + 2] >> 4 != MptcpOptions.MpJoin) return false;
                if (!found) { token = BigEndian.ReadU32(options + o + 4); found = true; }
            }
            o += len;
        }
        return found;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    Classified Drop(DropReason r)
    {
        counters.Drop(r);
        return Classified.Dropped;
    }
}
