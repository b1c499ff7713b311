using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Datapath.Steering.Pins;

/// <summary>Outcome of <see cref="SharedPinTable.Install"/>.</summary>
public enum PinInstall : byte { Inserted, Refreshed, Replaced }

/// <summary>
/// Flow pins learned from the other appliances of a cluster (issue 12 item 4, docs/scale-out.md): flow hash ->
/// backend id (resolved from the backend's name when installed) and expiry tick. Bounded (a power of two of slots,
/// probed in groups of four; a full group replaces its soonest-expiring slot), written by ONE thread (the cluster
/// exchange's receive thread), read lock-free by every worker: each slot is a sequence lock (the writer makes the
/// sequence odd, writes, makes it even again; a reader that sees an odd or changed sequence treats the slot as a
/// miss), so a reader never sees a half-written pin and never waits. No allocation after the constructor.
/// </summary>
public sealed class SharedPinTable
{
    [StructLayout(LayoutKind.Sequential, Size = 32)]
    struct Slot
    {
        public uint Sequence; // odd while being written
        public uint BackendId;
        public uint Expires;  // 0 = empty
        public uint Pad;
        public ulong Hash;
    }

    const int Probe = 4;
    readonly Slot[] _slots;
    readonly int _mask;

    /// <summary>A table of at least <paramref name="capacity"/> pins (rounded up to a power of two, at least 4).</summary>
    public SharedPinTable(int capacity)
    {
        if (capacity < 1 || capacity > 1 << 26) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "shared pin table capacity must be 1..2^26");
        int n = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, Probe));
        _slots = new Slot[n];
        _mask = n - 1;
    }

    public int Capacity => _slots.Length;

    /// <summary>Worker (any number, concurrently with the writer): the live pin of <paramref name="hash"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong hash, uint now, out uint backendId)
    {
        int start = (int)(hash >> 32) & _mask;
        for (int k = 0; k < Probe; k++)
        {
            ref Slot s = ref _slots[(start + k) & _mask];
            uint seq = Volatile.Read(ref s.Sequence);
            if ((seq & 1) != 0) continue;
            ulong h = Volatile.Read(ref s.Hash);
            uint id = Volatile.Read(ref s.BackendId);
            uint exp = Volatile.Read(ref s.Expires);
            if (Volatile.Read(ref s.Sequence) != seq) continue; // rewritten meanwhile: no answer from it
            if (h == hash && FlowTable.IsLive(exp, now)) { backendId = id; return true; }
        }
        backendId = 0;
        return false;
    }

    /// <summary>The single writer: pins <paramref name="hash"/> to <paramref name="backendId"/> until now + remaining.</summary>
    public PinInstall Install(ulong hash, uint backendId, uint now, uint remainingTicks)
    {
        uint expires = now + Math.Max(1u, Math.Min(remainingTicks, (uint)int.MaxValue));
        if (expires == 0) expires = 1;
        int start = (int)(hash >> 32) & _mask;
        int target = -1, free = -1, soonest = -1;
        int soonestLeft = int.MaxValue;
        for (int k = 0; k < Probe; k++)
        {
            int i = (start + k) & _mask;
            ref Slot s = ref _slots[i];
            bool live = FlowTable.IsLive(s.Expires, now);
            if (live && s.Hash == hash) { target = i; break; }
            if (!live) { if (free < 0) free = i; continue; }
            int left = (int)(s.Expires - now);
            if (left < soonestLeft) { soonestLeft = left; soonest = i; }
        }
        var outcome = target >= 0 ? PinInstall.Refreshed : free >= 0 ? PinInstall.Inserted : PinInstall.Replaced;
        int at = target >= 0 ? target : free >= 0 ? free : soonest;
        ref Slot w = ref _slots[at];
        uint seq = w.Sequence;
        Volatile.Write(ref w.Sequence, seq + 1); // odd: readers skip the slot
        Interlocked.MemoryBarrier();            // the odd sequence is visible before the fields change
        w.Hash = hash;
        w.BackendId = backendId;
        w.Expires = expires;
        Volatile.Write(ref w.Sequence, seq + 2); // release: even again, fields visible
        return outcome;
    }

    /// <summary>Live pins at <paramref name="now"/> (walks the table: status and tests only).</summary>
    public int Count(uint now)
    {
        int n = 0;
        for (int i = 0; i < _slots.Length; i++) if (FlowTable.IsLive(Volatile.Read(ref _slots[i].Expires), now)) n++;
        return n;
    }
}
