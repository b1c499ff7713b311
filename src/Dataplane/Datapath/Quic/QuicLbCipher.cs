using System.Runtime.Intrinsics.X86;

namespace Switchyard.Dataplane.Datapath.Quic;

/// <summary>
/// The reference implementation of draft-ietf-quic-load-balancers-21's CID encoding, written octet by
/// octet from the draft's pseudocode (section "Server ID Encoding in Connection IDs"): encryption for
/// servers (<c>Switchyard.Minting.QuicLbMinter</c> uses it) and full decryption (server id and nonce).
/// The balancer's fast decoders (<see cref="QuicLbDecoder"/>) are tested against it and against the
/// draft's vectors. No allocation (stack buffers only), so it is also the decoders' path on machines
/// without AES-NI.
/// <para>
/// Four-pass cipher (plaintext length L = server id + nonce, 5..19 octets, L != 16, half_len = ceil(L/2)):
/// left_0 = first half_len octets, right_0 = last half_len octets; for odd L they share the middle
/// octet, left keeps its high nibble and right its low nibble (the other nibble cleared).
/// Pass p XORs truncate(AES_K(expand(L, p, half)), half_len) into the other half and clears the shared
/// nibble again; expand(L, p, x) = x || zeros || L || p (16 octets). Passes 1 and 3 update the right
/// half, 2 and 4 the left. Decryption runs 4, 3, 2, 1. (The draft's decryption pseudocode clears
/// left_1 after pass 3 where right_1 is meant; see ../shared/vectors/quic-lb-draft21.txt, errata.)
/// </para>
/// </summary>
public static class QuicLbCipher
{
    /// <summary>
    /// Builds a CID: <paramref name="firstOctet"/> (config rotation bits and the rest chosen by the
    /// server; its top three bits are overwritten with the config id), then the encoded
    /// server id || nonce. <paramref name="cid"/> must hold <see cref="QuicLbConfig.CidLength"/> octets.
    /// </summary>
    public static void Encode(QuicLbConfig config, byte firstOctet, ReadOnlySpan<byte> serverId, ReadOnlySpan<byte> nonce, Span<byte> cid)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (serverId.Length != config.ServerIdLength) throw new ArgumentException($"server id must be {config.ServerIdLength} octets", nameof(serverId));
        if (nonce.Length != config.NonceLength) throw new ArgumentException($"nonce must be {config.NonceLength} octets", nameof(nonce));
        if (cid.Length < config.CidLength) throw new ArgumentException($"CID buffer must hold {config.CidLength} octets", nameof(cid));
        cid[0] = (byte)((config.ConfigId << 5) | (firstOctet & 0x1F));
        Span<byte> pt = stackalloc byte[QuicLbConfig.MaxPlaintextLength];
        pt = pt[..config.PlaintextLength];
        serverId.CopyTo(pt);
        nonce.CopyTo(pt[serverId.Length..]);
        Span<byte> ct = cid.Slice(1, config.PlaintextLength);
        switch (config.Algorithm)
        {
            case QuicLbAlgorithm.Plaintext:
                pt.CopyTo(ct);
                break;
            case QuicLbAlgorithm.SinglePass:
                config.Prf!.EncryptBlock(pt, ct);
                break;
            default:
                FourPass(config, pt, ct, encrypt: true);
                break;
        }
    }

    /// <summary>
    /// Decodes server id and nonce from a CID whose first octet selects <paramref name="config"/>
    /// (the caller has matched the config rotation bits). Returns false when the CID is shorter than
    /// the config's CID length.
    /// </summary>
    public static bool Decode(QuicLbConfig config, ReadOnlySpan<byte> cid, Span<byte> serverId, Span<byte> nonce)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (cid.Length < config.CidLength) return false;
        if (serverId.Length < config.ServerIdLength || nonce.Length < config.NonceLength) throw new ArgumentException("output spans too short");
        Span<byte> pt = stackalloc byte[QuicLbConfig.MaxPlaintextLength];
        pt = pt[..config.PlaintextLength];
        ReadOnlySpan<byte> ct = cid.Slice(1, config.PlaintextLength);
        switch (config.Algorithm)
        {
            case QuicLbAlgorithm.Plaintext:
                ct.CopyTo(pt);
                break;
            case QuicLbAlgorithm.SinglePass:
                if (Aes.IsSupported) AesDecryption.DecryptBlock(config.Prf!, ct, pt, config.DecryptionKeys);
                else AesDecryption.DecryptBlockSoftware(config.Prf!, ct, pt);
                break;
            default:
                FourPass(config, ct, pt, encrypt: false);
                break;
        }
        pt[..config.ServerIdLength].CopyTo(serverId);
        pt[config.ServerIdLength..].CopyTo(nonce);
        return true;
    }

    static void FourPass(QuicLbConfig config, ReadOnlySpan<byte> input, Span<byte> output, bool encrypt)
    {
        int len = config.PlaintextLength, half = config.HalfLength;
        bool odd = (len & 1) != 0;
        Span<byte> left = stackalloc byte[10];
        Span<byte> right = stackalloc byte[10];
        left = left[..half];
        right = right[..half];
        input[..half].CopyTo(left);
        input[(len - half)..].CopyTo(right);
        ClearLeft(left, odd);
        ClearRight(right, odd);
        if (encrypt)
        {
            Round(config, 1, left, right); ClearRight(right, odd);
            Round(config, 2, right, left); ClearLeft(left, odd);
            Round(config, 3, left, right); ClearRight(right, odd);
            Round(config, 4, right, left); ClearLeft(left, odd);
        }
        else
        {
            Round(config, 4, right, left); ClearLeft(left, odd);
            Round(config, 3, left, right); ClearRight(right, odd);
            Round(config, 2, right, left); ClearLeft(left, odd);
            Round(config, 1, left, right); ClearRight(right, odd);
        }
        output[..len].Clear();
        left.CopyTo(output);
        for (int i = 0; i < half; i++) output[len - half + i] |= right[i];
    }

    /// <summary>target ^= truncate(AES(expand(len, pass, source)), half_len).</summary>
    static void Round(QuicLbConfig config, int pass, ReadOnlySpan<byte> source, Span<byte> target)
    {
        Span<byte> block = stackalloc byte[16];
        Span<byte> output = stackalloc byte[16];
        block.Clear();
        source.CopyTo(block);
        block[14] = (byte)config.PlaintextLength;
        block[15] = (byte)pass;
        config.Prf!.EncryptBlock(block, output);
        for (int i = 0; i < target.Length; i++) target[i] ^= output[i];
    }

    static void ClearLeft(Span<byte> left, bool odd) { if (odd) left[^1] &= 0xF0; }
    static void ClearRight(Span<byte> right, bool odd) { if (odd) right[0] &= 0x0F; }
}
