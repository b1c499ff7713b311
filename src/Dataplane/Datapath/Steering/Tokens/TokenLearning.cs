using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace Switchyard.Dataplane.Datapath.Steering.Tokens;

/// <summary>
/// RFC 8684 section 3.1 (MPTCP v1): the token and initial data sequence number a host derives from
/// its 64-bit key. digest = SHA-256(key as 8 octets big-endian); token = digest[0..3] read big-endian
/// (the most significant 32 bits); IDSN = digest[24..31] read big-endian (the least significant 64).
/// The learned-token mode runs this on the server key seen in the third ACK's MP_CAPABLE, so it must not
/// allocate: both buffers are on the stack and <see cref="SHA256.HashData(ReadOnlySpan{byte}, Span{byte})"/>
/// is the one-shot, span-based form (no hasher object).
/// </summary>
public static class TokenLearning
{
    const int KeyBytes = 8;      // RFC 8684 keys are 64 bits
    const int DigestBytes = 32;  // SHA-256

    /// <summary>The token of <paramref name="key"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Token(ulong key)
    {
        Derive(key, out uint token, out _);
        return token;
    }

    /// <summary>The token and the IDSN of <paramref name="key"/>.</summary>
    public static void Derive(ulong key, out uint token, out ulong idsn)
    {
        Span<byte> k = stackalloc byte[KeyBytes];
        Span<byte> digest = stackalloc byte[DigestBytes];
        BinaryPrimitives.WriteUInt64BigEndian(k, key);
        SHA256.HashData(k, digest);
        token = BinaryPrimitives.ReadUInt32BigEndian(digest);
        idsn = BinaryPrimitives.ReadUInt64BigEndian(digest[24..]);
    }
}
