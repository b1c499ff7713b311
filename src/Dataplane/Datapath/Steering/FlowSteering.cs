using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Parsing;

namespace Switchyard.Dataplane.Datapath.Steering;

/// <summary>
/// Steers every frame that is not a join: the flow table first (a pinned flow keeps its backend while
/// that backend is usable), else the pool's weighted Maglev table (or the backend of an announced
/// port), pinning TCP flows from their SYN and UDP flows from their first packet. A flow pinned to a
/// gone backend follows the pool's RemovedFlows policy. A non-SYN TCP segment that misses the table asks the
/// pins shared by the cluster's other appliances first (issue 12 item 4, <see cref="Pins.PinSharing"/>).
/// </summary>
public sealed unsafe class FlowSteering(FrameState frames, FlowTable flows, WorkerCounters counters, FloodGuard guard, Pins.PinSharing? pins = null)
{
    /// <summary>The backend of frame <paramref name="i"/>, or a negative <see cref="Steered"/> outcome. Flow-table hits,
    /// inserts and new flows per VIP are counted in <paramref name="tally"/>, which the caller adds to the counters once
    /// per burst.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Steer(DataplaneSnapshot snap, int i, uint now, out uint idle, ref SteerTally tally)
    {
        ref FrameSlot slot = ref frames[i];
        ulong hash = slot.Hash;
        bool mayPin = slot.Kind == FrameKind.SteerPin;
        // The timeouts come with the frame (Classifier, from its pool): the flow's own protocol's (an ICMP error refreshes
        // the quoted flow's entry and must not stretch a UDP flow to the TCP timeout), and the pin's.
        idle = slot.IdleTicks;
        var backends = snap.Backends;
        // A SYN opens a connection: one that finds a live entry is a retransmission (keep it) or a new
        // connection on a reused 5-tuple (the client's TIME_WAIT ends long before the entry idles out). A
        // new connection must not follow an old pin to a backend that takes no new flows (draining,
        // weight 0), and is no old connection to reset: it is steered afresh and pinned. (The classifier tells, so that
        // a flow-table hit reads nothing of the packet: stage stamps, est, steering 23.0-26.0 cycles per frame reading the
        // protocol from the parse result, 21.4-23.0 so.)
        bool synOpens = slot.SynOpens;
        // A SYN's pin lives for the handshake only; the connection's first non-SYN segment refreshes it to the TCP
        // idle timeout. The table evicts the entry that expires soonest: a SYN flood's pins, not established flows.
        uint pinIdle = slot.PinIdleTicks;
        bool hit = flows.Lookup(hash, now, pinIdle, out uint pinned, out FlowProbe probe) == FlowLookup.Hit;
        if (hit && pinned < (uint)backends.Length && backends[pinned].Usable && (!synOpens || backends[pinned].TakesNewFlows))
        {
            tally.Hits++;
            return (int)pinned;
        }
        ref readonly var v = ref snap.Vips[slot.Vip];
        var pool = snap.Pools[v.Pool];
        if (hit && !synOpens && pool.RemovedFlows == RemovedFlowPolicy.Reset)
        {
            // Pinned to a backend that is down, disabled or removed, policy "reset": the entry goes.
            flows.Remove(hash);
            counters.Add(GlobalCounter.FlowResets);
            return Steered.ResetGoneFlow;
        }
        int id;
        // A TCP segment of a connection this worker never saw (ECMP moved it here from another appliance): a pin
        // another appliance shared (it differs from today's Maglev pick: the backend set changed since the connection
        // started, issue 12 item 4) wins over Maglev, and is pinned here.
        if (!hit && !mayPin && pins is not null && frames.Info[i].Protocol == IpProtocol.Tcp && v.AnnouncedBackend < 0
            && pins.TryShared(snap, hash, v.Pool, now, out id))
        {
            flows.InsertAt(in probe, hash, (uint)id, now, idle, refuseLonger: false);
            return id;
        }
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
            id = table[Maglev.Slot(hash, table.Length, pool.MaglevMultiplier)];
        }
        if (hit && !synOpens)
        {
            // Pinned to a backend that is down, disabled or removed, policy "rehash": re-steered by
            // Maglev and re-pinned, so the rest of the flow follows the new choice.
            flows.InsertAt(in probe, hash, (uint)id, now, idle, refuseLonger: false);
            counters.Add(GlobalCounter.FlowRepins);
        }
        else if (mayPin && !guard.MayPin(now))
        {
            // Above the flood guard's new-flow rate: Maglev's choice, not pinned (established pins stay).
            counters.Add(GlobalCounter.MaglevSteered);
            counters.Add(GlobalCounter.FloodGuardUnpinned);
            tally.NewFlow(counters, slot.Vip);
            counters.AddBackend(id, ServiceCounter.NewFlows);
        }
        else if (mayPin)
        {
            // A SYN's pin never evicts an entry that would outlive it (a bucket full of established flows keeps them).
            // Nothing changed the table since the lookup (only this call writes it, once): its compare of the bucket
            // stands, so a new flow scans the line once, here as in the other inserts above.
            var r = flows.InsertAt(in probe, hash, (uint)id, now, pinIdle, refuseLonger: synOpens);
            if (r == FlowInsert.Replaced) tally.Evictions++;
            if (r == FlowInsert.Refused) counters.Add(GlobalCounter.HandshakePinsRefused);
            else tally.Inserts++;
            tally.NewFlow(counters, slot.Vip);
            counters.AddBackend(id, ServiceCounter.NewFlows);
        }
        else counters.Add(GlobalCounter.MaglevSteered);
        return id;
    }

    int Drop(DropReason r)
    {
        counters.Drop(r);
        return Steered.Dropped;
    }
}
