using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Datapath.Steering.Tokens;

/// <summary>
/// Table-based AES-128 encryption in plain C# for machines without AES-NI (and for the tests, which
/// run it everywhere). The classic 32-bit T-table design (Daemen/Rijmen, rijndael-alg-fst.c) with a
/// single 1 KiB table: Te1..Te3 are byte rotations of Te0, done with <c>ror</c> instead of three more
/// tables, so the working set is 1 KiB + the 256-byte S-box and stays in L1.
/// <para>
/// Known limitation, written down where it lives: table lookups indexed by secret data leak through
/// cache timing. The token key is a shared secret between the balancer and its servers; this path
/// only runs on hardware without AES-NI, which the appliance logs at start-up.
/// </para>
/// The state is four big-endian column words s0..s3 (bytes 0..3 of the block are s0's bytes, most
/// significant first), matching <see cref="AesPrf.Words"/>.
/// </summary>
internal static class AesSoftware
{
    /// <summary>S-box, 256 bytes, computed once from its definition (GF(2^8) inverse + affine map).</summary>
    static readonly byte[] Sbox = BuildSbox();

    /// <summary>Te0[x] = (2·S[x], S[x], S[x], 3·S[x]) as a big-endian word: SubBytes+MixColumns of one byte.</summary>
    static readonly uint[] Te0 = BuildTe0();

    public static uint[] ExpandKey(ReadOnlySpan<byte> key)
    {
        var w = new uint[4 * (AesPrf.Rounds + 1)];
        for (int i = 0; i < 4; i++) w[i] = BinaryPrimitives.ReadUInt32BigEndian(key[(4 * i)..]);
        uint rcon = 0x01;
        for (int i = 4; i < w.Length; i++)
        {
            uint t = w[i - 1];
            if (i % 4 == 0)
            {
                t = SubWord(BitOperations.RotateLeft(t, 8)) ^ (rcon << 24);
                rcon = XTime(rcon);
            }
            w[i] = w[i - 4] ^ t;
        }
        return w;
    }

