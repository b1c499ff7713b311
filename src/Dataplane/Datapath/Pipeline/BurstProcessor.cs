using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Forwarding;
using Switchyard.Dataplane.Datapath.Mptcp;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Dataplane.Datapath.Pipeline;

/// <summary>
/// The packet path of one worker: parse, look up the VIP, steer, forward, for a whole burst.
/// Reads the snapshot once per burst. Owns the worker's flow table and counters; the one shared
/// structure is the learned-token table (lock-free, see <see cref="LearnedTokenTable"/>). No
/// allocation, logging, locks or syscalls (asserted by a test and by the benchmarks' MemoryDiagnoser).
///
/// Two passes per burst: the first parses and classifies every frame (answering ARP/NDP and
/// counting drops at once) and collects the tokens of the MP_JOIN SYNs whose VIP steers by
/// encrypted token; those are decrypted together (8 AES blocks in flight, see TokenCipher); the
/// second pass steers and forwards what is left. The first pass also prefetches every frame's
/// flow-table bucket, so the second pass's lookups find them in cache.
/// </summary>
public sealed unsafe partial class BurstProcessor : IBurstHandler, IDisposable
{
    readonly SnapshotHolder _snapshots;
    readonly FlowTable _flows;
    readonly WorkerCounters _counters;
    readonly LearnedTokenTable? _learned;
    // Per worker: initial subflow (flow hash) -> its learned token, to refresh the token while the
    // connection lives and to forget it on FIN/RST. Joined subflows are not in it (their FIN must not
    // forget the connection's token).
    readonly FlowTable _flowTokens;
    MptcpInfo _mp;

    // Per-frame state carried from the first pass to the second (allocated once).
    readonly PacketInfo[] _info = new PacketInfo[Burst.Size];
    readonly int[] _vip = new int[Burst.Size];          // -1: finished in the first pass
    readonly ulong[] _hash = new ulong[Burst.Size];
    readonly byte[] _kind = new byte[Burst.Size];       // Kind
    readonly byte[] _action = new byte[Burst.Size];     // TokenAction
    readonly ulong[] _key = new ulong[Burst.Size];      // MPTCP key to learn from / fast-close with
    readonly uint[] _joinToken = new uint[Burst.Size];
    readonly int[] _serverId = new int[Burst.Size];     // decrypted server id of a join, or -1
    readonly uint[] _batchTokens = new uint[Burst.Size];
    readonly uint[] _batchIds = new uint[Burst.Size];
    readonly byte[] _batchOk = new byte[Burst.Size];
    readonly byte[] _batchFrame = new byte[Burst.Size];

    static class Kind { public const byte Steer = 0, SteerPin = 1, Join = 2, Quic = 3; } // Quic: BurstProcessor.Quic.cs
    static class TokenAction { public const byte None = 0, Learn = 1, FastClose = 2, Track = 3; }

    /// <param name="learned">The learned-token table shared by every worker (null: learned-token mode places no joins).</param>
    public BurstProcessor(SnapshotHolder snapshots, FlowTable flows, WorkerCounters counters, LearnedTokenTable? learned = null)
    {
        _snapshots = snapshots;
        _flows = flows;
        _counters = counters;
        _learned = learned;
        _flowTokens = new FlowTable(learned is null ? 1024 : Math.Max(1024, flows.Capacity / 4));
    }

    public FlowTable Flows => _flows;
    public WorkerCounters Counters => _counters;

