using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Switchyard.Dataplane.Datapath.Steering;

namespace Switchyard.Dataplane.Datapath.Steering.Tokens;

/// <summary>Outcome of <see cref="LearnedTokenTable.Learn(uint, uint, uint)"/>.</summary>
public enum LearnResult : byte
{
    /// <summary>The token was absent (or only present as an expired entry) and now maps to the backend.</summary>
    Learned,
    /// <summary>The token already mapped to the same backend; its last-seen tick was refreshed.</summary>
    Refreshed,
    /// <summary>The token was live for a <em>different</em> backend: this call turned the entry
    /// Collided (counted once in <see cref="LearnedTokenTable.Collisions"/>). Joins for the token are
    /// unplaceable until the entry expires, because either backend may be the one meant.</summary>
    Collision,
    /// <summary>The token was already Collided; its last-seen tick was refreshed (a connection holding
    /// the ambiguous token is still being seen, so the ambiguity lasts). Not counted again.</summary>
    StillCollided,
    /// <summary>No free or expired slot in the token's probe window (every slot there is live): the
    /// token was not learned. Live entries are never evicted, so a flood of learns cannot push out
    /// the mappings of established connections; joins for this token fall back to ordinary steering.</summary>
    Full,
}

/// <summary>Outcome of <see cref="LearnedTokenTable.Lookup"/>.</summary>
public enum TokenLookup : byte
{
    /// <summary>A live entry maps the token to <c>backendId</c>; its last-seen tick was refreshed
    /// (a join shows the connection is alive).</summary>
    Found,
    /// <summary>The token is not in the table.</summary>
    NotFound,
    /// <summary>Two backends learned the token; the join cannot be placed (see <see cref="LearnResult.Collision"/>).
    /// Not refreshed by the lookup: only learns keep a collision alive.</summary>
    Collided,
    /// <summary>The token's entry was idle for at least <c>idleTicks</c>; the lookup reclaimed its slot
    /// (lazy expiry). Treat like <see cref="NotFound"/>.</summary>
    Expired,
}

/// <summary>
/// The "learned token" table for MP_JOIN steering: token (the first 32 bits of SHA-256 of the
/// server's key, RFC 8684 section 3.2) to backend id, learned from the client's MP_CAPABLE third ACK
/// or first data segment. An MP_JOIN SYN arrives on a new 5-tuple and so on any worker's RSS queue,
/// hence ONE table shared by every worker: several writers and several readers, on the packet path.
/// No locks, no allocation and no syscalls after the constructor; every state change of a slot is
/// one <see cref="Interlocked.CompareExchange(ref ulong, ulong, ulong)"/> on its 64-bit word.
/// Design (layout, bounds, memory ordering, costs): docs/internals.md, "The learned-token table".
/// </summary>
public sealed unsafe class LearnedTokenTable : IDisposable
{
    /// <summary>Slots a token may occupy, counting from its home slot (8 x 8 bytes = one cache line).</summary>
    public const int ProbeLimit = 8;
    /// <summary>Largest backend id a slot can hold (24 bits).</summary>
    public const uint MaxBackendId = 0xFF_FFFF;

    const int CacheLine = 64; // bytes
    const int BackendShift = 32;
    const int StateShift = 56;
    const int GenShift = 58;
    const ulong StateMask = 3UL << StateShift;
    const ulong GenMask = 0x3FUL << GenShift;

    // Slot states (bits 56-57 of the word).
    const ulong Empty = 0UL << StateShift;
    const ulong Live = 1UL << StateShift;
    const ulong CollidedState = 2UL << StateShift;
    const ulong Tombstone = 3UL << StateShift;

    ulong* _slots;
    uint* _lastSeen;
    readonly uint _mask;
    readonly int _slotCount;
    readonly uint _seed;
    readonly uint _idleTicks;
    uint _sweepCursor; // racy on purpose: two sweepers may visit a slot twice or skip one; the next sweep catches it
    long _collisions;

