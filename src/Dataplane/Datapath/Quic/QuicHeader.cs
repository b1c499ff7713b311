using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Datapath.Quic;

/// <summary>
/// What QUIC-LB made of one UDP datagram. Names are part of the counters JSON: append, never renumber.
/// <see cref="Ok"/> is the only outcome that routes by the CID; the "fall back" group goes to the
/// 4-tuple flow table and Maglev like any UDP flow; the "malformed" group is dropped.
/// </summary>
public enum QuicLbResult : byte
{
    /// <summary>A server-chosen DCID decoded to a server id.</summary>
    Ok = 0,
    // Fall back to the 4-tuple flow table + Maglev
    /// <summary>Initial or 0-RTT long header: the DCID was chosen by the client (RFC 9000 7.2).</summary>
    ClientInitial,
    /// <summary>Version Negotiation or Retry: packets that only servers send.</summary>
    ServerOnlyPacket,
    /// <summary>A long header of a version whose packet types are not known here (RFC 8999 allows any).</summary>
    UnknownVersion,
    /// <summary>Config rotation bits 0b111: the server marked the CID unroutable (draft-21 "Unroutable Connection IDs").</summary>
    UnroutableCid,
    /// <summary>No configuration lives at the CID's config rotation codepoint.</summary>
    UnknownConfig,
    /// <summary>A long-header DCID shorter than its configuration's CID length (or empty).</summary>
    CidTooShort,
    /// <summary>Decoded, but no live backend of the VIP's pool has that server id.</summary>
    UnknownServerId,
    // Malformed: dropped
    /// <summary>A UDP datagram with no payload.</summary>
    Empty,
    /// <summary>A long header cut before the end of its DCID (RFC 8999 5.1).</summary>
    LongHeaderTruncated,
    /// <summary>A short header shorter than one octet plus the configuration's CID length (RFC 8999 5.2).</summary>
    ShortHeaderTruncated,
    /// <summary>A QUIC v1/v2 long header whose DCID length exceeds 20 (RFC 9000 17.2).</summary>
    DcidTooLong,
    // Fall back (appended after the malformed group: names and numbers stay as they were)
    /// <summary>The configuration says servers self-encode the CID length, and the CID's low five bits disagree
    /// with the DCID's length: not a CID of that configuration.</summary>
    CidLengthMismatch,
    Count
}

/// <summary>
/// Locates the Destination Connection ID of a QUIC packet per the version-independent invariants
/// (RFC 8999): long header (first bit 1): version (4 octets), DCID length (1), DCID; short header (first
/// bit 0): the DCID follows the first octet, and its length is not on the wire: the balancer knows it
/// from the configuration its first octet selects (config rotation bits). Packet types are read only for
/// QUIC v1 (RFC 9000) and v2 (RFC 9369), to tell client-chosen DCIDs (Initial, 0-RTT) from server-chosen
/// ones. Never reads outside <paramref name="payload"/>.
/// </summary>
public static class QuicHeader
{
    public const uint Version1 = 0x0000_0001;
    public const uint Version2 = 0x6B33_43CF;
    public const int MaxV1CidLength = 20;

    /// <summary>
    /// On <see cref="QuicLbResult.Ok"/>, <paramref name="dcid"/> is the packet's DCID (long header: as
    /// long as the header says; short header: the configuration's CID length). Other results name why
    /// the packet cannot be routed by its CID.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static QuicLbResult LocateDcid(ReadOnlySpan<byte> payload, QuicLbConfigSet configs, out ReadOnlySpan<byte> dcid)
    {
        dcid = default;
        if (payload.IsEmpty) return QuicLbResult.Empty;
        byte first = payload[0];
        if ((first & 0x80) == 0)
        {
            if (payload.Length < 2) return QuicLbResult.ShortHeaderTruncated;
            uint cr = (uint)payload[1] >> 5;
            if (cr == QuicLbConfig.UnroutableConfigId) return QuicLbResult.UnroutableCid;
            ref QuicLbConfigSet.SlotInfo info = ref configs.Info(cr);
            if (info.Present == 0) return QuicLbResult.UnknownConfig;
            if (payload.Length < 1 + info.CidLength) return QuicLbResult.ShortHeaderTruncated;
            dcid = payload.Slice(1, info.CidLength);
            return QuicLbResult.Ok;
        }
        if (payload.Length < 6) return QuicLbResult.LongHeaderTruncated;
        uint version = BinaryPrimitives.ReadUInt32BigEndian(payload[1..]);
        int dcidLength = payload[5];
        if (payload.Length < 6 + dcidLength) return QuicLbResult.LongHeaderTruncated;
        if (version == 0) return QuicLbResult.ServerOnlyPacket; // Version Negotiation
        int type = (first >> 4) & 3;
        if (version == Version1)
        {
            if (dcidLength > MaxV1CidLength) return QuicLbResult.DcidTooLong;
            if (type is 0 or 1) return QuicLbResult.ClientInitial;  // Initial, 0-RTT
            if (type == 3) return QuicLbResult.ServerOnlyPacket;    // Retry
        }
        else if (version == Version2)
        {
            if (dcidLength > MaxV1CidLength) return QuicLbResult.DcidTooLong;
            if (type is 1 or 2) return QuicLbResult.ClientInitial;  // v2: Initial = 1, 0-RTT = 2
            if (type == 0) return QuicLbResult.ServerOnlyPacket;    // v2: Retry = 0
        }
        else return QuicLbResult.UnknownVersion;
        if (dcidLength == 0) return QuicLbResult.CidTooShort;
        dcid = payload.Slice(6, dcidLength);
        return QuicLbResult.Ok;
    }

