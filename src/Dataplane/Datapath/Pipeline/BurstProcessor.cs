using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Forwarding;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Dataplane.Datapath.Pipeline;

/// <summary>
/// The packet path of one worker: parse, look up the VIP, steer, forward, for a whole burst.
/// Reads the snapshot once per burst. Owns the worker's flow table and counters; nothing here is
/// shared with another worker, so there are no locks and no atomics. No allocation, logging or
/// syscalls (asserted by a test and by the benchmarks' MemoryDiagnoser).
/// </summary>
public sealed unsafe class BurstProcessor : IBurstHandler, IDisposable
{
    readonly SnapshotHolder _snapshots;
    readonly FlowTable _flows;
    readonly WorkerCounters _counters;
    PacketInfo _info;

    public BurstProcessor(SnapshotHolder snapshots, FlowTable flows, WorkerCounters counters)
    {
        _snapshots = snapshots;
        _flows = flows;
        _counters = counters;
    }

    public FlowTable Flows => _flows;
    public WorkerCounters Counters => _counters;

    public void Process(Burst burst, byte rxPort, uint now)
    {
        var snap = _snapshots.Current; // one acquire per burst; see SnapshotHolder
        int n = burst.Count;
        for (int i = 0; i < n; i++)
        {
            burst.Delta[i] = 0;
            burst.OutLength[i] = burst.Length[i];
            burst.OutPort[i] = ProcessOne(snap, burst, i, rxPort, now);
        }
        // Sweep one bucket (one cache line) per burst: lookups expire lazily, but an entry never
        // looked at again for 2^31 ms would otherwise look live after the tick counter wraps.
        _flows.ExpireSome(now, 1);
    }

    /// <summary>Returns the egress port for frame i, or <see cref="Burst.DropPort"/> after counting the drop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    byte ProcessOne(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, uint now)
    {
        if (burst.Segments[i] > 1) return Drop(DropReason.MultiSegment);
        byte* frame = burst.Data[i];
        int len = burst.Length[i];
        ref PacketInfo p = ref _info;
        var parsed = PacketParser.Parse(frame, len, ref p);
        if (parsed != DropReason.None) return Drop(parsed);

        if ((p.Flags & (PacketFlags.Arp | PacketFlags.NeighborSolicitation)) != 0)
            return AnswerNeighbor(snap, frame, len, burst, i, rxPort, ref p);

        int vip;
        ulong hash;
        if ((p.Flags & PacketFlags.IcmpError) != 0)
        {
            // The quoted packet went from the VIP to the client; the flow we pinned is the reverse.
            vip = snap.VipTable.Lookup(p.InnerSrc, p.InnerSrcPort, p.InnerProtocol);
            if (vip < 0) return Drop(DropReason.NotForVip);
            hash = FlowHash.FiveTuple(p.InnerDst, p.InnerSrc, p.InnerDstPort, p.InnerSrcPort, p.InnerProtocol, snap.FlowHashSeed);
            _counters.Add(GlobalCounter.IcmpErrorsRouted);
            return SteerAndForward(snap, burst, i, rxPort, now, ref p, vip, hash, mayPin: false);
        }

        if ((p.Flags & PacketFlags.Fragment) != 0)
        {
            vip = snap.VipTable.LookupForFragment(p.Dst, p.Protocol);
            if (vip < 0) return Drop(DropReason.NotForVip);
            if (snap.Pools[snap.Vips[vip].Pool].Fragments == FragmentPolicy.Drop) return Drop(DropReason.FragmentDropped);
            // Every fragment of a datagram, first or not, hashes the same way and is never pinned.
            hash = FlowHash.ThreeTuple(p.Src, p.Dst, p.Protocol, snap.FlowHashSeed);
            _counters.Add(GlobalCounter.FragmentsHashed);
            return SteerAndForward(snap, burst, i, rxPort, now, ref p, vip, hash, mayPin: false);
        }

        ushort dstPort = (p.Flags & PacketFlags.HasPorts) != 0 ? p.DstPort : (ushort)0;
        vip = snap.VipTable.Lookup(p.Dst, dstPort, p.Protocol);
        if (vip < 0)
            return Drop(p.Protocol is IpProtocol.Icmp or IpProtocol.IcmpV6 && snap.VipTable.ContainsAddress(p.Dst)
                ? DropReason.IcmpUnsupported : DropReason.NotForVip);
        if (p.Protocol is IpProtocol.Icmp or IpProtocol.IcmpV6 && snap.Vips[vip].Protocol == 0)
            return Drop(DropReason.IcmpUnsupported);
        hash = FlowHash.Of(p, snap.FlowHashSeed);
        // Pin TCP flows from their SYN, UDP flows from their first packet (design.md).
        bool pin = p.Protocol == IpProtocol.Udp
                   || (p.Protocol == IpProtocol.Tcp && (p.TcpFlags & (TcpFlag.Syn | TcpFlag.Ack)) == TcpFlag.Syn);
        return SteerAndForward(snap, burst, i, rxPort, now, ref p, vip, hash, pin);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    byte SteerAndForward(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, uint now, ref PacketInfo p, int vip, ulong hash, bool mayPin)
    {
        var pool = snap.Pools[snap.Vips[vip].Pool];
        // The flow's own protocol: an ICMP error refreshes the quoted flow's entry, and must not stretch
        // a UDP flow to the TCP timeout.
        byte flowProtocol = (p.Flags & PacketFlags.IcmpError) != 0 ? p.InnerProtocol : p.Protocol;
        uint idle = flowProtocol == IpProtocol.Udp ? pool.UdpIdleTicks : pool.TcpIdleTicks;
        var backends = snap.Backends;
        int id;
        bool hit = _flows.Lookup(hash, now, idle, out uint pinned) == FlowLookup.Hit;
        if (hit && pinned < (uint)backends.Length && backends[pinned].Usable)
        {
            id = (int)pinned;
            _counters.Add(GlobalCounter.FlowHits);
        }
        else
        {
            var table = pool.Maglev;
            if (table.Length == 0) return Drop(DropReason.NoBackend);
            id = table[(uint)hash % (uint)table.Length];
            if (hit)
            {
                // Pinned to a backend that is gone or disabled: re-steer by Maglev and re-pin, so
                // the rest of the flow follows the new choice.
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
        return Forward(snap, pool, burst, i, rxPort, ref p, vip, id, hash);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    byte Forward(DataplaneSnapshot snap, PoolEntry pool, Burst burst, int i, byte rxPort, ref PacketInfo p, int vip, int id, ulong hash)
    {
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
            var r = Encapsulation.Encapsulate(frame, len, burst.Headroom[i], p, e, out short delta, out ushort newLen);
            if (r == EncapResult.TooBig)
                return AnswerTooBig(snap, burst, i, rxPort, ref p, Encapsulation.InnerMtu(e, p.IsIPv6));
            if (r != EncapResult.Ok) return Drop(DropReason.NoHeadroom);
            burst.Delta[i] = delta;
            burst.OutLength[i] = newLen;
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

    public void Dispose() => _flows.Dispose();
}
