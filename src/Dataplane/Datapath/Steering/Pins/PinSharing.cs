using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Control;

namespace Switchyard.Dataplane.Datapath.Steering.Pins;

/// <summary>
/// One worker's part of flow-pin sharing (issue 12 item 4, docs/scale-out.md "Flows across appliance changes").
/// <para>Export: a housekeeping sweep (<see cref="Sweep"/>, a few buckets per burst) compares every live pin of the
/// worker's flow table with the pick the pool's CURRENT Maglev table makes for the stored flow hash. A pin that
/// differs is a connection older than a backend-set change: an appliance that never saw it would re-steer it
/// elsewhere. It goes to the worker's <see cref="PinExportQueue"/> with its remaining idle time; the cluster
/// exchange sends it to the peers by backend name. Every pass exports such pins again, which refreshes the peers'
/// copies while the flow lives. Pins that agree with Maglev are never exported: with an unchanged backend set
/// nothing is sent. After every new snapshot the sweep runs <see cref="BoostFactor"/> times faster for one full pass.</para>
/// <para>Import: <see cref="TryShared"/>, for a non-SYN TCP packet that missed the flow table, looks the flow hash
/// up in the <see cref="SharedPinTable"/> filled by the exchange; a usable backend of the VIP's pool found there
/// is used and pinned locally by the caller.</para>
/// No allocation, lock or syscall.
/// </summary>
public sealed class PinSharing(FlowTable flows, WorkerCounters counters, SharedPinTable shared, PinExportQueue? export, int bucketsPerBurst)
{
    public SharedPinTable Shared => shared;

    /// <summary>Buckets of the flow table compared per burst.</summary>
    public int BucketsPerBurst { get; } = Math.Max(1, bucketsPerBurst);

    /// <summary>After a new snapshot (a backend change is one) the sweep compares this many times more buckets per
    /// burst until it has covered the whole table once, so that the differing pins reach the peers soon after the
    /// change instead of one slow pass later.</summary>
    public const int BoostFactor = 16;

    long _generation = -1;
    int _boostPassEnds; // pass ends still to see at the boosted rate (2: the pass in progress, then a whole one)

    struct Comparer : FlowTable.IEntryVisitor
    {
        public BackendEntry[] Backends;
        public PoolEntry[] Pools;
        public PinExportQueue Queue;
        public long Exported, Overflows;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Visit(ulong hash, uint value, uint remainingTicks)
        {
            if (value >= (uint)Backends.Length) return;
            ref readonly var b = ref Backends[value];
            if (!b.Usable || (uint)b.Pool >= (uint)Pools.Length) return; // a gone backend follows RemovedFlows, nothing to share
            var pool = Pools[b.Pool];
            var table = pool.Maglev;
            if (table.Length == 0 || table[Maglev.Slot(hash, table.Length, pool.MaglevMultiplier)] == (int)value) return; // Maglev agrees: no need
            if (Queue.TryEnqueue(hash, value, remainingTicks)) Exported++;
            else Overflows++;
        }
    }

    /// <summary>Compares the next <see cref="BucketsPerBurst"/> buckets' pins with Maglev (once per burst).</summary>
    public void Sweep(DataplaneSnapshot snap, uint now)
    {
        if (export is null) return;
        if (snap.Generation != _generation)
        {
            _generation = snap.Generation;
            _boostPassEnds = 2;
        }
        var c = new Comparer { Backends = snap.Backends, Pools = snap.Pools, Queue = export };
        int passes = flows.VisitSome(now, _boostPassEnds > 0 ? BucketsPerBurst * BoostFactor : BucketsPerBurst, ref c);
        _boostPassEnds = Math.Max(0, _boostPassEnds - passes);
        if (c.Exported != 0) counters.Add(GlobalCounter.PinsExported, c.Exported);
        if (c.Overflows != 0) counters.Add(GlobalCounter.PinExportOverflows, c.Overflows);
        if (passes != 0) counters.Add(GlobalCounter.PinSweepPasses, passes);
    }

    /// <summary>The backend a peer pinned this flow to, when it is a usable backend of <paramref name="pool"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryShared(DataplaneSnapshot snap, ulong hash, int pool, uint now, out int backend)
    {
        var backends = snap.Backends;
        if (shared.TryLookup(hash, now, out uint id) && id < (uint)backends.Length && backends[id].Usable && backends[id].Pool == pool)
        {
            counters.Add(GlobalCounter.SharedPinHits);
            backend = (int)id;
            return true;
        }
        backend = -1;
        return false;
    }
}