    public void Process(Burst burst, byte rxPort, uint now)
    {
        var snap = _snapshots.Current; // one acquire per burst; see SnapshotHolder
        int n = burst.Count;
        int batch = 0;
        _quicBatch = 0;
        for (int i = 0; i < n; i++)
        {
            burst.Delta[i] = 0;
            burst.OutLength[i] = burst.Length[i];
            _vip[i] = -1;
            burst.OutPort[i] = Classify(snap, burst, i, rxPort, ref batch);
        }
        if (batch > 0) DecryptJoinTokens(snap, batch);
        if (_quicBatch > 0) DecodeQuicCids(snap); // QUIC-LB (BurstProcessor.Quic.cs)
        for (int i = 0; i < n; i++)
        {
            if (_vip[i] < 0) continue;
            burst.OutPort[i] = _kind[i] == Kind.Join
                ? SteerJoin(snap, burst, i, rxPort, now)
                : _kind[i] == Kind.Quic ? SteerQuic(snap, burst, i, rxPort, now)
                : SteerAndForward(snap, burst, i, rxPort, now, _vip[i], _hash[i], _kind[i] == Kind.SteerPin);
        }
        // Sweep one bucket (one cache line) per burst: lookups expire lazily, but an entry never
        // looked at again for 2^31 ms would otherwise look live after the tick counter wraps.
        _flows.ExpireSome(now, 1);
        if (_learned is not null)
        {
            _flowTokens.ExpireSome(now, 1);
            _learned.ExpireSome(now, snap.LearnedTokenIdleTicks, 1);
        }
    }