    public static void EncryptBlock(ReadOnlySpan<uint> w, ReadOnlySpan<byte> input, Span<byte> output)
    {
        ref uint rk = ref MemoryMarshal.GetReference(w);
        if (w.Length < 44) throw new ArgumentException("AES-128 schedule is 44 words");
        Encrypt(ref rk,
            BinaryPrimitives.ReadUInt32BigEndian(input), BinaryPrimitives.ReadUInt32BigEndian(input[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(input[8..]), BinaryPrimitives.ReadUInt32BigEndian(input[12..]),
            out uint o0, out uint o1, out uint o2, out uint o3);
        BinaryPrimitives.WriteUInt32BigEndian(output, o0);
        BinaryPrimitives.WriteUInt32BigEndian(output[4..], o1);
        BinaryPrimitives.WriteUInt32BigEndian(output[8..], o2);
        BinaryPrimitives.WriteUInt32BigEndian(output[12..], o3);
    }

    /// <summary>
    /// Encrypts the block (s0, s1, s2, s3) with the 44-word schedule starting at <paramref name="rk"/>.
    /// The caller guarantees 44 words there; table indices are bytes, so no lookup can leave the
    /// 256-entry tables and the bounds checks are skipped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Encrypt(ref uint rk, uint s0, uint s1, uint s2, uint s3, out uint o0, out uint o1, out uint o2, out uint o3)
    {
        ref uint te = ref MemoryMarshal.GetArrayDataReference(Te0);
        s0 ^= rk; s1 ^= Unsafe.Add(ref rk, 1); s2 ^= Unsafe.Add(ref rk, 2); s3 ^= Unsafe.Add(ref rk, 3);
        for (int r = 1; r < AesPrf.Rounds; r++)
        {
            ref uint k = ref Unsafe.Add(ref rk, 4 * r);
            uint t0 = Round(ref te, s0, s1, s2, s3) ^ k;
            uint t1 = Round(ref te, s1, s2, s3, s0) ^ Unsafe.Add(ref k, 1);
            uint t2 = Round(ref te, s2, s3, s0, s1) ^ Unsafe.Add(ref k, 2);
            uint t3 = Round(ref te, s3, s0, s1, s2) ^ Unsafe.Add(ref k, 3);
            s0 = t0; s1 = t1; s2 = t2; s3 = t3;
        }
        ref byte sb = ref MemoryMarshal.GetArrayDataReference(Sbox);
        ref uint kl = ref Unsafe.Add(ref rk, 4 * AesPrf.Rounds);
        o0 = Last(ref sb, s0, s1, s2, s3) ^ kl;
        o1 = Last(ref sb, s1, s2, s3, s0) ^ Unsafe.Add(ref kl, 1);
        o2 = Last(ref sb, s2, s3, s0, s1) ^ Unsafe.Add(ref kl, 2);
        o3 = Last(ref sb, s3, s0, s1, s2) ^ Unsafe.Add(ref kl, 3);
    }

    /// <summary>One output column of SubBytes+ShiftRows+MixColumns: ShiftRows picks byte 0 of column
    /// a, byte 1 of b, byte 2 of c, byte 3 of d; Te1..Te3 are Te0 rotated right by 8, 16, 24.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Round(ref uint te, uint a, uint b, uint c, uint d)
        => Unsafe.Add(ref te, (int)(a >> 24))
         ^ BitOperations.RotateRight(Unsafe.Add(ref te, (int)((b >> 16) & 0xFF)), 8)
         ^ BitOperations.RotateRight(Unsafe.Add(ref te, (int)((c >> 8) & 0xFF)), 16)
         ^ BitOperations.RotateRight(Unsafe.Add(ref te, (int)(d & 0xFF)), 24);

    /// <summary>Last round: SubBytes+ShiftRows, no MixColumns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Last(ref byte sb, uint a, uint b, uint c, uint d)
        => (uint)Unsafe.Add(ref sb, (int)(a >> 24)) << 24
         | (uint)Unsafe.Add(ref sb, (int)((b >> 16) & 0xFF)) << 16
         | (uint)Unsafe.Add(ref sb, (int)((c >> 8) & 0xFF)) << 8
         | Unsafe.Add(ref sb, (int)(d & 0xFF));

    static uint SubWord(uint x)
        => (uint)Sbox[x >> 24] << 24 | (uint)Sbox[(x >> 16) & 0xFF] << 16 | (uint)Sbox[(x >> 8) & 0xFF] << 8 | Sbox[x & 0xFF];

    /// <summary>Multiplication by x (0x02) in GF(2^8) modulo x^8+x^4+x^3+x+1.</summary>
    static uint XTime(uint b) => ((b << 1) ^ ((b & 0x80) != 0 ? 0x1Bu : 0u)) & 0xFF;

    static byte[] BuildSbox()
    {
        // Walk GF(2^8)* with generator 3 (p) and its inverse (q = p^-1, stepping by 3^-1 = 0xF6);
        // S[p] = affine(q). Same construction as the Wikipedia "Rijndael S-box" reference code.
        var s = new byte[256];
        uint p = 1, q = 1;
        do
        {
            p = p ^ XTime(p);                                 // p *= 3
            q ^= q << 1; q ^= q << 2; q ^= q << 4; q &= 0xFF;  // q /= 3
            if ((q & 0x80) != 0) q ^= 0x09;
            uint x = q ^ Rotl8(q, 1) ^ Rotl8(q, 2) ^ Rotl8(q, 3) ^ Rotl8(q, 4);
            s[p] = (byte)(x ^ 0x63);
        } while (p != 1);
        s[0] = 0x63; // 0 has no inverse; affine(0) = 0x63
        return s;

        static uint Rotl8(uint v, int n) => ((v << n) | (v >> (8 - n))) & 0xFF;
    }

    static uint[] BuildTe0()
    {
        var s = Sbox;
        var t = new uint[256];
        for (int i = 0; i < 256; i++)
        {
            uint x = s[i], x2 = XTime(x), x3 = x2 ^ x;
            t[i] = x2 << 24 | x << 16 | x << 8 | x3;
        }
        return t;
    }
}
