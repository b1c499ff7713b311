using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Datapath;

/// <summary>
/// A bounded lock-free single-producer single-consumer ring of <typeparamref name="T"/>: what a worker hands to a
/// management-side thread (learned-token events, shared pins). The producer (the owning worker, on the packet path)
/// does no allocation, lock or syscall: a few plain stores and one release store; a full ring refuses the item and
/// counts it in <see cref="Overflows"/>. The consumer is one management thread.
/// </summary>
public class SpscRing<T> where T : struct
{
    readonly T[] _ring;
    readonly int _mask;
    // Producer and consumer indexes on their own cache lines (128 bytes apart with the padding structs).
    PaddedLong _tail;      // written by the producer only
    PaddedLong _head;      // written by the consumer only
    PaddedLong _overflows; // written by the producer only

    /// <summary>A ring of <paramref name="capacity"/> items (a power of two, 2..2^24); <paramref name="what"/> names it in the error.</summary>
    protected SpscRing(int capacity, string what)
    {
        if (capacity < 2 || capacity > 1 << 24 || !BitOperations.IsPow2(capacity))
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"{what} capacity must be a power of two, 2..16777216");
        _ring = new T[capacity];
        _mask = capacity - 1;
    }

    public int Capacity => _ring.Length;

    /// <summary>Items refused because the ring was full.</summary>
    public long Overflows => Volatile.Read(ref _overflows.Value);

    /// <summary>Items waiting (approximate when read by neither side).</summary>
    public int Count => (int)(Volatile.Read(ref _tail.Value) - Volatile.Read(ref _head.Value));

    /// <summary>Producer: appends an item, or counts an overflow and returns false.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected bool TryEnqueue(in T item)
    {
        long tail = _tail.Value;
        if (tail - Volatile.Read(ref _head.Value) >= _ring.Length)
        {
            Volatile.Write(ref _overflows.Value, _overflows.Value + 1);
            return false;
        }
        _ring[(int)tail & _mask] = item;
        Volatile.Write(ref _tail.Value, tail + 1); // release: the slot is visible before the new tail
        return true;
    }

    /// <summary>Consumer: takes the oldest item.</summary>
    public bool TryDequeue(out T item)
    {
        long head = _head.Value;
        if (head == Volatile.Read(ref _tail.Value)) { item = default; return false; } // acquire: pairs with the producer's release
        item = _ring[(int)head & _mask];
        Volatile.Write(ref _head.Value, head + 1); // the producer may reuse the slot only after this
        return true;
    }
}

/// <summary>A long alone on its cache line (128 bytes with the adjacent-line prefetcher). Outside <see cref="SpscRing{T}"/>:
/// a struct nested in a generic type is generic itself, and generic types cannot have an explicit layout.</summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct PaddedLong
{
    [FieldOffset(64)] public long Value;
}
