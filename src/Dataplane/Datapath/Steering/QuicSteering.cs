using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath.Quic;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Dataplane.Datapath.Steering;

/// <summary>
/// QUIC-LB steering (draft-ietf-quic-load-balancers-21, docs/quic-lb.md) for UDP VIPs with <c>QuicLb</c>,
/// in three pieces the pipeline composes:
/// <list type="number">
/// <item>first pass (<see cref="Classify"/>, after the <see cref="Classifier"/>): locate the DCID (RFC 8999).
/// Malformed headers are dropped under a named reason; client-chosen DCIDs (Initial, 0-RTT), unknown
/// versions, unroutable or unknown codepoints are counted and left to <see cref="FlowSteering"/>; a
/// server-chosen DCID is copied into the burst's CID batch.</item>
/// <item>between the passes (<see cref="DecodeCids"/>): the batch is decoded together (eight AES pipelines,
/// <see cref="QuicLbDecoder.DecodeServerIds"/>) and each server id looked up in the pool's map; a usable
/// backend makes the frame <see cref="FrameKind.Quic"/>, anything else stays with the 4-tuple path.</item>
/// <item>second pass (<see cref="Steer"/>): the decoded server wins over the 4-tuple's pin (a migrated
/// connection arrives on a new 4-tuple, or on one pinned elsewhere); the pin is moved to it so later
/// undecodable packets of that 4-tuple follow.</item>
/// </list>
/// Stateless across appliances: any appliance with the same configurations routes a CID the same way.
/// Allocation-free: the batch arrays are allocated once per worker.
/// </summary>
public sealed unsafe class QuicSteering(FrameState frames, FlowTable flows, WorkerCounters counters)
{
    readonly QuicCid[] _cids = new QuicCid[Burst.Size];
    readonly QuicServerId[] _ids = new QuicServerId[Burst.Size];
    readonly QuicLbResult[] _results = new QuicLbResult[Burst.Size];
    readonly byte[] _frame = new byte[Burst.Size];
    readonly int[] _backend = new int[Burst.Size];

    /// <summary>CIDs of this burst waiting for <see cref="DecodeCids"/>.</summary>
    public int Pending { get; private set; }

    /// <summary>First pass, for a frame the <see cref="Classifier"/> left to steer: a UDP datagram (not a
    /// fragment, not an ICMP error) to a QUIC-LB VIP has its DCID located and queued for decoding.
    /// Returns <see cref="Classified.Dropped"/> (counted, frame done) for a malformed QUIC header.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Classified Classify(DataplaneSnapshot snap, byte* frame, int i)
    {
        var configs = snap.QuicLb;
        if (configs is null || frames[i].Kind != FrameKind.SteerPin) return Classified.Steer;
        ref PacketInfo p = ref frames.Info[i];
        if (p.Protocol != IpProtocol.Udp || (p.Flags & (PacketFlags.Fragment | PacketFlags.IcmpError)) != 0
            || !snap.Vips[frames[i].Vip].QuicLb) return Classified.Steer;
        var payload = new ReadOnlySpan<byte>(frame + p.PayloadOffset, p.PayloadLength);
        var r = QuicHeader.LocateDcid(payload, configs, out var dcid);
        switch (r)
        {
            case QuicLbResult.Ok:
                int j = Pending++;
                _cids[j].Set(dcid);
                _frame[j] = (byte)i;
                return Classified.Steer;
            case QuicLbResult.Empty: return Drop(i, DropReason.QuicEmpty);
            case QuicLbResult.LongHeaderTruncated: return Drop(i, DropReason.QuicLongHeaderTruncated);
            case QuicLbResult.ShortHeaderTruncated: return Drop(i, DropReason.QuicShortHeaderTruncated);
            case QuicLbResult.DcidTooLong: return Drop(i, DropReason.QuicDcidTooLong);
            default:
                CountFallback(r);
                return Classified.Steer;
        }
    }

