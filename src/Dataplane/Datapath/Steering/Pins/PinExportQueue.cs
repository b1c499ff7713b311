using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Datapath.Steering.Pins;

/// <summary>One flow pin that the current Maglev table no longer reproduces (issue 12 item 4): flow hash, the backend
/// id it is pinned to on this appliance, and how many ticks it has left before it idles out.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PinEvent
{
    public ulong Hash;
    public uint BackendId;
    public uint RemainingTicks;
}

/// <summary>
/// A worker's pins on their way to the cluster exchange: a bounded lock-free single-producer single-consumer ring
/// (the same discipline as <see cref="Tokens.TokenExportQueue"/>). The producer is the owning worker's housekeeping
/// sweep (no allocation, no lock, no syscall); the consumer is the exchange's send thread. A full ring drops the
/// pin and counts it: the next sweep pass exports it again.
/// </summary>
public sealed class PinExportQueue
{
    readonly PinEvent[] _ring;
    readonly int _mask;
    PaddedLong _tail;      // producer only
    PaddedLong _head;      // consumer only
    PaddedLong _overflows; // producer only

    /// <summary>A ring of <paramref name="capacity"/> pins (a power of two, 2..2^24).</summary>
    public PinExportQueue(int capacity)
    {
        if (capacity < 2 || capacity > 1 << 24 || !BitOperations.IsPow2(capacity))
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "pin export queue capacity must be a power of two, 2..16777216");
        _ring = new PinEvent[capacity];
        _mask = capacity - 1;
    }

    public int Capacity => _ring.Length;
    public long Overflows => Volatile.Read(ref _overflows.Value);
    public int Count => (int)(Volatile.Read(ref _tail.Value) - Volatile.Read(ref _head.Value));

    /// <summary>Producer: appends a pin, or counts an overflow and returns false.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnqueue(ulong hash, uint backendId, uint remainingTicks)
    {
        long tail = _tail.Value;
        if (tail - Volatile.Read(ref _head.Value) >= _ring.Length)
        {
            Volatile.Write(ref _overflows.Value, _overflows.Value + 1);
            return false;
        }
        ref var e = ref _ring[(int)tail & _mask];
        e.Hash = hash;
        e.BackendId = backendId;
        e.RemainingTicks = remainingTicks;
        Volatile.Write(ref _tail.Value, tail + 1); // release
        return true;
    }

    /// <summary>Consumer: takes the oldest pin.</summary>
    public bool TryDequeue(out PinEvent e)
    {
        long head = _head.Value;
        if (head == Volatile.Read(ref _tail.Value)) { e = default; return false; } // acquire
        e = _ring[(int)head & _mask];
        Volatile.Write(ref _head.Value, head + 1);
        return true;
    }

    [StructLayout(LayoutKind.Explicit, Size = 128)]
    struct PaddedLong
    {
        [FieldOffset(64)] public long Value;
    }
}