    /// <summary>Creates a table with at least <paramref name="capacity"/> slots (rounded up to a power of
    /// two, at least <see cref="ProbeLimit"/>). <paramref name="idleTicks"/> (ms, 1..int.MaxValue) is the
    /// idle age after which <see cref="Learn(uint, uint, uint)"/> treats an entry as expired (reusable);
    /// pass the same value to <see cref="Lookup"/>. <paramref name="seed"/> keys the slot hash; leave it
    /// null outside tests (random).</summary>
    public LearnedTokenTable(int capacity, uint idleTicks, uint? seed = null)
    {
        if (capacity < 1 || capacity > (1 << 30))
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "learned token table capacity must be in 1..2^30 slots");
        if (idleTicks is 0 or > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(idleTicks), idleTicks, "idle ticks must be in 1..int.MaxValue");
        uint slots = BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, ProbeLimit));
        _slotCount = (int)slots;
        _mask = slots - 1;
        _idleTicks = idleTicks;
        _seed = seed ?? (uint)Random.Shared.Next();
        // Zeroed, on huge pages where large (see TableMemory): lookups hit random slots.
        _slots = (ulong*)TableMemory.Allocate((nuint)slots * sizeof(ulong), CacheLine);
        _lastSeen = (uint*)TableMemory.Allocate((nuint)slots * sizeof(uint), CacheLine);
    }

    /// <summary>Number of slots.</summary>
    public int Capacity => _slotCount;

    /// <summary>Idle age (ms) used by the three-argument <see cref="Learn(uint, uint, uint)"/>.</summary>
    public uint IdleTicks => _idleTicks;

    /// <summary>Live-to-Collided transitions so far (each collision counted once, by the thread that made it).</summary>
    public long Collisions => Volatile.Read(ref _collisions);

    /// <summary>Remembers <paramref name="token"/> -> <paramref name="backendId"/> at tick
    /// <paramref name="now"/>, judging expiry with the table's <see cref="IdleTicks"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public LearnResult Learn(uint token, uint backendId, uint now) => Learn(token, backendId, now, _idleTicks);

    /// <summary>As <see cref="Learn(uint, uint, uint)"/>, with an explicit idle age (1..int.MaxValue ms).</summary>
    public LearnResult Learn(uint token, uint backendId, uint now, uint idleTicks)
    {
        if (backendId > MaxBackendId) ThrowBackendTooLarge(backendId);
        return LearnCore(token, backendId, now, idleTicks, asCollided: false);
    }

    /// <summary>The cluster's token exchange (issue 12): another appliance reports <paramref name="token"/> as Collided
    /// there. A Live entry here turns Collided (<see cref="LearnResult.Collision"/>, counted in <see cref="Collisions"/>),
    /// a Collided one is refreshed (<see cref="LearnResult.StillCollided"/>), an absent one is installed Collided
    /// (<see cref="LearnResult.Learned"/>). Same publication rules as <see cref="Learn(uint, uint, uint, uint)"/>: one
    /// compare-and-swap makes the entry visible, so a worker sees the token absent, Live or Collided, never in between.</summary>
    public LearnResult LearnCollided(uint token, uint now, uint idleTicks) => LearnCore(token, 0, now, idleTicks, asCollided: true);

    LearnResult LearnCore(uint token, uint backendId, uint now, uint idleTicks, bool asCollided)
    {
        uint home = Home(token);
        while (true)
        {
            int freeOffset = -1, expiredOffset = -1, expiredAge = -1;
            ulong freeWord = 0, expiredWord = 0;
            bool restart = false;
            for (int i = 0; i < ProbeLimit; i++)
            {
                uint idx = (home + (uint)i) & _mask;
                ulong w = Volatile.Read(ref _slots[idx]);
                ulong st = w & StateMask;
                if (st == Empty)
                {
                    if (freeOffset < 0) { freeOffset = i; freeWord = w; }
                    break; // nothing was ever placed beyond the first Empty slot
                }
                if (st == Tombstone)
                {
                    if (freeOffset < 0) { freeOffset = i; freeWord = w; }
                    continue;
                }
                int age = (int)(now - Volatile.Read(ref _lastSeen[idx]));
                bool expired = age >= (int)idleTicks;
                if (TokenOf(w) != token)
                {
                    if (expired && age > expiredAge) { expiredOffset = i; expiredAge = age; expiredWord = w; }
                    continue;
                }
                if (expired)
                {
                    // Our own token, but stale: retire it and start over as a fresh learn.
                    Interlocked.CompareExchange(ref _slots[idx], TombstoneOf(w), w);
                    restart = true;
                    break;
                }
                if (st == CollidedState)
                {
                    RefreshTick(idx, now);
                    return LearnResult.StillCollided;
                }
                if (BackendOf(w) == backendId && !asCollided)
                {
                    RefreshTick(idx, now);
                    return LearnResult.Refreshed;
                }
                if (Interlocked.CompareExchange(ref _slots[idx], CollidedOf(w), w) == w)
                {
                    Interlocked.Increment(ref _collisions);
                    RefreshTick(idx, now);
                    return LearnResult.Collision;
                }
                restart = true; // the word changed under us: look again
                break;
            }
            if (restart) continue;

            if (freeOffset < 0)
            {
                if (expiredOffset < 0) return LearnResult.Full;
                // Retire the longest-idle expired entry, then claim its slot as a free one. (Claiming it
                // directly would write our fresh tick under its old word for a moment, and a lookup of
                // that dead token could then find it alive.)
                uint victim = (home + (uint)expiredOffset) & _mask;
                Interlocked.CompareExchange(ref _slots[victim], TombstoneOf(expiredWord), expiredWord);
                continue;
            }

            int offset = freeOffset;
            ulong old = freeWord;
            uint slot = (home + (uint)offset) & _mask;
            // Tick first, then publish the word (see "Memory ordering"). If the claim fails, the tick
            // we wrote belongs to whoever holds the slot now; a ~0 ms refresh of it is harmless.
            Volatile.Write(ref _lastSeen[slot], now);
            ulong mine = Word(token, backendId, asCollided ? CollidedState : Live, NextGen(old));
            if (Interlocked.CompareExchange(ref _slots[slot], mine, old) != old) continue;
            return MergeDuplicates(token, home, offset, mine, now, idleTicks);
        }
    }

    /// <summary>After claiming the slot at <paramref name="myOffset"/>, finds a concurrent claim of the
    /// same token elsewhere in the window and merges the two (see "Memory ordering").</summary>
    LearnResult MergeDuplicates(uint token, uint home, int myOffset, ulong myWord, uint now, uint idleTicks)
    {
        while (true)
        {
            int otherOffset = -1;
            ulong other = 0;
            for (int i = 0; i < ProbeLimit; i++)
            {
                if (i == myOffset) continue;
                uint idx = (home + (uint)i) & _mask;
                ulong w = Volatile.Read(ref _slots[idx]);
                ulong st = w & StateMask;
                if (st == Empty) break;
                if (st == Tombstone || TokenOf(w) != token) continue;
                otherOffset = i; other = w;
                break;
            }
            if (otherOffset < 0) return LearnResult.Learned;

            uint mySlot = (home + (uint)myOffset) & _mask;
            ulong mine = Volatile.Read(ref _slots[mySlot]);
            ulong myState = mine & StateMask;
            // Our entry is gone (the other claimer merged it away, or it was forgotten/expired and
            // perhaps reclaimed: a new generation): nothing of ours is left to merge.
            if (myState is Empty or Tombstone || (mine & GenMask) != (myWord & GenMask)) return LearnResult.Learned;

            uint otherSlot = (home + (uint)otherOffset) & _mask;
            if ((int)(now - Volatile.Read(ref _lastSeen[otherSlot])) >= (int)idleTicks)
            {
                Interlocked.CompareExchange(ref _slots[otherSlot], TombstoneOf(other), other); // stale leftover
                continue;
            }

            bool bothLive = (other & StateMask) == Live && myState == Live;
            bool same = bothLive && BackendOf(other) == BackendOf(mine);
            // Two live entries for different backends are a new collision; if either side was already
            // Collided, that collision was counted when it happened.
            bool newCollision = bothLive && !same;
            (uint keepSlot, ulong keep, uint dropSlot, ulong drop) = myOffset < otherOffset
                ? (mySlot, mine, otherSlot, other)
                : (otherSlot, other, mySlot, mine);
            LearnResult result = same ? LearnResult.Learned : newCollision ? LearnResult.Collision : LearnResult.StillCollided;
            if (!same && (keep & StateMask) == Live)
            {
                if (Interlocked.CompareExchange(ref _slots[keepSlot], CollidedOf(keep), keep) != keep) continue;
            }
            if (newCollision) Interlocked.Increment(ref _collisions);
            if (Interlocked.CompareExchange(ref _slots[dropSlot], TombstoneOf(drop), drop) != drop) continue;
            RefreshTick(keepSlot, now);
            return result;
        }
    }

    /// <summary>Finds the backend of <paramref name="token"/>; see <see cref="TokenLookup"/> for the
    /// outcomes. <paramref name="backendId"/> is set only for <see cref="TokenLookup.Found"/> (else 0).</summary>
    public TokenLookup Lookup(uint token, uint now, uint idleTicks, out uint backendId)
    {
        uint home = Home(token);
        backendId = 0;
        for (int i = 0; i < ProbeLimit; i++)
        {
            uint idx = (home + (uint)i) & _mask;
            ulong w = Volatile.Read(ref _slots[idx]);
            ulong st = w & StateMask;
            if (st == Empty) break;
            if (st == Tombstone || TokenOf(w) != token) continue;
            uint seen = Volatile.Read(ref _lastSeen[idx]);
            if ((int)(now - seen) >= (int)idleTicks)
            {
                // Lazy expiry. A failed CAS means the slot changed under us (reclaimed, merged or
                // re-learned); the token was idle by our clock either way, so Expired stands.
                Interlocked.CompareExchange(ref _slots[idx], TombstoneOf(w), w);
                return TokenLookup.Expired;
            }
            if (st == CollidedState) return TokenLookup.Collided;
            if ((int)(now - seen) > 0) Volatile.Write(ref _lastSeen[idx], now);
            backendId = BackendOf(w);
            return TokenLookup.Found;
        }
        return TokenLookup.NotFound;
    }

    /// <summary>Removes <paramref name="token"/> if it maps to <paramref name="backendId"/> (the FIN, RST
    /// or MP_FASTCLOSE of the connection that taught it). A Collided entry stays: the other connection
    /// may still be alive, and it is unplaceable until it expires. Returns whether an entry was removed.</summary>
    public bool Forget(uint token, uint backendId)
    {
        uint home = Home(token);
        while (true)
        {
            bool retry = false;
            for (int i = 0; i < ProbeLimit; i++)
            {
                uint idx = (home + (uint)i) & _mask;
                ulong w = Volatile.Read(ref _slots[idx]);
                ulong st = w & StateMask;
                if (st == Empty) return false;
                if (st == Tombstone || TokenOf(w) != token) continue;
                if (st != Live || BackendOf(w) != backendId) return false;
                if (Interlocked.CompareExchange(ref _slots[idx], TombstoneOf(w), w) == w) return true;
                retry = true; // collided or re-learned meanwhile: decide again on the new word
                break;
            }
            if (!retry) return false;
        }
    }

    /// <summary>Retires expired entries among the next <paramref name="slots"/> slots (round-robin) and
    /// returns how many it retired. Housekeeping, from any worker; at 64 slots per call every ~1 ms a
    /// 1M-slot table is swept every ~16 s.</summary>
    public int ExpireSome(uint now, uint idleTicks, int slots)
    {
        int retired = 0;
        int n = Math.Min(slots, _slotCount);
        uint cursor = _sweepCursor;
        for (int i = 0; i < n; i++)
        {
            uint idx = (cursor + (uint)i) & _mask;
            ulong w = Volatile.Read(ref _slots[idx]);
            ulong st = w & StateMask;
            if (st is not (Live or CollidedState)) continue;
            if ((int)(now - Volatile.Read(ref _lastSeen[idx])) < (int)idleTicks) continue;
            if (Interlocked.CompareExchange(ref _slots[idx], TombstoneOf(w), w) == w) retired++;
        }
        _sweepCursor = cursor + (uint)n;
        return retired;
    }

    /// <summary>Calls <paramref name="visit"/>(token, backendId, collided, idle age in ticks) for every Live and Collided
    /// entry not expired at <paramref name="now"/> (backendId is 0 for Collided). Walks the whole table with plain
    /// reads while workers change it: an entry changed meanwhile may be reported in its old or new state. For the
    /// cluster's periodic re-announcement (management thread), never per packet.</summary>
    public void ForEachEntry(uint now, uint idleTicks, Action<uint, uint, bool, uint> visit)
    {
        for (int i = 0; i < _slotCount; i++)
        {
            ulong w = Volatile.Read(ref _slots[i]);
            ulong st = w & StateMask;
            if (st is not (Live or CollidedState)) continue;
            int age = (int)(now - Volatile.Read(ref _lastSeen[i]));
            if (age >= (int)idleTicks) continue;
            visit(TokenOf(w), st == Live ? BackendOf(w) : 0, st == CollidedState, (uint)Math.Max(age, 0));
        }
    }

    /// <summary>Live and Collided entries not expired at <paramref name="now"/>. Walks the whole table:
    /// tests and stats only, never per packet.</summary>
    public int Count(uint now, uint idleTicks)
    {
        int count = 0;
        for (int i = 0; i < _slotCount; i++)
        {
            ulong st = Volatile.Read(ref _slots[i]) & StateMask;
            if (st is (Live or CollidedState) && (int)(now - Volatile.Read(ref _lastSeen[i])) < (int)idleTicks)
                count++;
        }
        return count;
    }

    /// <summary>Slots (anywhere in the table) holding a Live or Collided entry for <paramref name="token"/>,
    /// expired or not. Tests use it to check that concurrent learns never leave duplicates.</summary>
    internal int SlotsHolding(uint token)
    {
        int n = 0;
        for (int i = 0; i < _slotCount; i++)
        {
            ulong w = Volatile.Read(ref _slots[i]);
            if ((w & StateMask) is (Live or CollidedState) && TokenOf(w) == token) n++;
        }
        return n;
    }

    /// <summary>Probe offset (from home) of the first Live or Collided slot holding <paramref name="token"/>, or -1.</summary>
    internal int ProbeOffsetOf(uint token)
    {
        uint home = Home(token);
        for (int i = 0; i < ProbeLimit; i++)
        {
            ulong w = Volatile.Read(ref _slots[(home + (uint)i) & _mask]);
            if ((w & StateMask) is (Live or CollidedState) && TokenOf(w) == token) return i;
        }
        return -1;
    }

    /// <summary>Test hook for the race that <see cref="MergeDuplicates"/> repairs: claims the first free
    /// slot of the window for <paramref name="token"/> as if this learn's scan had run before another
    /// learner's claim (so it did not see the existing entry), then merges like a real learn.</summary>
    internal LearnResult ClaimAsIfRacing(uint token, uint backendId, uint now)
    {
        uint home = Home(token);
        for (int i = 0; i < ProbeLimit; i++)
        {
            uint idx = (home + (uint)i) & _mask;
            ulong old = _slots[idx];
            if ((old & StateMask) is not (Empty or Tombstone)) continue;
            _lastSeen[idx] = now;
            ulong mine = Word(token, backendId, Live, NextGen(old));
            _slots[idx] = mine;
            return MergeDuplicates(token, home, i, mine, now, _idleTicks);
        }
        return LearnResult.Full;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    uint Home(uint token)
    {
        // murmur3 fmix32 of the keyed token: a bijection, so distinct tokens spread evenly.
        uint h = token ^ _seed;
        h ^= h >> 16; h *= 0x85EB_CA6B;
        h ^= h >> 13; h *= 0xC2B2_AE35;
        h ^= h >> 16;
        return h & _mask;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void RefreshTick(uint idx, uint now)
    {
        if ((int)(now - Volatile.Read(ref _lastSeen[idx])) > 0) Volatile.Write(ref _lastSeen[idx], now);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong Word(uint token, uint backendId, ulong state, ulong gen) => token | ((ulong)backendId << BackendShift) | state | gen;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint TokenOf(ulong w) => (uint)w;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint BackendOf(ulong w) => (uint)(w >> BackendShift) & MaxBackendId;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong TombstoneOf(ulong w) => (w & GenMask) | Tombstone;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong CollidedOf(ulong w) => (w & GenMask) | CollidedState | TokenOf(w); // backend no longer meaningful
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong NextGen(ulong w) => (w + (1UL << GenShift)) & GenMask; // wraps within 6 bits

    static void ThrowBackendTooLarge(uint backendId)
        => throw new ArgumentOutOfRangeException(nameof(backendId), backendId, "backend id must fit in 24 bits");

    /// <summary>Frees the native arrays. Call only after every worker has stopped using the table.</summary>
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    // A forgotten Dispose would leak native memory: free it on finalization instead.
    ~LearnedTokenTable() => Free();

    void Free()
    {
        if (_slots == null) return;
        TableMemory.Free(_slots);
        TableMemory.Free(_lastSeen);
        _slots = null;
        _lastSeen = null;
    }
}
