using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Switchyard.Dataplane.Datapath.Steering;

/// <summary>Outcome of <see cref="FlowTable.Lookup"/>.</summary>
public enum FlowLookup : byte
{
    /// <summary>A live entry was found; its expiry was pushed to now + idle.</summary>
    Hit,
    /// <summary>No entry, or only an expired one (which the lookup cleared).</summary>
    Miss,
}

/// <summary>Outcome of <see cref="FlowTable.Insert"/>.</summary>
public enum FlowInsert : byte
{
    /// <summary>The key was absent (or had expired) and took a free or expired slot.</summary>
    Inserted,
    /// <summary>A live entry with the same key existed; its value and expiry were overwritten.</summary>
    Updated,
    /// <summary>All four slots of the bucket were live; the one expiring soonest was evicted.</summary>
    Replaced,
    /// <summary><see cref="FlowTable.InsertShortLived"/> (or <see cref="FlowTable.InsertAt"/> with refuseLonger) only: all four slots were live and each outlives the new
    /// entry; nothing was stored.</summary>
    Refused,
}

/// <summary>What <see cref="FlowTable.Lookup(ulong, uint, uint, out uint, out FlowProbe)"/> saw of its key's bucket, for
/// <see cref="FlowTable.InsertAt"/>: the bucket and the compare's two 4-bit masks, valid until the table next changes. Two
/// fields, so that the JIT may keep it in registers across the calls between the lookup and the insert (it promotes
/// structs of up to four fields); the key's signature is the caller's hash, passed again to the insert.</summary>
public readonly unsafe struct FlowProbe
{
    internal readonly FlowTable.Bucket* Bucket;
    readonly uint _masks; // match | live << 4

    internal FlowProbe(FlowTable.Bucket* bucket, uint match, uint live)
    {
        Bucket = bucket;
        _masks = match | live << 4;
    }

    internal uint Match => _masks & 0xF;
    internal uint Live => _masks >> 4;
}

/// <summary>
/// One worker's flow table, after FD.io VPP's <c>lbhash.h</c>: open buckets of one cache line, four
/// entries each, compared with one vector compare, expired lazily. Single-threaded by design (each
/// worker owns its table), so there are no locks and no atomics; nothing allocates after the
/// constructor.
/// Design (layout, bounds, memory ordering, costs): docs/internals.md, "The flow table".
/// </summary>
public sealed unsafe class FlowTable : IDisposable
{
    /// <summary>One 64-byte cache line: four entries stored as four parallel lanes of 16 bytes, so a
    /// <see cref="Vector128{T}"/> load of each field covers all four entries.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    internal struct Bucket
    {
        public fixed uint SigA[4];    // low 32 bits of the flow hash
        public fixed uint SigB[4];    // high 32 bits of the flow hash
        public fixed uint Value[4];   // caller's payload (a backend id, a connection index, ...)
        public fixed uint Expires[4]; // tick at which the entry dies; 0 = empty slot
    }

    internal const int EntriesPerBucket = 4;
    /// <summary>Bytes of table per entry (a one-cache-line bucket holds <see cref="EntriesPerBucket"/>).</summary>
    public const int BytesPerEntry = CacheLine / EntriesPerBucket;
    const int CacheLine = 64; // bytes; one bucket per line so a lookup touches exactly one line

    Bucket* _buckets;
    readonly uint _mask;       // bucket count - 1 (bucket count is a power of two)
    readonly int _bucketCount;
    uint _sweepCursor;         // next bucket ExpireSome looks at
    uint _visitCursor;         // next bucket VisitSome looks at

