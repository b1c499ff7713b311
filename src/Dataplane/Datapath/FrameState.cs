using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Dataplane.Datapath;

/// <summary>What the first pass (classification) decided for a frame; read by the second pass.</summary>
public enum FrameKind : byte
{
    Done = 0,      // finished in the first pass (dropped or answered): the second pass skips it
    Steer = 1,     // steer by flow table / Maglev, do not pin a miss
    SteerPin = 2,  // steer and pin: a TCP SYN or a UDP packet
    Join = 3,      // an MP_JOIN SYN to a VIP that steers joins
    Quic = 4,      // QUIC-LB: a DCID that decoded to a usable backend (Steering/QuicSteering.cs); pin moves to it
}

/// <summary>What token tracking does after a segment of a learned-token VIP was steered.</summary>
public enum TokenAction : byte
{
    None = 0,
    Learn = 1,      // MP_CAPABLE echoing the server's key: learn its token
    FastClose = 2,  // MP_FASTCLOSE: forget the token
    Track = 3,      // any other segment of the connection: refresh, or forget on FIN/RST of the initial subflow
}

/// <summary>One frame's state between the passes: one cache line per frame (issue 14).</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct FrameSlot
{
    /// <summary>The flow hash (FlowHash): flow-table key, Maglev slot.</summary>
    public ulong Hash;
    /// <summary>MPTCP key to learn from (MP_CAPABLE) or to forget (MP_FASTCLOSE).</summary>
    public ulong Key;
    /// <summary>The VIP's index in the snapshot.</summary>
    public int Vip;
    /// <summary>Decrypted server id of a join; <see cref="FrameState.NoServerId"/> when none (or not decrypted yet: see
    /// <see cref="FrameState.QueueDecrypt"/>).</summary>
    public int ServerId;
    /// <summary>Backend a steered frame goes to, for the forwarding pass.</summary>
    public int Backend;
    /// <summary>Token of an MP_JOIN SYN.</summary>
    public uint JoinToken;
    /// <summary>The flow's idle timeout in ticks (its pool's, for the flow's own protocol), set with the VIP.</summary>
    public uint IdleTicks;
    /// <summary>The timeout a pin made or refreshed by this frame gets: the handshake's for a SYN, else <see cref="IdleTicks"/>.</summary>
    public uint PinIdleTicks;
    public FrameKind Kind;
    /// <summary>A TCP SYN without ACK (Kind <see cref="FrameKind.SteerPin"/>): it opens a connection, so a pin it finds
    /// must still take new flows (FlowSteering). Set with the VIP; false for ICMP errors and fragments.</summary>
    public bool SynOpens;
    public TokenAction Action;
    /// <summary>The forwarding body of the frame's VIP (its pool's mode x the packet's family), set with the VIP.</summary>
    public Forwarding.ForwardBody Body;
}

/// <summary>
/// Per-frame results carried from the first pass to the second, one slot per frame of a burst. Owned by one worker's
/// pipeline and allocated once, in native memory aligned to cache lines (as <see cref="Burst"/>'s arrays): each frame's
/// small state is one line (<see cref="FrameSlot"/>), its parse result a <see cref="PacketInfo"/>; indexing is a pointer
/// offset, with no bounds check and no array object to load on the packet path. Frame indices are below
/// <see cref="Burst.Size"/> by construction (a burst never holds more).
/// </summary>
public sealed unsafe class FrameState : IDisposable
{
    readonly FrameSlot* _slots;
    /// <summary>The slots themselves, for a loop to hold in a register (<c>Slots[i]</c> is <c>this[i]</c>).</summary>
    public FrameSlot* Slots => _slots;
    /// <summary>The parser's result for each frame of the burst.</summary>
    public readonly PacketInfo* Info;
    readonly void* _block;

    /// <summary>Joins of this burst waiting for <c>JoinSteering.DecryptTokens</c>: their tokens are the first this many of
    /// <see cref="DecryptTokens"/>, their frames the same of <see cref="DecryptFrames"/>.</summary>
    public int PendingDecrypts;

    /// <summary>The tokens to decrypt, in the order the first pass queued them (<see cref="QueueDecrypt"/>): the batch the
    /// token kernel takes as it is, with no second walk over the burst to gather it.</summary>
    public readonly uint* DecryptTokens;
    /// <summary>The frame of each queued token.</summary>
    public readonly byte* DecryptFrames;

    public const int NoServerId = -1;
    const int CacheLine = 64;

    public FrameState()
    {
        nuint slots = (nuint)(Burst.Size * sizeof(FrameSlot));
        nuint infos = (nuint)(Burst.Size * sizeof(PacketInfo) + CacheLine - 1) & ~(nuint)(CacheLine - 1);
        nuint queue = (nuint)(Burst.Size * (sizeof(uint) + 1));
        _block = NativeMemory.AlignedAlloc(slots + infos + queue, CacheLine);
        NativeMemory.Clear(_block, slots + infos + queue);
        _slots = (FrameSlot*)_block;
        Info = (PacketInfo*)((byte*)_block + slots);
        DecryptTokens = (uint*)((byte*)_block + slots + infos);
        DecryptFrames = (byte*)(DecryptTokens + Burst.Size);
    }

    /// <summary>Queues frame <paramref name="i"/>'s join token for the batch decryption between the passes. At most one
    /// per frame of a burst; the queue is emptied by the decryption, or by <see cref="ClearDecrypts"/> at a burst's start.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void QueueDecrypt(int i, uint token)
    {
        int n = PendingDecrypts;
        Debug.Assert((uint)n < Burst.Size, "one token per frame, and the queue is emptied every burst");
        if ((uint)n >= Burst.Size) return; // a bug upstream: the join goes without a server id rather than past the queue
        DecryptTokens[n] = token;
        DecryptFrames[n] = (byte)i;
        PendingDecrypts = n + 1;
    }

    /// <summary>Empties the decryption queue (the first pass starts with it empty).</summary>
    public void ClearDecrypts() => PendingDecrypts = 0;

    /// <summary>Frame <paramref name="i"/>'s slot (0 &lt;= i &lt; <see cref="Burst.Size"/>).</summary>
    public ref FrameSlot this[int i]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            Debug.Assert((uint)i < Burst.Size);
            return ref _slots[i];
        }
    }

    int _freed;

    /// <summary>Frees the slots (once; a processor that was never disposed frees them when it is collected).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _freed, 1) != 0) return;
        NativeMemory.AlignedFree(_block);
        GC.SuppressFinalize(this);
    }

    ~FrameState() => Dispose();
}
