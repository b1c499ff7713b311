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

/// <summary>
/// Per-frame results carried from the first pass to the second, one slot per frame of a burst. Owned
/// by one worker's pipeline and allocated once; the stages read and write the slots of the frame
/// they handle.
/// </summary>
public sealed class FrameState
{
    public readonly PacketInfo[] Info = new PacketInfo[Burst.Size];
    public readonly FrameKind[] Kind = new FrameKind[Burst.Size];
    public readonly int[] Vip = new int[Burst.Size];
    public readonly ulong[] Hash = new ulong[Burst.Size];
    public readonly TokenAction[] Action = new TokenAction[Burst.Size];
    /// <summary>MPTCP key to learn from (MP_CAPABLE) or to forget (MP_FASTCLOSE).</summary>
    public readonly ulong[] Key = new ulong[Burst.Size];
    /// <summary>Token of an MP_JOIN SYN.</summary>
    public readonly uint[] JoinToken = new uint[Burst.Size];
    /// <summary>Decrypted server id of a join; <see cref="NoServerId"/> when none, <see cref="ToDecrypt"/> until decrypted.</summary>
    public readonly int[] ServerId = new int[Burst.Size];
    /// <summary>Backend a steered frame goes to, for the forwarding pass.</summary>
    public readonly int[] Backend = new int[Burst.Size];
    /// <summary>Joins of this burst waiting for <c>JoinSteering.DecryptTokens</c>.</summary>
    public int PendingDecrypts;

    public const int NoServerId = -1, ToDecrypt = -2;
}