    /// <summary>Decodes the burst's queued CIDs in one batch; frames whose server id names a usable backend
    /// of their VIP's pool become <see cref="FrameKind.Quic"/>.</summary>
    public void DecodeCids(DataplaneSnapshot snap)
    {
        int n = Pending;
        Pending = 0;
        QuicLbDecoder.DecodeServerIds(_cids.AsSpan(0, n), _ids.AsSpan(0, n), _results.AsSpan(0, n), snap.QuicLb!);
        var backends = snap.Backends;
        for (int j = 0; j < n; j++)
        {
            int f = _frame[j];
            var r = _results[j];
            if (r == QuicLbResult.Ok)
            {
                var map = snap.Pools[snap.Vips[frames[f].Vip].Pool].QuicServerIds;
                int id = map is null ? -1 : map.Lookup(in _ids[j]);
                if ((uint)id < (uint)backends.Length && backends[id].Usable)
                {
                    _backend[f] = id;
                    frames[f].Kind = FrameKind.Quic;
                    continue;
                }
                r = QuicLbResult.UnknownServerId;
            }
            CountFallback(r);
        }
    }

    /// <summary>Second pass for a <see cref="FrameKind.Quic"/> frame: its decoded backend, with the 4-tuple
    /// pinned (or re-pinned) to it.</summary>
    public int Steer(DataplaneSnapshot snap, int i, uint now)
    {
        int vip = frames[i].Vip;
        var pool = snap.Pools[snap.Vips[vip].Pool];
        int id = _backend[i];
        ulong hash = frames[i].Hash;
        var look = flows.Lookup(hash, now, pool.UdpIdleTicks, out uint pinned, out FlowProbe probe);
        if (look != FlowLookup.Hit)
        {
            // Nothing wrote the table since the lookup: its compare of the bucket stands (FlowTable.InsertAt).
            if (flows.InsertAt(in probe, hash, (uint)id, now, pool.UdpIdleTicks, refuseLonger: false) == FlowInsert.Replaced)
                counters.Add(GlobalCounter.FlowEvictions);
            counters.Add(GlobalCounter.FlowInserts);
            counters.AddVip(vip, ServiceCounter.NewFlows);
            counters.AddBackend(id, ServiceCounter.NewFlows);
        }
        else if (pinned != (uint)id)
        {
            // A new pin replaces the old one (counted as an insert: every steered packet is counted once
            // under FlowHits/FlowInserts/FlowRepins/MaglevSteered).
            flows.InsertAt(in probe, hash, (uint)id, now, pool.UdpIdleTicks, refuseLonger: false);
            counters.Add(GlobalCounter.FlowInserts);
            counters.Add(GlobalCounter.QuicRepinned);
        }
        else counters.Add(GlobalCounter.FlowHits);
        counters.Add(GlobalCounter.QuicRoutedByCid);
        return id;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void CountFallback(QuicLbResult r)
    {
        counters.Add(r switch
        {
            QuicLbResult.ClientInitial => GlobalCounter.QuicClientInitial,
            QuicLbResult.ServerOnlyPacket => GlobalCounter.QuicServerOnlyPacket,
            QuicLbResult.UnknownVersion => GlobalCounter.QuicUnknownVersion,
            QuicLbResult.UnroutableCid => GlobalCounter.QuicUnroutableCid,
            QuicLbResult.UnknownConfig => GlobalCounter.QuicUnknownConfig,
            QuicLbResult.CidTooShort => GlobalCounter.QuicCidTooShort,
            QuicLbResult.CidLengthMismatch => GlobalCounter.QuicCidLengthMismatch,
            _ => GlobalCounter.QuicUnknownServerId,
        });
    }

    Classified Drop(int i, DropReason r)
    {
        frames[i].Kind = FrameKind.Done;
        counters.Drop(r);
        return Classified.Dropped;
    }
}
