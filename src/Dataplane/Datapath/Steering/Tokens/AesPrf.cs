using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Switchyard.Dataplane.Datapath.Steering.Tokens;

/// <summary>
/// AES-128 encryption only, used as a pseudo-random function (the round function of the token
/// Feistel and of QUIC-LB's four-pass cipher; neither ever needs AES decryption).
/// <para>
/// One expanded key holds the schedule twice: <see cref="RoundKeys"/> (11 x 16 bytes in FIPS-197
/// byte order, the layout AES-NI consumes) and <see cref="Words"/> (44 big-endian 32-bit words, the
/// layout the table-based software AES consumes). Expansion runs once per key at configuration time
/// (it allocates; the packet path never does). With AES-NI the byte schedule comes from
/// <c>aeskeygenassist</c>; without it, from the software expansion; tests check that both agree.
/// </para>
/// </summary>
public sealed class AesPrf
{
    public const int KeySize = 16;   // bytes: AES-128 only
    public const int Rounds = 10;    // AES-128: 10 rounds, 11 round keys
    public const int BlockSize = 16; // bytes

    /// <summary>11 round keys, FIPS-197 byte order (round key r = bytes of w[4r..4r+3], big-endian).</summary>
    internal readonly Vector128<byte>[] RoundKeys;

    /// <summary>44 round-key words w[0..43] as FIPS-197 defines them (big-endian within a word).</summary>
    internal readonly uint[] Words;

    public AesPrf(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize) throw new ArgumentException($"AES-128 key must be {KeySize} bytes, got {key.Length}", nameof(key));
        Words = AesSoftware.ExpandKey(key);
        RoundKeys = Aes.IsSupported ? ExpandKeyHardware(key) : WordsToRoundKeys(Words);
    }

    /// <summary>Encrypts one 16-byte block (AES-NI when present, else the software AES).</summary>
    public void EncryptBlock(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (input.Length < BlockSize || output.Length < BlockSize) throw new ArgumentException("AES block is 16 bytes");
        if (Aes.IsSupported)
        {
            Vector128<byte> b = Vector128.Create(input);
            EncryptHardware(b, ref MemoryMarshal.GetArrayDataReference(RoundKeys)).CopyTo(output);
        }
        else
        {
            AesSoftware.EncryptBlock(Words, input, output);
        }
    }

    /// <summary>Software AES regardless of hardware support (for tests and the fallback benchmark).</summary>
    internal void EncryptBlockSoftware(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (input.Length < BlockSize || output.Length < BlockSize) throw new ArgumentException("AES block is 16 bytes");
        AesSoftware.EncryptBlock(Words, input, output);
    }

    /// <summary>
    /// One block with AES-NI: whitening, 9 full rounds, the last round. <paramref name="rk"/> points
    /// at round key 0 of 11 consecutive round keys; the offsets are constants after unrolling, so each
    /// round key is a memory operand of <c>aesenc</c> (no register needed for it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<byte> EncryptHardware(Vector128<byte> block, ref Vector128<byte> rk)
    {
        // Unrolled: a loop would index round keys with a variable (no folded memory operand) and
        // adds a compare/branch per round to a 4-cycle-latency dependency chain.
        Vector128<byte> s = block ^ rk;
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

    /// <summary>
    /// Key expansion with <c>aeskeygenassist</c> (Intel AES-NI white paper, AES_128_Key_Expansion).
    /// The round constant is an immediate operand, so the ten steps are written out.
    /// </summary>
    internal static Vector128<byte>[] ExpandKeyHardware(ReadOnlySpan<byte> key)
    {
        if (!Aes.IsSupported) throw new PlatformNotSupportedException("AES-NI");
        var rk = new Vector128<byte>[Rounds + 1];
        Vector128<byte> k = Vector128.Create(key);
        rk[0] = k;
        rk[1] = k = Step(k, Aes.KeygenAssist(k, 0x01));
        rk[2] = k = Step(k, Aes.KeygenAssist(k, 0x02));
        rk[3] = k = Step(k, Aes.KeygenAssist(k, 0x04));
        rk[4] = k = Step(k, Aes.KeygenAssist(k, 0x08));
        rk[5] = k = Step(k, Aes.KeygenAssist(k, 0x10));
        rk[6] = k = Step(k, Aes.KeygenAssist(k, 0x20));
        rk[7] = k = Step(k, Aes.KeygenAssist(k, 0x40));
        rk[8] = k = Step(k, Aes.KeygenAssist(k, 0x80));
        rk[9] = k = Step(k, Aes.KeygenAssist(k, 0x1B));
        rk[10] = Step(k, Aes.KeygenAssist(k, 0x36));
        return rk;

        static Vector128<byte> Step(Vector128<byte> k, Vector128<byte> assist)
        {
            // assist dword 3 = SubWord(RotWord(w3)) ^ rcon; broadcast it, then
            // k ^ k << 32 ^ k << 64 ^ k << 96 (byte shifts of 4, 8, 12) is the running XOR that
            // w[i] = w[i-4] ^ w[i-1] produces across the four words of the next round key.
            Vector128<uint> t = Sse2.Shuffle(assist.AsUInt32(), 0xFF);
            Vector128<byte> s = Sse2.ShiftLeftLogical128BitLane(k, 4);
            k ^= s;
            s = Sse2.ShiftLeftLogical128BitLane(s, 4);
            k ^= s;
            s = Sse2.ShiftLeftLogical128BitLane(s, 4);
            k ^= s;
            return k ^ t.AsByte();
        }
    }

    internal static Vector128<byte>[] WordsToRoundKeys(ReadOnlySpan<uint> words)
    {
        var rk = new Vector128<byte>[words.Length / 4];
        Span<byte> b = stackalloc byte[16];
        for (int r = 0; r < rk.Length; r++)
        {
            for (int j = 0; j < 4; j++) BinaryPrimitives.WriteUInt32BigEndian(b[(4 * j)..], words[4 * r + j]);
            rk[r] = Vector128.Create((ReadOnlySpan<byte>)b);
        }
        return rk;
    }
}
