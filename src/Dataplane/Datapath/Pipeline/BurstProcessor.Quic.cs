using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath.Quic;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Dataplane.Datapath.Pipeline;

/// <summary>
/// QUIC-LB steering (draft-ietf-quic-load-balancers-21) for UDP VIPs with <c>QuicLb</c>:
/// <list type="number">
/// <item>First pass (<see cref="ClassifyQuic"/>): locate the DCID (RFC 8999). Malformed headers are
/// dropped under a named reason; client-chosen DCIDs (Initial, 0-RTT), unknown versions, unroutable or
/// unknown codepoints are counted and left to the 4-tuple path; a server-chosen DCID is copied into
/// the burst's CID batch.</item>
/// <item>Between the passes (<see cref="DecodeQuicCids"/>): the batch is decoded together (eight AES
/// pipelines, <see cref="QuicLbDecoder.DecodeServerIds"/>) and each server id is looked up in the
/// pool's map; a usable backend makes the frame <c>Kind.Quic</c>, anything else falls back.</item>
/// <item>Second pass (<see cref="SteerQuic"/>): the decoded server wins over the 4-tuple's pin (a
/// migrated connection arrives on a new 4-tuple, or on one pinned elsewhere); the pin is moved to it
/// so later undecodable packets of that 4-tuple follow.</item>
/// </list>
/// Stateless across appliances: any appliance with the same configurations routes a CID the same way.
/// </summary>
public sealed unsafe partial class BurstProcessor
{
    readonly QuicCid[] _quicCids = new QuicCid[Burst.Size];
    readonly QuicServerId[] _quicIds = new QuicServerId[Burst.Size];
    readonly QuicLbResult[] _quicResults = new QuicLbResult[Burst.Size];
    readonly byte[] _quicFrame = new byte[Burst.Size];
    readonly int[] _quicBackend = new int[Burst.Size];
    int _quicBatch;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    DropReason ClassifyQuic(DataplaneSnapshot snap, byte* frame, int i, ref PacketInfo p)
    {
        var payload = new ReadOnlySpan<byte>(frame + p.PayloadOffset, p.PayloadLength);
        var r = QuicHeader.LocateDcid(payload, snap.QuicLb!, out var dcid);
        switch (r)
        {
            case QuicLbResult.Ok:
                _quicCids[_quicBatch].Set(dcid);
                _quicFrame[_quicBatch++] = (byte)i;
                return DropReason.None;
            case QuicLbResult.Empty: return DropReason.QuicEmpty;
            case QuicLbResult.LongHeaderTruncated: return DropReason.QuicLongHeaderTruncated;
            case QuicLbResult.ShortHeaderTruncated: return DropReason.QuicShortHeaderTruncated;
            case QuicLbResult.DcidTooLong: return DropReason.QuicDcidTooLong;
            default:
                CountFallback(r);
                return DropReason.None;
        }
    }

    void DecodeQuicCids(DataplaneSnapshot snap)
    {
        int n = _quicBatch;
        QuicLbDecoder.DecodeServerIds(_quicCids.AsSpan(0, n), _quicIds.AsSpan(0, n), _quicResults.AsSpan(0, n), snap.QuicLb!);
        var backends = snap.Backends;
        for (int j = 0; j < n; j++)
        {
            int f = _quicFrame[j];
            var r = _quicResults[j];
            if (r == QuicLbResult.Ok)
            {
                var map = snap.Pools[snap.Vips[_vip[f]].Pool].QuicServerIds;
                int id = map is null ? -1 : map.Lookup(in _quicIds[j]);
                if ((uint)id < (uint)backends.Length && backends[id].Usable)
                {
                    _quicBackend[f] = id;
                    _kind[f] = Kind.Quic;
                    continue;
                }
                r = QuicLbResult.UnknownServerId;
            }
            CountFallback(r);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void CountFallback(QuicLbResult r)
    {
        _counters.Add(r switch
        {
            QuicLbResult.ClientInitial => GlobalCounter.QuicClientInitial,
            QuicLbResult.ServerOnlyPacket => GlobalCounter.QuicServerOnlyPacket,
            QuicLbResult.UnknownVersion => GlobalCounter.QuicUnknownVersion,
            QuicLbResult.UnroutableCid => GlobalCounter.QuicUnroutableCid,
            QuicLbResult.UnknownConfig => GlobalCounter.QuicUnknownConfig,
            QuicLbResult.CidTooShort => GlobalCounter.QuicCidTooShort,
            _ => GlobalCounter.QuicUnknownServerId,
        });
    }

    /// <summary>Second pass for a QUIC packet whose DCID decoded to a usable backend.</summary>
    byte SteerQuic(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, uint now)
    {
        int vip = _vip[i];
        var pool = snap.Pools[snap.Vips[vip].Pool];
        int id = _quicBackend[i];
        ulong hash = _hash[i];
        var look = _flows.Lookup(hash, now, pool.UdpIdleTicks, out uint pinned);
        if (look != FlowLookup.Hit)
        {
            if (_flows.Insert(hash, (uint)id, now, pool.UdpIdleTicks) == FlowInsert.Replaced) _counters.Add(GlobalCounter.FlowEvictions);
            _counters.Add(GlobalCounter.FlowInserts);
            _counters.AddVip(vip, ServiceCounter.NewFlows);
            _counters.AddBackend(id, ServiceCounter.NewFlows);
        }
        else if (pinned != (uint)id)
        {
            // A new pin replaces the old one (counted as an insert: every steered packet is counted once
            // under FlowHits/FlowInserts/FlowRepins/MaglevSteered).
            _flows.Insert(hash, (uint)id, now, pool.UdpIdleTicks);
            _counters.Add(GlobalCounter.FlowInserts);
            _counters.Add(GlobalCounter.QuicRepinned);
        }
        else _counters.Add(GlobalCounter.FlowHits);
        _counters.Add(GlobalCounter.QuicRoutedByCid);
        return Forward(snap, pool, burst, i, rxPort, vip, id, hash);
    }
}
