using System.Diagnostics;
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
public sealed class TokenExportQueue(int capacity) : SpscRing<TokenEvent>(capacity, "token export queue")
{
    /// <summary>Producer (the owning worker): appends an event, or counts an overflow and returns false.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnqueue(TokenEventKind kind, uint token, uint backendId) =>
        TryEnqueue(new TokenEvent { Token = token, BackendId = backendId, Kind = kind, Stamp = Stopwatch.GetTimestamp() });
}