    /// <summary>Whether a result sends the packet to the 4-tuple path (true) rather than dropping it.</summary>
    public static bool FallsBack(QuicLbResult r) => r is (> QuicLbResult.Ok and < QuicLbResult.Empty) or QuicLbResult.CidLengthMismatch;
}

/// <summary>A CID copied out of a packet into a fixed 32-octet buffer (the decoders read 16-octet vectors at any offset up to 16).</summary>
[InlineArray(32)]
public struct QuicCidBuffer
{
    byte _first;
}

/// <summary>One connection ID for the batched decoder: up to 20 octets and its length.</summary>
public struct QuicCid
{
    public QuicCidBuffer Bytes;
    public byte Length;

    public QuicCid(ReadOnlySpan<byte> cid) => Set(cid);

    /// <summary>Copies <paramref name="cid"/> (at most 20 octets; longer ones are cut to 20, the decoders never need more).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(ReadOnlySpan<byte> cid)
    {
        int n = Math.Min(cid.Length, QuicHeader.MaxV1CidLength);
        Span<byte> b = Bytes;
        b.Clear();
        cid[..n].CopyTo(b);
        Length = (byte)n;
    }

    /// <summary>The CID's octets (a copy; tests and tools).</summary>
    public readonly byte[] ToArray() { QuicCidBuffer b = Bytes; return ((ReadOnlySpan<byte>)b)[..Length].ToArray(); }
}

/// <summary>
/// A decoded server id as a 128-bit key: octets 0..len-1 are the server id, octet 15 its length
/// (server ids are at most 15 octets, so the two never overlap), the rest zero. Equal server ids of
/// different lengths are different keys.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct QuicServerId : IEquatable<QuicServerId>
{
    public readonly ulong Lo, Hi;

    public QuicServerId(ulong lo, ulong hi) { Lo = lo; Hi = hi; }

    public static QuicServerId FromBytes(ReadOnlySpan<byte> serverId)
    {
        if (serverId.Length is < QuicLbConfig.MinServerIdLength or > QuicLbConfig.MaxServerIdLength)
            throw new ArgumentException($"server id must be {QuicLbConfig.MinServerIdLength}..{QuicLbConfig.MaxServerIdLength} octets", nameof(serverId));
        Span<byte> b = stackalloc byte[16];
        b.Clear();
        serverId.CopyTo(b);
        b[15] = (byte)serverId.Length;
        return new QuicServerId(BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt64LittleEndian(b[8..]));
    }

    public int Length => (int)(Hi >> 56);

    public byte[] ToBytes()
    {
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(b, Lo);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], Hi);
        return b[..Math.Min(Length, 15)].ToArray();
    }

    public bool Equals(QuicServerId other) => Lo == other.Lo && Hi == other.Hi;
    public override bool Equals(object? obj) => obj is QuicServerId o && Equals(o);
    public override int GetHashCode() => HashCode.Combine(Lo, Hi);
    public static bool operator ==(QuicServerId a, QuicServerId b) => a.Equals(b);
    public static bool operator !=(QuicServerId a, QuicServerId b) => !a.Equals(b);
    public override string ToString() => Length == 0 ? "(none)" : Convert.ToHexString(ToBytes()).ToLowerInvariant();
}