    /// <summary>
    /// First pass. Returns the egress port of a frame finished here (a drop, an ARP/NDP answer), or
    /// DropPort with _vip[i] >= 0 for a frame the second pass steers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    byte Classify(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, ref int batch)
    {
        if (burst.Segments[i] > 1) return Drop(DropReason.MultiSegment);
        byte* frame = burst.Data[i];
        int len = burst.Length[i];
        ref PacketInfo p = ref _info[i];
        var parsed = PacketParser.Parse(frame, len, ref p);
        if (parsed != DropReason.None) return Drop(parsed);

        if ((p.Flags & (PacketFlags.Arp | PacketFlags.NeighborSolicitation)) != 0)
            return AnswerNeighbor(snap, frame, len, burst, i, rxPort, ref p);

        _action[i] = TokenAction.None;
        int vip;
        if ((p.Flags & PacketFlags.IcmpError) != 0)
        {
            // The quoted packet went from the VIP to the client; the flow we pinned is the reverse.
            vip = snap.VipTable.Lookup(p.InnerSrc, p.InnerSrcPort, p.InnerProtocol);
            if (vip < 0) return Drop(DropReason.NotForVip);
            _hash[i] = FlowHash.FiveTuple(p.InnerDst, p.InnerSrc, p.InnerDstPort, p.InnerSrcPort, p.InnerProtocol, snap.FlowHashSeed);
            _flows.Prefetch(_hash[i]);
            _counters.Add(GlobalCounter.IcmpErrorsRouted);
            _kind[i] = Kind.Steer;
            _vip[i] = vip;
            return Burst.DropPort;
        }

        if ((p.Flags & PacketFlags.Fragment) != 0)
        {
            vip = snap.VipTable.LookupForFragment(p.Dst, p.Protocol);
            if (vip < 0) return Drop(DropReason.NotForVip);
            if (snap.Pools[snap.Vips[vip].Pool].Fragments == FragmentPolicy.Drop) return Drop(DropReason.FragmentDropped);
            // Every fragment of a datagram, first or not, hashes the same way and is never pinned.
            _hash[i] = FlowHash.ThreeTuple(p.Src, p.Dst, p.Protocol, snap.FlowHashSeed);
            _counters.Add(GlobalCounter.FragmentsHashed);
            _kind[i] = Kind.Steer;
            _vip[i] = vip;
            return Burst.DropPort;
        }

        ushort dstPort = (p.Flags & PacketFlags.HasPorts) != 0 ? p.DstPort : (ushort)0;
        vip = snap.VipTable.Lookup(p.Dst, dstPort, p.Protocol);
        if (vip < 0)
            return Drop(p.Protocol is IpProtocol.Icmp or IpProtocol.IcmpV6 && snap.VipTable.ContainsAddress(p.Dst)
                ? DropReason.IcmpUnsupported : DropReason.NotForVip);
        ref readonly var v = ref snap.Vips[vip];
        if (p.Protocol is IpProtocol.Icmp or IpProtocol.IcmpV6 && v.Protocol == 0)
            return Drop(DropReason.IcmpUnsupported);
        _hash[i] = FlowHash.Of(p, snap.FlowHashSeed);
        // The second pass looks this bucket up; by then the load has had the rest of the burst to land
        // (a 1M-entry table is 16 MiB: without this, nearly every lookup waits for DRAM).
        _flows.Prefetch(_hash[i]);
        var pool = snap.Pools[v.Pool];
        // Encapsulation writes its outer headers into the headroom, the cache line in front of the
        // frame, which nothing has touched yet: fetch it now rather than stall the second pass's stores.
        if (pool.Mode != ForwardingMode.L2Dsr && Sse.IsSupported) Sse.Prefetch0(frame - 1);
        bool syn = p.Protocol == IpProtocol.Tcp && (p.TcpFlags & (TcpFlag.Syn | TcpFlag.Ack)) == TcpFlag.Syn;
        // A SYN is nearly always a flow-table miss that the second pass steers by Maglev: fetch its
        // slot too (a 65537-entry table is 256 KiB; the SYN flood's profile had this load as its top stall).
        if (syn && v.AnnouncedBackend < 0) PrefetchMaglev(pool.Maglev, _hash[i]);
        // Pin TCP flows from their SYN, UDP flows from their first packet (design.md).
        _kind[i] = p.Protocol == IpProtocol.Udp || syn ? Kind.SteerPin : Kind.Steer;
        _vip[i] = vip;
        if (v.JoinModes != 0 && p.Protocol == IpProtocol.Tcp) ClassifyMptcp(snap, frame, i, ref p, in v, syn, ref batch);
        // QUIC-LB (BurstProcessor.Quic.cs): a malformed QUIC header is dropped under its own reason.
        if (v.QuicLb && p.Protocol == IpProtocol.Udp && snap.QuicLb is not null)
        {
            var bad = ClassifyQuic(snap, frame, i, ref p);
            if (bad != DropReason.None) { _vip[i] = -1; return Drop(bad); }
        }
        return Burst.DropPort;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchMaglev(int[] table, ulong hash)
    {
        if (table.Length == 0 || !Sse.IsSupported) return;
        // The same slot SteerAndForward reads. Only a hint: if the GC moved the array meanwhile, the
        // prefetch warms a stale line and nothing else happens.
        Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(table), (nint)((uint)hash % (uint)table.Length))));
    }

    /// <summary>MPTCP signalling of a TCP segment to a VIP that steers joins: joins, keys to learn, closes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void ClassifyMptcp(DataplaneSnapshot snap, byte* frame, int i, ref PacketInfo p, in VipEntry v, bool syn, ref int batch)
    {
        bool learning = _learned is not null && v.Has(JoinMode.LearnedToken);
        var r = p.TcpOptionsLength == 0 ? MptcpParse.None
            : MptcpOptions.Parse(frame + p.TcpOptionsOffset, p.TcpOptionsLength, p.TcpFlags, p.PayloadLength, ref _mp);
        if (r == MptcpParse.Malformed)
        {
            // Never steer on half-understood signalling: forwarded as plain TCP, which is also what the
            // backend's Linux makes of an option it cannot parse.
            _counters.Add(GlobalCounter.MptcpMalformedOptions);
        }
        else if (r == MptcpParse.Ok)
        {
            if (syn && (_mp.Subtypes & MptcpSubtypes.Join) != 0)
            {
                _kind[i] = Kind.Join;
                _joinToken[i] = _mp.JoinToken;
                _serverId[i] = -1;
                if (snap.TokenKeys is not null && v.Has(JoinMode.EncryptedToken) && TokenCipher.KeyId(_mp.JoinToken) != TokenKeys.NotRoutableKeyId)
                {
                    _batchTokens[batch] = _mp.JoinToken;
                    _batchFrame[batch++] = (byte)i;
                }
                return;
            }
            if (learning && (_mp.Subtypes & MptcpSubtypes.FastClose) != 0)
            {
                _action[i] = TokenAction.FastClose;
                _key[i] = _mp.FastCloseKey;
                return;
            }
            if (learning && !syn && (_mp.Subtypes & MptcpSubtypes.Capable) != 0 && _mp.HasReceiverKey)
            {
                _action[i] = TokenAction.Learn;
                _key[i] = _mp.ReceiverKey; // the server's key, echoed by the client
                return;
            }
        }
        if (learning) _action[i] = TokenAction.Track;
    }

    void DecryptJoinTokens(DataplaneSnapshot snap, int batch)
    {
        TokenCipher.DecryptServerIds(_batchTokens.AsSpan(0, batch), _batchIds.AsSpan(0, batch), _batchOk.AsSpan(0, batch), snap.TokenKeys!);
        for (int j = 0; j < batch; j++)
            if (_batchOk[j] != 0) _serverId[_batchFrame[j]] = (int)_batchIds[j];
    }

    /// <summary>Second pass for an MP_JOIN SYN: the join modes of its VIP, in order; never a random backend.</summary>
    byte SteerJoin(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, uint now)
    {
        int vip = _vip[i];
        ref readonly var v = ref snap.Vips[vip];
        var pool = snap.Pools[v.Pool];
        var backends = snap.Backends;
        ulong hash = _hash[i];
        // A retransmitted join SYN follows the choice made for the first one.
        if (_flows.Lookup(hash, now, pool.TcpIdleTicks, out uint pinned) == FlowLookup.Hit
            && pinned < (uint)backends.Length && backends[pinned].Usable)
        {
            _counters.Add(GlobalCounter.FlowHits);
            return Forward(snap, pool, burst, i, rxPort, vip, (int)pinned, hash);
        }
        _counters.Add(GlobalCounter.JoinsSeen);
        int id = -1;
        bool collided = false;
        for (uint modes = v.JoinModes; modes != 0 && id < 0; modes >>= 4)
        {
            switch ((JoinMode)(modes & 0xF))
            {
                case JoinMode.EncryptedToken:
                    int sid = _serverId[i];
                    var map = pool.ServerIdToBackend;
                    if ((uint)sid < (uint)map.Length && map[sid] >= 0 && backends[map[sid]].Usable)
                    {
                        id = map[sid];
                        _counters.Add(GlobalCounter.JoinsByEncryptedToken);
                    }
                    break;
                case JoinMode.LearnedToken:
                    if (_learned is null) break;
                    var r = _learned.Lookup(_joinToken[i], now, snap.LearnedTokenIdleTicks, out uint learned);
                    if (r == TokenLookup.Found && learned < (uint)backends.Length && backends[learned].Usable)
                    {
                        id = (int)learned;
                        _counters.Add(GlobalCounter.JoinsByLearnedToken);
                    }
                    else if (r == TokenLookup.Collided) collided = true;
                    break;
                case JoinMode.AnnouncedPort:
                    if (v.AnnouncedBackend >= 0 && backends[v.AnnouncedBackend].Usable)
                    {
                        id = v.AnnouncedBackend;
                        _counters.Add(GlobalCounter.JoinsByAnnouncedPort);
                    }
                    break;
                // AnnouncedAddress: joins go to the servers' own addresses; one that reaches a VIP has
                // nowhere to go.
            }
        }
        if (id < 0)
        {
            _counters.Add(GlobalCounter.JoinsUnplaceable);
            if (collided) _counters.Add(GlobalCounter.JoinsWithCollidedToken);
            return RejectJoin(snap, burst, i, rxPort);
        }
        // Pin the join's own 5-tuple: its SYN/ACK-ACK and data carry no token.
        if (_flows.Insert(hash, (uint)id, now, pool.TcpIdleTicks) == FlowInsert.Replaced) _counters.Add(GlobalCounter.FlowEvictions);
        _counters.Add(GlobalCounter.FlowInserts);
        _counters.AddVip(vip, ServiceCounter.NewFlows);
        _counters.AddBackend(id, ServiceCounter.NewFlows);
        return Forward(snap, pool, burst, i, rxPort, vip, id, hash);
    }

    /// <summary>An unplaceable join: a TCP RST with MP_TCPRST "MPTCP-specific error" (RFC 8684 3.2), or a drop.</summary>
    byte RejectJoin(DataplaneSnapshot snap, Burst burst, int i, byte rxPort)
    {
        if (!snap.ResetUnplaceableJoins) return Drop(DropReason.JoinUnplaceable);
        const byte MptcpSpecificError = 1;
        var r = TcpReset.BuildForSyn(burst.Data[i], burst.Length[i], _info[i], snap.Ports[rxPort].Mac, withMpTcpRst: true,
            MptcpSpecificError, out ushort newLen);
        if (r != DropReason.None) return Drop(r);
        burst.OutLength[i] = newLen;
        _counters.Count(Outcome.JoinReset);
        return rxPort;
    }

    /// <summary>After a non-join segment of a learned-token VIP went to backend <paramref name="id"/>: learn, refresh or forget its token.</summary>
    void TrackToken(DataplaneSnapshot snap, int i, int id, uint now, uint idle)
    {
        var learned = _learned!;
        ulong hash = _hash[i];
        switch (_action[i])
        {
            case TokenAction.Learn:
                // The client repeats MP_CAPABLE on the third ACK and its first data segment: hash once.
                if (_flowTokens.Lookup(hash, now, idle, out _) == FlowLookup.Hit) goto case TokenAction.Track;
                uint token = TokenLearning.Token(_key[i]);
                switch (learned.Learn(token, (uint)id, now))
                {
                    case LearnResult.Learned: _counters.Add(GlobalCounter.TokensLearned); break;
                    case LearnResult.Collision: _counters.Add(GlobalCounter.TokenCollisions); break;
                    case LearnResult.Full: _counters.Add(GlobalCounter.TokenTableFull); return;
                }
                _flowTokens.Insert(hash, token, now, idle);
                break;
            case TokenAction.FastClose:
                if (learned.Forget(TokenLearning.Token(_key[i]), (uint)id)) _counters.Add(GlobalCounter.TokensForgotten);
                _flowTokens.Remove(hash);
                break;
            case TokenAction.Track:
                if (_flowTokens.Lookup(hash, now, idle, out uint known) != FlowLookup.Hit) break;
                if ((_info[i].TcpFlags & (TcpFlag.Fin | TcpFlag.Rst)) != 0)
                {
                    // The initial subflow ends: so does the connection, as far as new joins go.
                    if (learned.Forget(known, (uint)id)) _counters.Add(GlobalCounter.TokensForgotten);
                    _flowTokens.Remove(hash);
                }
                else learned.Learn(known, (uint)id, now); // refresh while the connection lives
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    byte SteerAndForward(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, uint now, int vip, ulong hash, bool mayPin)
    {
        ref PacketInfo p = ref _info[i];
        ref readonly var v = ref snap.Vips[vip];
        var pool = snap.Pools[v.Pool];
        // The flow's own protocol: an ICMP error refreshes the quoted flow's entry, and must not stretch
        // a UDP flow to the TCP timeout.
        byte flowProtocol = (p.Flags & PacketFlags.IcmpError) != 0 ? p.InnerProtocol : p.Protocol;
        uint idle = flowProtocol == IpProtocol.Udp ? pool.UdpIdleTicks : pool.TcpIdleTicks;
        var backends = snap.Backends;
        int id;
        bool hit = _flows.Lookup(hash, now, idle, out uint pinned) == FlowLookup.Hit;
        // A SYN opens a connection: one that finds a live entry is a retransmission (keep it) or a new
        // connection on a reused 5-tuple (the client's TIME_WAIT ends long before the entry idles out). A
        // new connection must not follow an old pin to a backend that takes no new flows (draining,
        // weight 0), and is no old connection to reset: it is steered afresh and pinned.
        bool synOpens = mayPin && p.Protocol == IpProtocol.Tcp;
        if (hit && pinned < (uint)backends.Length && backends[pinned].Usable && (!synOpens || backends[pinned].TakesNewFlows))
        {
            id = (int)pinned;
            _counters.Add(GlobalCounter.FlowHits);
        }
        else
        {
            // Pinned to a backend that is down, disabled or removed, policy "reset".
            if (hit && !synOpens && pool.RemovedFlows == RemovedFlowPolicy.Reset) return ResetGoneFlow(snap, burst, i, rxPort, hash);
            if (v.AnnouncedBackend >= 0)
            {
                // VIP:P announced by one backend: everything to it goes there, pinned or not.
                id = v.AnnouncedBackend;
                if (!backends[id].Usable) return Drop(DropReason.NoBackend);
            }
            else
            {
                var table = pool.Maglev;
                if (table.Length == 0) return Drop(DropReason.NoBackend);
                id = table[(uint)hash % (uint)table.Length];
            }
            if (hit && !synOpens)
            {
                // Pinned to a backend that is down, disabled or removed, policy "rehash": re-steer by
                // Maglev and re-pin, so the rest of the flow follows the new choice.
                _flows.Insert(hash, (uint)id, now, idle);
                _counters.Add(GlobalCounter.FlowRepins);
            }
            else if (mayPin)
            {
                if (_flows.Insert(hash, (uint)id, now, idle) == FlowInsert.Replaced) _counters.Add(GlobalCounter.FlowEvictions);
                _counters.Add(GlobalCounter.FlowInserts);
                _counters.AddVip(vip, ServiceCounter.NewFlows);
                _counters.AddBackend(id, ServiceCounter.NewFlows);
            }
            else _counters.Add(GlobalCounter.MaglevSteered);
        }
        if (_action[i] != TokenAction.None) TrackToken(snap, i, id, now, idle);
        return Forward(snap, pool, burst, i, rxPort, vip, id, hash);
    }

    /// <summary>"reset" policy for a flow pinned to a gone backend: the entry is removed, a TCP segment is
    /// answered with a RST (no MP_TCPRST: the whole connection is gone), anything else is dropped.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    byte ResetGoneFlow(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, ulong hash)
    {
        _flows.Remove(hash);
        _counters.Add(GlobalCounter.FlowResets);
        if (_info[i].Protocol != IpProtocol.Tcp || (_info[i].Flags & PacketFlags.IcmpError) != 0) return Drop(DropReason.BackendGone);
        var r = TcpReset.BuildForSyn(burst.Data[i], burst.Length[i], _info[i], snap.Ports[rxPort].Mac, withMpTcpRst: false, 0, out ushort newLen);
        if (r != DropReason.None) return Drop(DropReason.BackendGone);
        burst.OutLength[i] = newLen;
        _counters.Count(Outcome.FlowReset);
        return rxPort;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    byte Forward(DataplaneSnapshot snap, PoolEntry pool, Burst burst, int i, byte rxPort, int vip, int id, ulong hash)
    {
        ref PacketInfo p = ref _info[i];
        ref readonly var be = ref snap.Backends[id];
        var egress = snap.Ports[be.EgressPort];
        byte* frame = burst.Data[i];
        int len = burst.Length[i];
        if (pool.Mode == ForwardingMode.L2Dsr)
        {
            Encapsulation.L2Rewrite(frame, be.Mac, egress.Mac);
        }
        else
        {
            var e = new EncapParams
            {
                Mode = pool.Mode,
                OuterSource = Encapsulation.OuterSource(pool, hash, p.IsIPv6),
                OuterDestination = be.Address,
                DstMac = be.Mac != 0 ? be.Mac : egress.GatewayMac,
                SrcMac = egress.Mac,
                GuePort = pool.GuePort,
                // Ephemeral range 49152..65535 from flow-hash bits Maglev does not use: the backend's
                // NIC hashes on it and spreads flows over its queues.
                GueSourcePort = (ushort)(0xC000 | (hash >> 48) & 0x3FFF),
                FlowLabel = (uint)(hash >> 32) & 0xFFFFF,
                Mtu = egress.Mtu,
                KeepVlan = true,
            };
            // Delta and length go straight into the burst (written only on Ok).
            var r = Encapsulation.EncapsulateInto(frame, len, burst.Headroom[i], p, e, ref burst.Delta[i], ref burst.OutLength[i]);
            if (r == EncapResult.TooBig)
                return AnswerTooBig(snap, burst, i, rxPort, ref p, Encapsulation.InnerMtu(e, p.IsIPv6));
            if (r != EncapResult.Ok) return Drop(DropReason.NoHeadroom);
        }
        _counters.Count(Outcome.Forwarded);
        _counters.AddVip(vip, ServiceCounter.Packets);
        _counters.AddVip(vip, ServiceCounter.Bytes, len);
        _counters.AddBackend(id, ServiceCounter.Packets);
        _counters.AddBackend(id, ServiceCounter.Bytes, len);
        return be.EgressPort;
    }

    byte AnswerTooBig(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, ref PacketInfo p, int usableMtu)
    {
        // IPv4 without DF may legally be fragmented by a router; we do not fragment the outer packet,
        // so it is dropped under its own reason rather than answered with a misleading ICMP.
        // Never answer an ICMP error with an ICMP error (RFC 1122 3.2.2, RFC 4443 2.4).
        if ((p.Flags & PacketFlags.IcmpError) != 0) return Drop(DropReason.EncapTooBigIcmpError);
        if (!Encapsulation.AnswersTooBig(p)) return Drop(DropReason.EncapTooBigNoDf);
        var port = snap.Ports[rxPort];
        Addr128 source = p.Dst; // the VIP, unless the port has an address of the family
        foreach (var a in port.Addresses)
            if (a.IsV4 == p.IsIPv4) { source = a; break; }
        var r = IcmpTooBig.Build(burst.Data[i], burst.Length[i], burst.Headroom[i], p, port.Mac, source, usableMtu, out short delta, out ushort newLen);
        if (r != DropReason.None) return Drop(r);
        burst.Delta[i] = delta;
        burst.OutLength[i] = newLen;
        _counters.Count(Outcome.IcmpTooBigSent);
        return rxPort;
    }

    byte AnswerNeighbor(DataplaneSnapshot snap, byte* frame, int len, Burst burst, int i, byte rxPort, ref PacketInfo p)
    {
        var port = snap.Ports[rxPort];
        if ((p.Flags & PacketFlags.Arp) != 0)
        {
            if (p.ArpOperation != 1 || !snap.LocalAddresses.Contains(Addr128.FromV4(p.ArpTargetIp), rxPort))
                return Drop(DropReason.ArpNotForUs);
            Neighbor.ArpReply(frame, p, port.Mac);
            _counters.Count(Outcome.ArpReplied);
            return rxPort;
        }
        if (!snap.LocalAddresses.Contains(p.NdTarget, rxPort)) return Drop(DropReason.NdpNotForUs);
        // Tailroom 0: the shim does not report it, so a solicitation without a source link-layer
        // option (only duplicate address detection sends those) is not answered.
        var r = Neighbor.NdpAdvertise(frame, len, 0, p, port.Mac, out ushort newLen);
        if (r != DropReason.None) return Drop(DropReason.NdpMalformed);
        burst.OutLength[i] = newLen;
        _counters.Count(Outcome.NdpReplied);
        return rxPort;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    byte Drop(DropReason r)
    {
        _counters.Drop(r);
        return Burst.DropPort;
    }

    public void Dispose()
    {
        _flows.Dispose();
        _flowTokens.Dispose();
    }
}