    /// <summary>Creates a table for at least <paramref name="capacity"/> entries: the bucket count
    /// is ceil(capacity / 4) rounded up to a power of two (at least 1), so <see cref="Capacity"/> may
    /// be up to twice the request. Memory: 16 bytes per entry, native, zeroed.</summary>
    public FlowTable(int capacity)
    {
        if (capacity < 1 || capacity > (1 << 30))
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "flow table capacity must be in 1..2^30 entries");
        uint buckets = BitOperations.RoundUpToPowerOf2((uint)((capacity + EntriesPerBucket - 1) / EntriesPerBucket));
        _bucketCount = (int)buckets;
        _mask = buckets - 1;
        nuint bytes = (nuint)buckets * (nuint)sizeof(Bucket);
        _buckets = (Bucket*)TableMemory.Allocate(bytes, CacheLine); // zeroed; huge pages where it is large

    }

    /// <summary>Number of entries the table can hold (buckets x 4).</summary>
    public int Capacity => _bucketCount * EntriesPerBucket;

    internal int BucketCount => _bucketCount;

    /// <summary>The table's memory as it is (tests compare two tables byte for byte).</summary>
    internal ReadOnlySpan<byte> RawBytes => new(_buckets, _bucketCount * sizeof(Bucket));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    Bucket* BucketOf(ulong hash) => _buckets + ((uint)(hash >> 32) & _mask);

    /// <summary>Brings the bucket of <paramref name="hash"/> into L1 ahead of the lookup, so the miss
    /// on packet i+1's bucket overlaps the work on packet i. No-op where SSE is not available.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(ulong hash)
    {
        if (Sse.IsSupported) Sse.Prefetch0(BucketOf(hash));
    }

    /// <summary>Finds the live entry for <paramref name="hash"/>; on a hit, its expiry becomes
    /// now + <paramref name="idleTicks"/>. An expired entry for the key is cleared and reported as a miss.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FlowLookup Lookup(ulong hash, uint now, uint idleTicks, out uint value)
        => Vector128.IsHardwareAccelerated
            ? LookupCore<VectorMatcher>(hash, now, idleTicks, out value)
            : LookupCore<ScalarMatcher>(hash, now, idleTicks, out value);

    /// <summary><see cref="Lookup(ulong, uint, uint, out uint)"/> that also returns, in <paramref name="probe"/>, what it
    /// saw of the bucket, so that a miss's insert (<see cref="InsertAt"/>) stores the key without comparing the line a
    /// second time. The probe is valid until the table is next changed by anything else than its own InsertAt.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FlowLookup Lookup(ulong hash, uint now, uint idleTicks, out uint value, out FlowProbe probe)
        => Vector128.IsHardwareAccelerated
            ? LookupCore<VectorMatcher>(hash, now, idleTicks, out value, out probe)
            : LookupCore<ScalarMatcher>(hash, now, idleTicks, out value, out probe);

    /// <summary><see cref="Insert"/> (or, with <paramref name="refuseLonger"/>, <see cref="InsertShortLived"/>) of
    /// <paramref name="hash"/>, the key <paramref name="probe"/>'s lookup looked for, with that lookup's comparison of the
    /// bucket: the same outcome as theirs, one compare of the line fewer. The table must not have changed since that lookup.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FlowInsert InsertAt(in FlowProbe probe, ulong hash, uint value, uint now, uint idleTicks, bool refuseLonger)
    {
        Debug.Assert(probe.Bucket == BucketOf(hash));
        return Store(probe.Bucket, (uint)hash, (uint)(hash >> 32), probe.Match, probe.Live, value, now, idleTicks, refuseLonger);
    }

    /// <summary>Stores <paramref name="value"/> for <paramref name="hash"/> with expiry now + idle.
    /// Never fails: when the bucket is full of live entries, the one expiring soonest is evicted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FlowInsert Insert(ulong hash, uint value, uint now, uint idleTicks)
        => Vector128.IsHardwareAccelerated
            ? InsertCore<VectorMatcher>(hash, value, now, idleTicks)
            : InsertCore<ScalarMatcher>(hash, value, now, idleTicks);

    /// <summary><see cref="Insert"/> for a short-lived entry (a handshake's pin): when the bucket is full of live
    /// entries that all expire after now + <paramref name="idleTicks"/>, none is evicted and
    /// <see cref="FlowInsert.Refused"/> is returned. A flood of short-lived entries then only displaces its own kind.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FlowInsert InsertShortLived(ulong hash, uint value, uint now, uint idleTicks)
        => Vector128.IsHardwareAccelerated
            ? InsertCore<VectorMatcher>(hash, value, now, idleTicks, refuseLonger: true)
            : InsertCore<ScalarMatcher>(hash, value, now, idleTicks, refuseLonger: true);

    /// <summary>Removes the entry for <paramref name="hash"/> (live or expired). Returns whether one
    /// was present.</summary>
    public bool Remove(ulong hash)
    {
        Bucket* b = BucketOf(hash);
        uint match = Vector128.IsHardwareAccelerated
            ? VectorMatcher.Match(b, (uint)hash, (uint)(hash >> 32), 0, out _)
            : ScalarMatcher.Match(b, (uint)hash, (uint)(hash >> 32), 0, out _);
        if (match == 0) return false;
        b->Expires[BitOperations.TrailingZeroCount(match)] = 0;
        return true;
    }

    /// <summary>Live entries at <paramref name="now"/>. Walks the whole table: for tests and stats
    /// only, never per packet.</summary>
    public int Count(uint now)
    {
        int n = 0;
        for (int i = 0; i < _bucketCount; i++)
        {
            Bucket* b = _buckets + i;
            for (int j = 0; j < EntriesPerBucket; j++)
                if (IsLive(b->Expires[j], now)) n++;
        }
        return n;
    }

    /// <summary>Clears expired entries in the next <paramref name="buckets"/> buckets (round-robin)
    /// and returns how many it cleared. Housekeeping: it bounds how long a dead entry can sit
    /// untouched (see the wrap-around limitation on the class). At 64 buckets per call and one call
    /// per ~1 ms, a 1M-entry table is swept every ~4 s.</summary>
    public int ExpireSome(uint now, int buckets)
    {
        int cleared = 0;
        for (int i = 0; i < buckets && i < _bucketCount; i++)
        {
            Bucket* b = _buckets + (_sweepCursor & _mask);
            _sweepCursor++;
            for (int j = 0; j < EntriesPerBucket; j++)
            {
                uint e = b->Expires[j];
                if (e != 0 && (int)(e - now) <= 0) { b->Expires[j] = 0; cleared++; }
            }
        }
        // The next call's first bucket: a line of a large table that nothing else touched, a miss to DRAM per call
        // (one per burst in the worker loop) unless fetched now, a burst ahead.
        if (Sse.IsSupported) Sse.Prefetch0(_buckets + (_sweepCursor & _mask));
        return cleared;
    }

    /// <summary>Something <see cref="VisitSome{TVisitor}"/> shows each live entry to.</summary>
    public interface IEntryVisitor
    {
        /// <summary>A live entry: its full flow hash, value and ticks left before it idles out (&gt; 0).</summary>
        void Visit(ulong hash, uint value, uint remainingTicks);
    }

    /// <summary>Shows the live entries of the next <paramref name="buckets"/> buckets (round-robin, a cursor of its
    /// own) to <paramref name="visitor"/>; returns how many full passes over the table ended in this call (0 or more).
    /// Housekeeping (the pin-sharing sweep of issue 12 item 4): generic over a struct, no allocation.</summary>
    public int VisitSome<TVisitor>(uint now, int buckets, ref TVisitor visitor) where TVisitor : struct, IEntryVisitor
    {
        int passes = 0;
        for (int i = 0; i < buckets; i++)
        {
            Bucket* b = _buckets + (_visitCursor & _mask);
            if ((++_visitCursor & _mask) == 0) passes++;
            for (int j = 0; j < EntriesPerBucket; j++)
            {
                uint e = b->Expires[j];
                if (!IsLive(e, now)) continue;
                visitor.Visit(((ulong)b->SigB[j] << 32) | b->SigA[j], b->Value[j], e - now);
            }
        }
        return passes;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal FlowLookup LookupCore<TMatcher>(ulong hash, uint now, uint idleTicks, out uint value)
        where TMatcher : struct, IBucketMatcher
        => LookupCore<TMatcher>(hash, now, idleTicks, out value, out _);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal FlowLookup LookupCore<TMatcher>(ulong hash, uint now, uint idleTicks, out uint value, out FlowProbe probe)
        where TMatcher : struct, IBucketMatcher
    {
        Debug.Assert(idleTicks is > 0 and <= int.MaxValue);
        Bucket* b = BucketOf(hash);
        uint sigA = (uint)hash, sigB = (uint)(hash >> 32);
        uint match = TMatcher.Match(b, sigA, sigB, now, out uint live);
        // What a compare for an insert of this key finds after this lookup: the same masks, but no match where the
        // lookup cleared the key's expired slot below (that slot is then free, and not live either way).
        probe = new FlowProbe(b, match, live);
        if (match != 0)
        {
            int i = BitOperations.TrailingZeroCount(match);
            if ((live & match) != 0)
            {
                value = b->Value[i];
                uint expires = ExpiryOf(now, idleTicks);
                if (b->Expires[i] != expires) b->Expires[i] = expires;
                return FlowLookup.Hit;
            }
            b->Expires[i] = 0; // lazy expiry: the key is dead, free its slot now that we are here
            probe = new FlowProbe(b, 0, live);
        }
        value = 0;
        return FlowLookup.Miss;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal FlowInsert InsertCore<TMatcher>(ulong hash, uint value, uint now, uint idleTicks, bool refuseLonger = false)
        where TMatcher : struct, IBucketMatcher
    {
        Bucket* b = BucketOf(hash);
        uint sigA = (uint)hash, sigB = (uint)(hash >> 32);
        uint match = TMatcher.Match(b, sigA, sigB, now, out uint live);
        return Store(b, sigA, sigB, match, live, value, now, idleTicks, refuseLonger);
    }

    /// <summary>The insert once the bucket is compared: <paramref name="match"/> and <paramref name="live"/> as
    /// <see cref="IBucketMatcher.Match"/> gives them for the key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FlowInsert Store(Bucket* b, uint sigA, uint sigB, uint match, uint live, uint value, uint now, uint idleTicks, bool refuseLonger)
    {
        Debug.Assert(idleTicks is > 0 and <= int.MaxValue);
        uint expires = ExpiryOf(now, idleTicks);
        if (match != 0)
        {
            // Insert keeps at most one slot per key (it reuses the key's slot even when expired), so
            // the first match is the only one.
            int i = BitOperations.TrailingZeroCount(match);
            b->Value[i] = value;
            b->Expires[i] = expires;
            return (live & match) != 0 ? FlowInsert.Updated : FlowInsert.Inserted;
        }
        uint free = ~live & 0xF; // empty or expired
        FlowInsert outcome = FlowInsert.Inserted;
        int slot;
        if (free != 0) slot = BitOperations.TrailingZeroCount(free);
        else
        {
            slot = SoonestExpiring(b, now);
            if (refuseLonger && (int)(b->Expires[slot] - now) > (int)idleTicks) return FlowInsert.Refused;
            outcome = FlowInsert.Replaced;
        }
        b->SigA[slot] = sigA;
        b->SigB[slot] = sigB;
        b->Value[slot] = value;
        b->Expires[slot] = expires;
        return outcome;
    }

    static int SoonestExpiring(Bucket* b, uint now)
    {
        int best = 0;
        int bestLeft = (int)(b->Expires[0] - now);
        for (int j = 1; j < EntriesPerBucket; j++)
        {
            int left = (int)(b->Expires[j] - now);
            if (left < bestLeft) { best = j; bestLeft = left; }
        }
        return best;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint ExpiryOf(uint now, uint idleTicks)
    {
        uint e = now + idleTicks;
        return e == 0 ? 1 : e; // 0 means "empty"; one tick late is harmless
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsLive(uint expires, uint now) => expires != 0 && (int)(expires - now) > 0;

    /// <summary>Compares the four entries of a bucket with a key. Two implementations, picked at JIT
    /// time (generic over a struct, so no virtual call): the tests run both on the same operations.</summary>
    internal interface IBucketMatcher
    {
        /// <summary>Returns a 4-bit mask of occupied slots (expires != 0) whose signature equals
        /// (sigA, sigB), and in <paramref name="live"/> a 4-bit mask of slots live at <paramref name="now"/>.</summary>
        static abstract uint Match(Bucket* b, uint sigA, uint sigB, uint now, out uint live);
    }

    internal struct VectorMatcher : IBucketMatcher
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Match(Bucket* b, uint sigA, uint sigB, uint now, out uint live)
        {
            // The bucket is 64-byte aligned, so each 16-byte field load is aligned and in one line.
            Vector128<uint> exp = Vector128.LoadAligned(b->Expires);
            Vector128<uint> occupied = ~Vector128.Equals(exp, Vector128<uint>.Zero);
            Vector128<uint> notExpired = Vector128.GreaterThan(
                (exp - Vector128.Create(now)).AsInt32(), Vector128<int>.Zero).AsUInt32();
            Vector128<uint> key = Vector128.Equals(Vector128.LoadAligned(b->SigA), Vector128.Create(sigA))
                                & Vector128.Equals(Vector128.LoadAligned(b->SigB), Vector128.Create(sigB));
            live = (occupied & notExpired).ExtractMostSignificantBits();
            return (key & occupied).ExtractMostSignificantBits();
        }
    }

    internal struct ScalarMatcher : IBucketMatcher
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint Match(Bucket* b, uint sigA, uint sigB, uint now, out uint live)
        {
            uint match = 0, l = 0;
            for (int j = 0; j < EntriesPerBucket; j++)
            {
                uint e = b->Expires[j];
                if (e == 0) continue;
                if ((int)(e - now) > 0) l |= 1u << j;
                if (b->SigA[j] == sigA && b->SigB[j] == sigB) match |= 1u << j;
            }
            live = l;
            return match;
        }
    }

    /// <summary>Frees the buckets. The table must not be used afterwards (the worker disposes it
    /// only after leaving its loop).</summary>
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    // A forgotten Dispose would leak native memory: free it on finalization instead.
    ~FlowTable() => Free();

    void Free()
    {
        if (_buckets == null) return;
        TableMemory.Free(_buckets);
        _buckets = null;
    }
}
