using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Switchyard.Dataplane.Datapath.Steering.Tokens;

namespace Switchyard.Dataplane.Datapath.Quic;

/// <summary>
/// AES-128 decryption, needed only by QUIC-LB's single-pass algorithm (a 16-octet plaintext is one
/// AES-128-ECB block; the four-pass cipher and the MPTCP token cipher only ever encrypt).
/// With AES-NI: the Equivalent Inverse Cipher (FIPS-197 5.3.5) on <c>aesdec</c>, whose round keys are
/// the encryption round keys reversed, the inner nine passed through InvMixColumns (<c>aesimc</c>).
/// Without AES-NI: the straightforward byte-oriented inverse cipher (FIPS-197 5.3), used on machines
/// without AES-NI and by the tests everywhere as an independent check of the hardware path.
/// </summary>
internal static class AesDecryption
{
    static readonly byte[] Sbox = BuildSbox();
    static readonly byte[] InvSbox = BuildInverse(Sbox);

    /// <summary>Decryption round keys for <c>aesdec</c> from the 11 encryption round keys; zeros without AES-NI.</summary>
    public static Vector128<byte>[] DecryptionRoundKeys(Vector128<byte>[] enc)
    {
        var dec = new Vector128<byte>[AesPrf.Rounds + 1];
        if (!Aes.IsSupported) return dec;
        dec[0] = enc[AesPrf.Rounds];
        for (int i = 1; i < AesPrf.Rounds; i++) dec[i] = Aes.InverseMixColumns(enc[AesPrf.Rounds - i]);
        dec[AesPrf.Rounds] = enc[0];
        return dec;
    }

    /// <summary>One block with <c>aesdec</c>; <paramref name="dk"/> points at 11 decryption round keys.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> DecryptHardware(Vector128<byte> block, ref Vector128<byte> dk)
    {
        Vector128<byte> s = block ^ dk;
        s = Aes.Decrypt(s, Unsafe.Add(ref dk, 1));
        s = Aes.Decrypt(s, Unsafe.Add(ref dk, 2));
        s = Aes.Decrypt(s, Unsafe.Add(ref dk, 3));
        s = Aes.Decrypt(s, Unsafe.Add(ref dk, 4));
        s = Aes.Decrypt(s, Unsafe.Add(ref dk, 5));
        s = Aes.Decrypt(s, Unsafe.Add(ref dk, 6));
        s = Aes.Decrypt(s, Unsafe.Add(ref dk, 7));
        s = Aes.Decrypt(s, Unsafe.Add(ref dk, 8));
        s = Aes.Decrypt(s, Unsafe.Add(ref dk, 9));
        return Aes.DecryptLast(s, Unsafe.Add(ref dk, 10));
    }

    /// <summary>
    /// Byte-oriented inverse cipher (FIPS-197 figure 12) with the encryption schedule of <paramref name="prf"/>.
    /// The state is column-major: octet 4c + r is row r of column c, as in FIPS-197.
    /// </summary>
    public static void DecryptBlockSoftware(AesPrf prf, ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (input.Length < 16 || output.Length < 16) throw new ArgumentException("AES block is 16 bytes");
        Span<byte> s = stackalloc byte[16];
        Span<byte> t = stackalloc byte[16];
        input[..16].CopyTo(s);
        AddRoundKey(s, prf.Words, AesPrf.Rounds);
        for (int round = AesPrf.Rounds - 1; round >= 0; round--)
        {
            // InvShiftRows: row r rotates right by r.
            for (int c = 0; c < 4; c++)
                for (int r = 0; r < 4; r++)
                    t[4 * ((c + r) & 3) + r] = s[4 * c + r];
            // InvSubBytes
            for (int i = 0; i < 16; i++) s[i] = InvSbox[t[i]];
            AddRoundKey(s, prf.Words, round);
            if (round == 0) break;
            // InvMixColumns
            for (int c = 0; c < 4; c++)
            {
                byte a0 = s[4 * c], a1 = s[4 * c + 1], a2 = s[4 * c + 2], a3 = s[4 * c + 3];
                s[4 * c] = (byte)(Mul(a0, 14) ^ Mul(a1, 11) ^ Mul(a2, 13) ^ Mul(a3, 9));
                s[4 * c + 1] = (byte)(Mul(a0, 9) ^ Mul(a1, 14) ^ Mul(a2, 11) ^ Mul(a3, 13));
                s[4 * c + 2] = (byte)(Mul(a0, 13) ^ Mul(a1, 9) ^ Mul(a2, 14) ^ Mul(a3, 11));
                s[4 * c + 3] = (byte)(Mul(a0, 11) ^ Mul(a1, 13) ^ Mul(a2, 9) ^ Mul(a3, 14));
            }
        }
        s.CopyTo(output);
    }

    /// <summary>Hardware when present, else software.</summary>
    public static void DecryptBlock(AesPrf prf, ReadOnlySpan<byte> input, Span<byte> output, Vector128<byte>[]? decKeys = null)
    {
        if (Aes.IsSupported)
        {
            if (input.Length < 16 || output.Length < 16) throw new ArgumentException("AES block is 16 bytes");
            var dk = decKeys ?? DecryptionRoundKeys(prf.RoundKeys);
            DecryptHardware(Vector128.Create(input), ref dk[0]).CopyTo(output);
        }
        else DecryptBlockSoftware(prf, input, output);
    }

    static void AddRoundKey(Span<byte> s, uint[] w, int round)
    {
        for (int c = 0; c < 4; c++)
        {
            uint k = w[4 * round + c];
            s[4 * c] ^= (byte)(k >> 24);
            s[4 * c + 1] ^= (byte)(k >> 16);
            s[4 * c + 2] ^= (byte)(k >> 8);
            s[4 * c + 3] ^= (byte)k;
        }
    }

    static int Mul(int a, int b)
    {
        int p = 0;
        for (int i = 0; i < 8 && b != 0; i++)
        {
            if ((b & 1) != 0) p ^= a;
            a = (a << 1) ^ ((a & 0x80) != 0 ? 0x11B : 0);
            b >>= 1;
        }
        return p & 0xFF;
    }

    static byte[] BuildSbox()
    {
        // GF(2^8)* walked with generator 3 and its inverse; S[p] = affine(p^-1) (FIPS-197 5.1.1).
        var s = new byte[256];
        int p = 1, q = 1;
        do
        {
            p = (p ^ (p << 1) ^ ((p & 0x80) != 0 ? 0x1B : 0)) & 0xFF;
            q ^= q << 1; q ^= q << 2; q ^= q << 4; q &= 0xFF;
            if ((q & 0x80) != 0) q ^= 0x09;
            int x = q ^ Rotl(q, 1) ^ Rotl(q, 2) ^ Rotl(q, 3) ^ Rotl(q, 4);
            s[p] = (byte)(x ^ 0x63);
        } while (p != 1);
        s[0] = 0x63;
        return s;

        static int Rotl(int v, int n) => ((v << n) | (v >> (8 - n))) & 0xFF;
    }

    static byte[] BuildInverse(byte[] s)
    {
        var inv = new byte[256];
        for (int i = 0; i < 256; i++) inv[s[i]] = (byte)i;
        return inv;
    }
}
