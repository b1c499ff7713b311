using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Datapath.Steering.Tokens;

/// <summary>What a worker tells the cluster's token exchange (issue 12, item 2).</summary>
public enum TokenEventKind : byte
{
    /// <summary>The worker learned a new token (<see cref="LearnResult.Learned"/>).</summary>
    Learned = 1,
    /// <summary>The worker's learn turned the token Collided (<see cref="LearnResult.Collision"/>).</summary>
    Collided = 2,
    /// <summary>The connection that taught the token ended (FIN/RST of its initial subflow, MP_FASTCLOSE).</summary>
    Forgotten = 3,
}

/// <summary>One learned-token event. <see cref="Stamp"/> is <see cref="Stopwatch.GetTimestamp"/> at the event
/// (propagation delay is measured from it).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TokenEvent
{
    public uint Token;
    public uint BackendId;
    public long Stamp;
    public TokenEventKind Kind;
}

/// <summary>
/// A worker's learned-token events on their way to the management side (the cluster's token exchange, issue 12):
/// a bounded, lock-free single-producer single-consumer ring. The producer is the one worker that owns it (on the
/// packet path: no allocation, no lock, no syscall, a few plain stores and one release store); the consumer is the
/// exchange's thread. When the ring is full the event is dropped and counted in <see cref="Overflows"/>: the periodic
/// full re-announcement of the table (anti-entropy) carries the token later.
/// </summary>
public sealed class TokenExportQueue
{
    readonly TokenEvent[] _ring;
    readonly int _mask;
    // Producer and consumer indexes on their own cache lines (128 bytes apart with the padding structs).
    PaddedLong _tail;      // written by the producer only
    PaddedLong _head;      // written by the consumer only
    PaddedLong _overflows; // written by the producer only

    /// <summary>A ring of <paramref name="capacity"/> events (a power of two, 2..2^24).</summary>
    public TokenExportQueue(int capacity)
    {
        if (capacity < 2 || capacity > 1 << 24 || !BitOperations.IsPow2(capacity))
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "token export queue capacity must be a power of two, 2..16777216");
        _ring = new TokenEvent[capacity];
        _mask = capacity - 1;
    }

    public int Capacity => _ring.Length;

    /// <summary>Events refused because the ring was full (each one lost to the live exchange; the resync covers it).</summary>
    public long Overflows => Volatile.Read(ref _overflows.Value);

    /// <summary>Events waiting (approximate when read by neither side).</summary>
    public int Count => (int)(Volatile.Read(ref _tail.Value) - Volatile.Read(ref _head.Value));

    /// <summary>Producer (the owning worker): appends an event, or counts an overflow and returns false.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnqueue(TokenEventKind kind, uint token, uint backendId)
    {
        long tail = _tail.Value;
        if (tail - Volatile.Read(ref _head.Value) >= _ring.Length)
        {
            Volatile.Write(ref _overflows.Value, _overflows.Value + 1);
            return false;
        }
        ref var e = ref _ring[(int)tail & _mask];
        e.Token = token;
        e.BackendId = backendId;
        e.Kind = kind;
        e.Stamp = Stopwatch.GetTimestamp();
        Volatile.Write(ref _tail.Value, tail + 1); // release: the slot's fields are visible before the new tail
        return true;
    }

    /// <summary>Consumer (the exchange's thread): takes the oldest event.</summary>
    public bool TryDequeue(out TokenEvent e)
    {
        long head = _head.Value;
        if (head == Volatile.Read(ref _tail.Value)) { e = default; return false; } // acquire: pairs with the producer's release
        e = _ring[(int)head & _mask];
        Volatile.Write(ref _head.Value, head + 1); // the producer may reuse the slot only after this
        return true;
    }

    [StructLayout(LayoutKind.Explicit, Size = 128)]
    struct PaddedLong
    {
        [FieldOffset(64)] public long Value;
    }
}
