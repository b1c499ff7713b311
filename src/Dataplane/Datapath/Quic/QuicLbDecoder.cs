using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Switchyard.Dataplane.Datapath.Quic;

/// <summary>
/// The balancer's QUIC-LB decoder: from a CID to the server id, nothing else (the nonce is not needed to
/// route). Two entry points with identical results: <see cref="DecodeServerId"/> (one CID) and
/// <see cref="DecodeServerIds"/> (a burst, eight CIDs' AES blocks in flight; QuicLbDecoder.Batch.cs).
/// No allocation, no branches on key material.
/// <para>
/// Working form (AES-NI): a half is a Vector128 whose first half_len octets hold the half and whose
/// other octets are zero, so a round input expand(L, p, half) is <c>half | constant</c>, and the AES
/// whitening <c>(half | c) ^ rk0</c> is <c>half ^ (rk0 ^ c)</c>, one XOR with a precomputed vector
/// (<see cref="QuicLbConfigSet"/> slot layout). Truncation and the odd-length nibble clearing are one
/// AND with the half's mask. Decryption needs passes 4, 3, 2; pass 1 only when the server id is longer
/// than the nonce (it then reaches into right_0). Plaintext configs copy; the 16-octet single-pass
/// configs run one <c>aesdec</c> block.
/// </para>
/// </summary>
public static partial class QuicLbDecoder
{
    /// <summary>
    /// The server id of one CID (at least one octet; the first octet selects the configuration).
    /// Results: <see cref="QuicLbResult.Ok"/>, <see cref="QuicLbResult.UnroutableCid"/>,
    /// <see cref="QuicLbResult.UnknownConfig"/>, <see cref="QuicLbResult.CidTooShort"/>, <see cref="QuicLbResult.CidLengthMismatch"/>.
    /// </summary>
    public static QuicLbResult DecodeServerId(ReadOnlySpan<byte> cid, QuicLbConfigSet configs, out QuicServerId serverId)
    {
        ArgumentNullException.ThrowIfNull(configs);
        var c = new QuicCid(cid);
        return DecodeServerId(ref c, configs, out serverId);
    }

    /// <inheritdoc cref="DecodeServerId(ReadOnlySpan{byte}, QuicLbConfigSet, out QuicServerId)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static QuicLbResult DecodeServerId(ref QuicCid cid, QuicLbConfigSet configs, out QuicServerId serverId)
    {
        serverId = default;
        QuicLbResult r = Check(ref cid, configs, out uint cr);
        if (r != QuicLbResult.Ok) return r;
        if (!Aes.IsSupported) return DecodeSoftware(ref cid, configs, cr, out serverId);
        ref QuicLbConfigSet.SlotInfo info = ref configs.Info(cr);
        ref Vector128<byte> k = ref configs.Slot(cr);
        ref byte b = ref MemoryMarshal.GetReference((Span<byte>)cid.Bytes);
        Vector128<byte> ct = Vector128.LoadUnsafe(ref b, 1);
        Vector128<byte> pt;
        switch ((QuicLbAlgorithm)info.Algorithm)
        {
            case QuicLbAlgorithm.Plaintext:
                pt = ct;
                break;
            case QuicLbAlgorithm.SinglePass:
                pt = AesDecryption.DecryptHardware(ct, ref Unsafe.Add(ref k, QuicLbConfigSet.DecBase));
                break;
            default:
            {
                Vector128<byte> lm = Unsafe.Add(ref k, QuicLbConfigSet.LeftMask), rm = Unsafe.Add(ref k, QuicLbConfigSet.RightMask);
                Vector128<byte> l = ct & lm;
                Vector128<byte> r2 = Vector128.LoadUnsafe(ref b, 1 + (nuint)info.RightOffset) & rm;
                l ^= Rounds(r2 ^ Unsafe.Add(ref k, QuicLbConfigSet.WhiteningBase + 4), ref k) & lm;
                r2 ^= Rounds(l ^ Unsafe.Add(ref k, QuicLbConfigSet.WhiteningBase + 3), ref k) & rm;
                l ^= Rounds(r2 ^ Unsafe.Add(ref k, QuicLbConfigSet.WhiteningBase + 2), ref k) & lm;
                if (info.NeedsFourthPass != 0)
                    r2 ^= Rounds(l ^ Unsafe.Add(ref k, QuicLbConfigSet.WhiteningBase + 1), ref k) & rm;
                pt = l | Shuffle(r2, Unsafe.Add(ref k, QuicLbConfigSet.Merge));
                break;
            }
        }
        serverId = ToServerId(pt, ref k);
        return QuicLbResult.Ok;
    }

    /// <summary>Config rotation bits, configuration present, length: the checks shared by both decoders.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static QuicLbResult Check(ref QuicCid cid, QuicLbConfigSet configs, out uint cr)
    {
        cr = 0;
        if (cid.Length == 0) return QuicLbResult.CidTooShort;
        cr = (uint)cid.Bytes[0] >> 5;
        if (cr == QuicLbConfig.UnroutableConfigId) return QuicLbResult.UnroutableCid;
        ref QuicLbConfigSet.SlotInfo info = ref configs.Info(cr);
        if (info.Present == 0) return QuicLbResult.UnknownConfig;
        if (cid.Length < info.CidLength) return QuicLbResult.CidTooShort;
        if (info.SelfEncodedLength != 0 && (cid.Bytes[0] & 0x1F) + 1 != cid.Length) return QuicLbResult.CidLengthMismatch;
        return QuicLbResult.Ok;
    }

    /// <summary>Without AES-NI: the reference cipher (octet by octet, software AES).</summary>
    static QuicLbResult DecodeSoftware(ref QuicCid cid, QuicLbConfigSet configs, uint cr, out QuicServerId serverId)
    {
        var config = configs[(int)cr]!;
        Span<byte> sid = stackalloc byte[QuicLbConfig.MaxServerIdLength];
        Span<byte> nonce = stackalloc byte[QuicLbConfig.MaxNonceLength];
        QuicLbCipher.Decode(config, ((ReadOnlySpan<byte>)cid.Bytes)[..cid.Length], sid, nonce);
        serverId = QuicServerId.FromBytes(sid[..config.ServerIdLength]);
        return QuicLbResult.Ok;
    }

    /// <summary>Rounds 1..10 of AES-128 on an already whitened block; <paramref name="rk"/> = round key 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> Rounds(Vector128<byte> s, ref Vector128<byte> rk)
    {
        s = Aes.Encrypt(s, Unsafe.Add(ref rk, 1));
        s = Aes.Encrypt(s, Unsafe.Add(ref rk, 2));
        s = Aes.Encrypt(s, Unsafe.Add(ref rk, 3));
        s = Aes.Encrypt(s, Unsafe.Add(ref rk, 4));
        s = Aes.Encrypt(s, Unsafe.Add(ref rk, 5));
        s = Aes.Encrypt(s, Unsafe.Add(ref rk, 6));
        s = Aes.Encrypt(s, Unsafe.Add(ref rk, 7));
        s = Aes.Encrypt(s, Unsafe.Add(ref rk, 8));
        s = Aes.Encrypt(s, Unsafe.Add(ref rk, 9));
        return Aes.EncryptLast(s, Unsafe.Add(ref rk, 10));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> Shuffle(Vector128<byte> v, Vector128<byte> control)
        => Ssse3.IsSupported ? Ssse3.Shuffle(v, control) : Vector128.Shuffle(v, control);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static QuicServerId ToServerId(Vector128<byte> plaintext, ref Vector128<byte> slot)
    {
        Vector128<ulong> id = ((plaintext & Unsafe.Add(ref slot, QuicLbConfigSet.SidMask)) | Unsafe.Add(ref slot, QuicLbConfigSet.SidTag)).AsUInt64();
        return new QuicServerId(id.GetElement(0), id.GetElement(1));
    }
}
