// The eight-lane kernel below is written out straight-line, by hand (8 lanes x 3 passes x 10 rounds);
// no generator exists. An edit must keep the eight lanes identical: TokenCipherTests checks every lane
// of every batch size against the scalar cipher and the shared test vectors. Why straight-line: the JIT does not unroll loops, and a loop over
// lanes or rounds would index round keys with a variable (no folded memory operand) and keep the eight
// states in a stack array instead of eight xmm registers.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Switchyard.Dataplane.Datapath.Steering.Tokens;

public static partial class TokenCipher
{
    const int Lanes = 8; // AES blocks in flight: aesenc latency 4 cycles x throughput 2 per cycle (Zen 4/5)

    /// <summary>
    /// Server ids of a burst of tokens (any count; the worker passes up to 64): for each i,
    /// <paramref name="ok"/>[i] = 1 and <paramref name="serverIds"/>[i] = the server id when the token's
    /// key id has a key, else 0 and 0. Returns how many tokens were decrypted (ok = 1). Same results as
    /// <see cref="TryDecryptServerId"/> token by token; no allocation.
    /// <para>
    /// With AES-NI, tokens go eight at a time through <see cref="Decrypt8"/>: passes 4, 3, 2
    /// each run eight independent AES blocks with their rounds interleaved, so one token costs about
    /// 30 aesenc / 2 per cycle = 15 cycles of AES throughput instead of 3 x 10 x 4 = 120 cycles of latency.
    /// Mixed key ids: every lane loads its round keys from its own key slot (memory operands of aesenc;
    /// loads are not the bottleneck, the AES pipes are), which beats grouping by key id (a sort or
    /// compaction per burst and partial groups). Measured: a specialisation for "all eight lanes share
    /// one key id" was slower, not faster: the JIT then hoists the 11 round keys into xmm registers and
    /// spills block states (16 xmm without AVX-512), while per-lane memory operands keep all eight states
    /// in registers. The tail (count mod 8) is padded to eight lanes on the stack.
    /// </para>
    /// </summary>
    public static int DecryptServerIds(ReadOnlySpan<uint> tokens, Span<uint> serverIds, Span<byte> ok, TokenKeys keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (serverIds.Length < tokens.Length || ok.Length < tokens.Length)
            throw new ArgumentException("serverIds and ok must be at least as long as tokens");
        if (NativeKernel != 0) return DecryptServerIdsNative(tokens, serverIds, ok, keys); // VAES (TokenCipher.Vaes.cs)
        return Aes.IsSupported
            ? DecryptServerIdsHardware(tokens, serverIds, ok, keys)
            : DecryptServerIdsOneByOne<SoftwarePrf>(tokens, serverIds, ok, keys);
    }

    /// <summary>Token by token with the given PRF: the path without AES-NI, and the tests' reference.</summary>
    internal static int DecryptServerIdsOneByOne<TPrf>(ReadOnlySpan<uint> tokens, Span<uint> serverIds, Span<byte> ok, TokenKeys keys)
        where TPrf : struct, ITokenPrf
    {
        int count = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            bool good = TryDecryptServerId<TPrf>(tokens[i], keys, out serverIds[i]);
            ok[i] = good ? (byte)1 : (byte)0;
            count += ok[i];
        }
        return count;
    }

    internal static int DecryptServerIdsHardware(ReadOnlySpan<uint> tokens, Span<uint> serverIds, Span<byte> ok, TokenKeys keys)
    {
        if (!Aes.IsSupported) throw new PlatformNotSupportedException("AES-NI");
        int n = tokens.Length, i = 0, count = 0;
        ref uint t = ref MemoryMarshal.GetReference(tokens);
        ref uint s = ref MemoryMarshal.GetReference(serverIds);
        ref byte o = ref MemoryMarshal.GetReference(ok);
        for (; i + Lanes <= n; i += Lanes)
            count += Decrypt8(ref Unsafe.Add(ref t, i), ref Unsafe.Add(ref s, i), ref Unsafe.Add(ref o, i), keys);
        int rem = n - i;
        if (rem > 0)
        {
            // Pad with copies of the tail's first token (any valid input would do), then keep only
            // the first rem results.
            Span<uint> pt = stackalloc uint[Lanes];
            Span<uint> ps = stackalloc uint[Lanes];
            Span<byte> po = stackalloc byte[Lanes];
            pt.Fill(tokens[i]);
            tokens[i..].CopyTo(pt);
            Decrypt8(ref MemoryMarshal.GetReference(pt), ref MemoryMarshal.GetReference(ps), ref MemoryMarshal.GetReference(po), keys);
            ps[..rem].CopyTo(serverIds[i..]);
            po[..rem].CopyTo(ok[i..]);
            for (int j = 0; j < rem; j++) count += po[j];
        }
        return count;
    }

    /// <summary>Passes 4, 3, 2 for eight tokens; returns how many had a key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static int Decrypt8(ref uint tokens, ref uint serverIds, ref byte ok, TokenKeys keys)
    {
        int valid = keys.ValidMask;
        int shift = HalfBits - keys.ServerIdBits;
        uint t0 = Unsafe.Add(ref tokens, 0);
        uint t1 = Unsafe.Add(ref tokens, 1);
        uint t2 = Unsafe.Add(ref tokens, 2);
        uint t3 = Unsafe.Add(ref tokens, 3);
        uint t4 = Unsafe.Add(ref tokens, 4);
        uint t5 = Unsafe.Add(ref tokens, 5);
        uint t6 = Unsafe.Add(ref tokens, 6);
        uint t7 = Unsafe.Add(ref tokens, 7);
        // Each lane indexes its own key slot (token >> 30): mixed key ids need no grouping or sorting,
        // and id 3 / absent keys read a zero schedule whose result is masked off below.
        ref Vector128<byte> k0 = ref keys.Slot(t0 >> 30);
        ref Vector128<byte> k1 = ref keys.Slot(t1 >> 30);
        ref Vector128<byte> k2 = ref keys.Slot(t2 >> 30);
        ref Vector128<byte> k3 = ref keys.Slot(t3 >> 30);
        ref Vector128<byte> k4 = ref keys.Slot(t4 >> 30);
        ref Vector128<byte> k5 = ref keys.Slot(t5 >> 30);
        ref Vector128<byte> k6 = ref keys.Slot(t6 >> 30);
        ref Vector128<byte> k7 = ref keys.Slot(t7 >> 30);
        uint l0 = (t0 >> HalfBits) & HalfMask, r0 = t0 & HalfMask;
        uint l1 = (t1 >> HalfBits) & HalfMask, r1 = t1 & HalfMask;
        uint l2 = (t2 >> HalfBits) & HalfMask, r2 = t2 & HalfMask;
        uint l3 = (t3 >> HalfBits) & HalfMask, r3 = t3 & HalfMask;
        uint l4 = (t4 >> HalfBits) & HalfMask, r4 = t4 & HalfMask;
        uint l5 = (t5 >> HalfBits) & HalfMask, r5 = t5 & HalfMask;
        uint l6 = (t6 >> HalfBits) & HalfMask, r6 = t6 & HalfMask;
        uint l7 = (t7 >> HalfBits) & HalfMask, r7 = t7 & HalfMask;
        // pass 4: l ^= F(4, r). Round r of all eight blocks, then round r + 1: eight independent
        // aesenc in flight cover the 4-cycle latency at two per cycle; round keys are memory operands.
        Vector128<byte> b0_4 = Input(r0) ^ Unsafe.Add(ref k0, TokenKeys.WhiteningBase + 4);
        Vector128<byte> b1_4 = Input(r1) ^ Unsafe.Add(ref k1, TokenKeys.WhiteningBase + 4);
        Vector128<byte> b2_4 = Input(r2) ^ Unsafe.Add(ref k2, TokenKeys.WhiteningBase + 4);
        Vector128<byte> b3_4 = Input(r3) ^ Unsafe.Add(ref k3, TokenKeys.WhiteningBase + 4);
        Vector128<byte> b4_4 = Input(r4) ^ Unsafe.Add(ref k4, TokenKeys.WhiteningBase + 4);
        Vector128<byte> b5_4 = Input(r5) ^ Unsafe.Add(ref k5, TokenKeys.WhiteningBase + 4);
        Vector128<byte> b6_4 = Input(r6) ^ Unsafe.Add(ref k6, TokenKeys.WhiteningBase + 4);
        Vector128<byte> b7_4 = Input(r7) ^ Unsafe.Add(ref k7, TokenKeys.WhiteningBase + 4);
        b0_4 = Aes.Encrypt(b0_4, Unsafe.Add(ref k0, 1));
        b1_4 = Aes.Encrypt(b1_4, Unsafe.Add(ref k1, 1));
        b2_4 = Aes.Encrypt(b2_4, Unsafe.Add(ref k2, 1));
        b3_4 = Aes.Encrypt(b3_4, Unsafe.Add(ref k3, 1));
        b4_4 = Aes.Encrypt(b4_4, Unsafe.Add(ref k4, 1));
        b5_4 = Aes.Encrypt(b5_4, Unsafe.Add(ref k5, 1));
        b6_4 = Aes.Encrypt(b6_4, Unsafe.Add(ref k6, 1));
        b7_4 = Aes.Encrypt(b7_4, Unsafe.Add(ref k7, 1));
        b0_4 = Aes.Encrypt(b0_4, Unsafe.Add(ref k0, 2));
        b1_4 = Aes.Encrypt(b1_4, Unsafe.Add(ref k1, 2));
        b2_4 = Aes.Encrypt(b2_4, Unsafe.Add(ref k2, 2));
        b3_4 = Aes.Encrypt(b3_4, Unsafe.Add(ref k3, 2));
        b4_4 = Aes.Encrypt(b4_4, Unsafe.Add(ref k4, 2));
        b5_4 = Aes.Encrypt(b5_4, Unsafe.Add(ref k5, 2));
        b6_4 = Aes.Encrypt(b6_4, Unsafe.Add(ref k6, 2));
        b7_4 = Aes.Encrypt(b7_4, Unsafe.Add(ref k7, 2));
        b0_4 = Aes.Encrypt(b0_4, Unsafe.Add(ref k0, 3));
        b1_4 = Aes.Encrypt(b1_4, Unsafe.Add(ref k1, 3));
        b2_4 = Aes.Encrypt(b2_4, Unsafe.Add(ref k2, 3));
        b3_4 = Aes.Encrypt(b3_4, Unsafe.Add(ref k3, 3));
        b4_4 = Aes.Encrypt(b4_4, Unsafe.Add(ref k4, 3));
        b5_4 = Aes.Encrypt(b5_4, Unsafe.Add(ref k5, 3));
        b6_4 = Aes.Encrypt(b6_4, Unsafe.Add(ref k6, 3));
        b7_4 = Aes.Encrypt(b7_4, Unsafe.Add(ref k7, 3));
        b0_4 = Aes.Encrypt(b0_4, Unsafe.Add(ref k0, 4));
        b1_4 = Aes.Encrypt(b1_4, Unsafe.Add(ref k1, 4));
        b2_4 = Aes.Encrypt(b2_4, Unsafe.Add(ref k2, 4));
        b3_4 = Aes.Encrypt(b3_4, Unsafe.Add(ref k3, 4));
        b4_4 = Aes.Encrypt(b4_4, Unsafe.Add(ref k4, 4));
        b5_4 = Aes.Encrypt(b5_4, Unsafe.Add(ref k5, 4));
        b6_4 = Aes.Encrypt(b6_4, Unsafe.Add(ref k6, 4));
        b7_4 = Aes.Encrypt(b7_4, Unsafe.Add(ref k7, 4));
        b0_4 = Aes.Encrypt(b0_4, Unsafe.Add(ref k0, 5));
        b1_4 = Aes.Encrypt(b1_4, Unsafe.Add(ref k1, 5));
        b2_4 = Aes.Encrypt(b2_4, Unsafe.Add(ref k2, 5));
        b3_4 = Aes.Encrypt(b3_4, Unsafe.Add(ref k3, 5));
        b4_4 = Aes.Encrypt(b4_4, Unsafe.Add(ref k4, 5));
        b5_4 = Aes.Encrypt(b5_4, Unsafe.Add(ref k5, 5));
        b6_4 = Aes.Encrypt(b6_4, Unsafe.Add(ref k6, 5));
        b7_4 = Aes.Encrypt(b7_4, Unsafe.Add(ref k7, 5));
        b0_4 = Aes.Encrypt(b0_4, Unsafe.Add(ref k0, 6));
        b1_4 = Aes.Encrypt(b1_4, Unsafe.Add(ref k1, 6));
        b2_4 = Aes.Encrypt(b2_4, Unsafe.Add(ref k2, 6));
        b3_4 = Aes.Encrypt(b3_4, Unsafe.Add(ref k3, 6));
        b4_4 = Aes.Encrypt(b4_4, Unsafe.Add(ref k4, 6));
        b5_4 = Aes.Encrypt(b5_4, Unsafe.Add(ref k5, 6));
        b6_4 = Aes.Encrypt(b6_4, Unsafe.Add(ref k6, 6));
        b7_4 = Aes.Encrypt(b7_4, Unsafe.Add(ref k7, 6));
        b0_4 = Aes.Encrypt(b0_4, Unsafe.Add(ref k0, 7));
        b1_4 = Aes.Encrypt(b1_4, Unsafe.Add(ref k1, 7));
        b2_4 = Aes.Encrypt(b2_4, Unsafe.Add(ref k2, 7));
        b3_4 = Aes.Encrypt(b3_4, Unsafe.Add(ref k3, 7));
        b4_4 = Aes.Encrypt(b4_4, Unsafe.Add(ref k4, 7));
        b5_4 = Aes.Encrypt(b5_4, Unsafe.Add(ref k5, 7));
        b6_4 = Aes.Encrypt(b6_4, Unsafe.Add(ref k6, 7));
        b7_4 = Aes.Encrypt(b7_4, Unsafe.Add(ref k7, 7));
        b0_4 = Aes.Encrypt(b0_4, Unsafe.Add(ref k0, 8));
        b1_4 = Aes.Encrypt(b1_4, Unsafe.Add(ref k1, 8));
        b2_4 = Aes.Encrypt(b2_4, Unsafe.Add(ref k2, 8));
        b3_4 = Aes.Encrypt(b3_4, Unsafe.Add(ref k3, 8));
        b4_4 = Aes.Encrypt(b4_4, Unsafe.Add(ref k4, 8));
        b5_4 = Aes.Encrypt(b5_4, Unsafe.Add(ref k5, 8));
        b6_4 = Aes.Encrypt(b6_4, Unsafe.Add(ref k6, 8));
        b7_4 = Aes.Encrypt(b7_4, Unsafe.Add(ref k7, 8));
        b0_4 = Aes.Encrypt(b0_4, Unsafe.Add(ref k0, 9));
        b1_4 = Aes.Encrypt(b1_4, Unsafe.Add(ref k1, 9));
        b2_4 = Aes.Encrypt(b2_4, Unsafe.Add(ref k2, 9));
        b3_4 = Aes.Encrypt(b3_4, Unsafe.Add(ref k3, 9));
        b4_4 = Aes.Encrypt(b4_4, Unsafe.Add(ref k4, 9));
        b5_4 = Aes.Encrypt(b5_4, Unsafe.Add(ref k5, 9));
        b6_4 = Aes.Encrypt(b6_4, Unsafe.Add(ref k6, 9));
        b7_4 = Aes.Encrypt(b7_4, Unsafe.Add(ref k7, 9));
        b0_4 = Aes.EncryptLast(b0_4, Unsafe.Add(ref k0, 10));
        b1_4 = Aes.EncryptLast(b1_4, Unsafe.Add(ref k1, 10));
        b2_4 = Aes.EncryptLast(b2_4, Unsafe.Add(ref k2, 10));
        b3_4 = Aes.EncryptLast(b3_4, Unsafe.Add(ref k3, 10));
        b4_4 = Aes.EncryptLast(b4_4, Unsafe.Add(ref k4, 10));
        b5_4 = Aes.EncryptLast(b5_4, Unsafe.Add(ref k5, 10));
        b6_4 = Aes.EncryptLast(b6_4, Unsafe.Add(ref k6, 10));
        b7_4 = Aes.EncryptLast(b7_4, Unsafe.Add(ref k7, 10));
        l0 ^= Output(b0_4);
        l1 ^= Output(b1_4);
        l2 ^= Output(b2_4);
        l3 ^= Output(b3_4);
        l4 ^= Output(b4_4);
        l5 ^= Output(b5_4);
        l6 ^= Output(b6_4);
        l7 ^= Output(b7_4);
        // pass 3: r ^= F(3, l). Round r of all eight blocks, then round r + 1: eight independent
        // aesenc in flight cover the 4-cycle latency at two per cycle; round keys are memory operands.
        Vector128<byte> b0_3 = Input(l0) ^ Unsafe.Add(ref k0, TokenKeys.WhiteningBase + 3);
        Vector128<byte> b1_3 = Input(l1) ^ Unsafe.Add(ref k1, TokenKeys.WhiteningBase + 3);
        Vector128<byte> b2_3 = Input(l2) ^ Unsafe.Add(ref k2, TokenKeys.WhiteningBase + 3);
        Vector128<byte> b3_3 = Input(l3) ^ Unsafe.Add(ref k3, TokenKeys.WhiteningBase + 3);
        Vector128<byte> b4_3 = Input(l4) ^ Unsafe.Add(ref k4, TokenKeys.WhiteningBase + 3);
        Vector128<byte> b5_3 = Input(l5) ^ Unsafe.Add(ref k5, TokenKeys.WhiteningBase + 3);
        Vector128<byte> b6_3 = Input(l6) ^ Unsafe.Add(ref k6, TokenKeys.WhiteningBase + 3);
        Vector128<byte> b7_3 = Input(l7) ^ Unsafe.Add(ref k7, TokenKeys.WhiteningBase + 3);
        b0_3 = Aes.Encrypt(b0_3, Unsafe.Add(ref k0, 1));
        b1_3 = Aes.Encrypt(b1_3, Unsafe.Add(ref k1, 1));
        b2_3 = Aes.Encrypt(b2_3, Unsafe.Add(ref k2, 1));
        b3_3 = Aes.Encrypt(b3_3, Unsafe.Add(ref k3, 1));
        b4_3 = Aes.Encrypt(b4_3, Unsafe.Add(ref k4, 1));
        b5_3 = Aes.Encrypt(b5_3, Unsafe.Add(ref k5, 1));
        b6_3 = Aes.Encrypt(b6_3, Unsafe.Add(ref k6, 1));
        b7_3 = Aes.Encrypt(b7_3, Unsafe.Add(ref k7, 1));
        b0_3 = Aes.Encrypt(b0_3, Unsafe.Add(ref k0, 2));
        b1_3 = Aes.Encrypt(b1_3, Unsafe.Add(ref k1, 2));
        b2_3 = Aes.Encrypt(b2_3, Unsafe.Add(ref k2, 2));
        b3_3 = Aes.Encrypt(b3_3, Unsafe.Add(ref k3, 2));
        b4_3 = Aes.Encrypt(b4_3, Unsafe.Add(ref k4, 2));
        b5_3 = Aes.Encrypt(b5_3, Unsafe.Add(ref k5, 2));
        b6_3 = Aes.Encrypt(b6_3, Unsafe.Add(ref k6, 2));
        b7_3 = Aes.Encrypt(b7_3, Unsafe.Add(ref k7, 2));
        b0_3 = Aes.Encrypt(b0_3, Unsafe.Add(ref k0, 3));
        b1_3 = Aes.Encrypt(b1_3, Unsafe.Add(ref k1, 3));
        b2_3 = Aes.Encrypt(b2_3, Unsafe.Add(ref k2, 3));
        b3_3 = Aes.Encrypt(b3_3, Unsafe.Add(ref k3, 3));
        b4_3 = Aes.Encrypt(b4_3, Unsafe.Add(ref k4, 3));
        b5_3 = Aes.Encrypt(b5_3, Unsafe.Add(ref k5, 3));
        b6_3 = Aes.Encrypt(b6_3, Unsafe.Add(ref k6, 3));
        b7_3 = Aes.Encrypt(b7_3, Unsafe.Add(ref k7, 3));
        b0_3 = Aes.Encrypt(b0_3, Unsafe.Add(ref k0, 4));
        b1_3 = Aes.Encrypt(b1_3, Unsafe.Add(ref k1, 4));
        b2_3 = Aes.Encrypt(b2_3, Unsafe.Add(ref k2, 4));
        b3_3 = Aes.Encrypt(b3_3, Unsafe.Add(ref k3, 4));
        b4_3 = Aes.Encrypt(b4_3, Unsafe.Add(ref k4, 4));
        b5_3 = Aes.Encrypt(b5_3, Unsafe.Add(ref k5, 4));
        b6_3 = Aes.Encrypt(b6_3, Unsafe.Add(ref k6, 4));
        b7_3 = Aes.Encrypt(b7_3, Unsafe.Add(ref k7, 4));
        b0_3 = Aes.Encrypt(b0_3, Unsafe.Add(ref k0, 5));
        b1_3 = Aes.Encrypt(b1_3, Unsafe.Add(ref k1, 5));
        b2_3 = Aes.Encrypt(b2_3, Unsafe.Add(ref k2, 5));
        b3_3 = Aes.Encrypt(b3_3, Unsafe.Add(ref k3, 5));
        b4_3 = Aes.Encrypt(b4_3, Unsafe.Add(ref k4, 5));
        b5_3 = Aes.Encrypt(b5_3, Unsafe.Add(ref k5, 5));
        b6_3 = Aes.Encrypt(b6_3, Unsafe.Add(ref k6, 5));
        b7_3 = Aes.Encrypt(b7_3, Unsafe.Add(ref k7, 5));
        b0_3 = Aes.Encrypt(b0_3, Unsafe.Add(ref k0, 6));
        b1_3 = Aes.Encrypt(b1_3, Unsafe.Add(ref k1, 6));
        b2_3 = Aes.Encrypt(b2_3, Unsafe.Add(ref k2, 6));
        b3_3 = Aes.Encrypt(b3_3, Unsafe.Add(ref k3, 6));
        b4_3 = Aes.Encrypt(b4_3, Unsafe.Add(ref k4, 6));
        b5_3 = Aes.Encrypt(b5_3, Unsafe.Add(ref k5, 6));
        b6_3 = Aes.Encrypt(b6_3, Unsafe.Add(ref k6, 6));
        b7_3 = Aes.Encrypt(b7_3, Unsafe.Add(ref k7, 6));
        b0_3 = Aes.Encrypt(b0_3, Unsafe.Add(ref k0, 7));
        b1_3 = Aes.Encrypt(b1_3, Unsafe.Add(ref k1, 7));
        b2_3 = Aes.Encrypt(b2_3, Unsafe.Add(ref k2, 7));
        b3_3 = Aes.Encrypt(b3_3, Unsafe.Add(ref k3, 7));
        b4_3 = Aes.Encrypt(b4_3, Unsafe.Add(ref k4, 7));
        b5_3 = Aes.Encrypt(b5_3, Unsafe.Add(ref k5, 7));
        b6_3 = Aes.Encrypt(b6_3, Unsafe.Add(ref k6, 7));
        b7_3 = Aes.Encrypt(b7_3, Unsafe.Add(ref k7, 7));
        b0_3 = Aes.Encrypt(b0_3, Unsafe.Add(ref k0, 8));
        b1_3 = Aes.Encrypt(b1_3, Unsafe.Add(ref k1, 8));
        b2_3 = Aes.Encrypt(b2_3, Unsafe.Add(ref k2, 8));
        b3_3 = Aes.Encrypt(b3_3, Unsafe.Add(ref k3, 8));
        b4_3 = Aes.Encrypt(b4_3, Unsafe.Add(ref k4, 8));
        b5_3 = Aes.Encrypt(b5_3, Unsafe.Add(ref k5, 8));
        b6_3 = Aes.Encrypt(b6_3, Unsafe.Add(ref k6, 8));
        b7_3 = Aes.Encrypt(b7_3, Unsafe.Add(ref k7, 8));
        b0_3 = Aes.Encrypt(b0_3, Unsafe.Add(ref k0, 9));
        b1_3 = Aes.Encrypt(b1_3, Unsafe.Add(ref k1, 9));
        b2_3 = Aes.Encrypt(b2_3, Unsafe.Add(ref k2, 9));
        b3_3 = Aes.Encrypt(b3_3, Unsafe.Add(ref k3, 9));
        b4_3 = Aes.Encrypt(b4_3, Unsafe.Add(ref k4, 9));
        b5_3 = Aes.Encrypt(b5_3, Unsafe.Add(ref k5, 9));
        b6_3 = Aes.Encrypt(b6_3, Unsafe.Add(ref k6, 9));
        b7_3 = Aes.Encrypt(b7_3, Unsafe.Add(ref k7, 9));
        b0_3 = Aes.EncryptLast(b0_3, Unsafe.Add(ref k0, 10));
        b1_3 = Aes.EncryptLast(b1_3, Unsafe.Add(ref k1, 10));
        b2_3 = Aes.EncryptLast(b2_3, Unsafe.Add(ref k2, 10));
        b3_3 = Aes.EncryptLast(b3_3, Unsafe.Add(ref k3, 10));
        b4_3 = Aes.EncryptLast(b4_3, Unsafe.Add(ref k4, 10));
        b5_3 = Aes.EncryptLast(b5_3, Unsafe.Add(ref k5, 10));
        b6_3 = Aes.EncryptLast(b6_3, Unsafe.Add(ref k6, 10));
        b7_3 = Aes.EncryptLast(b7_3, Unsafe.Add(ref k7, 10));
        r0 ^= Output(b0_3);
        r1 ^= Output(b1_3);
        r2 ^= Output(b2_3);
        r3 ^= Output(b3_3);
        r4 ^= Output(b4_3);
        r5 ^= Output(b5_3);
        r6 ^= Output(b6_3);
        r7 ^= Output(b7_3);
        // pass 2: l ^= F(2, r). Round r of all eight blocks, then round r + 1: eight independent
        // aesenc in flight cover the 4-cycle latency at two per cycle; round keys are memory operands.
        Vector128<byte> b0_2 = Input(r0) ^ Unsafe.Add(ref k0, TokenKeys.WhiteningBase + 2);
        Vector128<byte> b1_2 = Input(r1) ^ Unsafe.Add(ref k1, TokenKeys.WhiteningBase + 2);
        Vector128<byte> b2_2 = Input(r2) ^ Unsafe.Add(ref k2, TokenKeys.WhiteningBase + 2);
        Vector128<byte> b3_2 = Input(r3) ^ Unsafe.Add(ref k3, TokenKeys.WhiteningBase + 2);
        Vector128<byte> b4_2 = Input(r4) ^ Unsafe.Add(ref k4, TokenKeys.WhiteningBase + 2);
        Vector128<byte> b5_2 = Input(r5) ^ Unsafe.Add(ref k5, TokenKeys.WhiteningBase + 2);
        Vector128<byte> b6_2 = Input(r6) ^ Unsafe.Add(ref k6, TokenKeys.WhiteningBase + 2);
        Vector128<byte> b7_2 = Input(r7) ^ Unsafe.Add(ref k7, TokenKeys.WhiteningBase + 2);
        b0_2 = Aes.Encrypt(b0_2, Unsafe.Add(ref k0, 1));
        b1_2 = Aes.Encrypt(b1_2, Unsafe.Add(ref k1, 1));
        b2_2 = Aes.Encrypt(b2_2, Unsafe.Add(ref k2, 1));
        b3_2 = Aes.Encrypt(b3_2, Unsafe.Add(ref k3, 1));
        b4_2 = Aes.Encrypt(b4_2, Unsafe.Add(ref k4, 1));
        b5_2 = Aes.Encrypt(b5_2, Unsafe.Add(ref k5, 1));
        b6_2 = Aes.Encrypt(b6_2, Unsafe.Add(ref k6, 1));
        b7_2 = Aes.Encrypt(b7_2, Unsafe.Add(ref k7, 1));
        b0_2 = Aes.Encrypt(b0_2, Unsafe.Add(ref k0, 2));
        b1_2 = Aes.Encrypt(b1_2, Unsafe.Add(ref k1, 2));
        b2_2 = Aes.Encrypt(b2_2, Unsafe.Add(ref k2, 2));
        b3_2 = Aes.Encrypt(b3_2, Unsafe.Add(ref k3, 2));
        b4_2 = Aes.Encrypt(b4_2, Unsafe.Add(ref k4, 2));
        b5_2 = Aes.Encrypt(b5_2, Unsafe.Add(ref k5, 2));
        b6_2 = Aes.Encrypt(b6_2, Unsafe.Add(ref k6, 2));
        b7_2 = Aes.Encrypt(b7_2, Unsafe.Add(ref k7, 2));
        b0_2 = Aes.Encrypt(b0_2, Unsafe.Add(ref k0, 3));
        b1_2 = Aes.Encrypt(b1_2, Unsafe.Add(ref k1, 3));
        b2_2 = Aes.Encrypt(b2_2, Unsafe.Add(ref k2, 3));
        b3_2 = Aes.Encrypt(b3_2, Unsafe.Add(ref k3, 3));
        b4_2 = Aes.Encrypt(b4_2, Unsafe.Add(ref k4, 3));
        b5_2 = Aes.Encrypt(b5_2, Unsafe.Add(ref k5, 3));
        b6_2 = Aes.Encrypt(b6_2, Unsafe.Add(ref k6, 3));
        b7_2 = Aes.Encrypt(b7_2, Unsafe.Add(ref k7, 3));
        b0_2 = Aes.Encrypt(b0_2, Unsafe.Add(ref k0, 4));
        b1_2 = Aes.Encrypt(b1_2, Unsafe.Add(ref k1, 4));
        b2_2 = Aes.Encrypt(b2_2, Unsafe.Add(ref k2, 4));
        b3_2 = Aes.Encrypt(b3_2, Unsafe.Add(ref k3, 4));
        b4_2 = Aes.Encrypt(b4_2, Unsafe.Add(ref k4, 4));
        b5_2 = Aes.Encrypt(b5_2, Unsafe.Add(ref k5, 4));
        b6_2 = Aes.Encrypt(b6_2, Unsafe.Add(ref k6, 4));
        b7_2 = Aes.Encrypt(b7_2, Unsafe.Add(ref k7, 4));
        b0_2 = Aes.Encrypt(b0_2, Unsafe.Add(ref k0, 5));
        b1_2 = Aes.Encrypt(b1_2, Unsafe.Add(ref k1, 5));
        b2_2 = Aes.Encrypt(b2_2, Unsafe.Add(ref k2, 5));
        b3_2 = Aes.Encrypt(b3_2, Unsafe.Add(ref k3, 5));
        b4_2 = Aes.Encrypt(b4_2, Unsafe.Add(ref k4, 5));
        b5_2 = Aes.Encrypt(b5_2, Unsafe.Add(ref k5, 5));
        b6_2 = Aes.Encrypt(b6_2, Unsafe.Add(ref k6, 5));
        b7_2 = Aes.Encrypt(b7_2, Unsafe.Add(ref k7, 5));
        b0_2 = Aes.Encrypt(b0_2, Unsafe.Add(ref k0, 6));
        b1_2 = Aes.Encrypt(b1_2, Unsafe.Add(ref k1, 6));
        b2_2 = Aes.Encrypt(b2_2, Unsafe.Add(ref k2, 6));
        b3_2 = Aes.Encrypt(b3_2, Unsafe.Add(ref k3, 6));
        b4_2 = Aes.Encrypt(b4_2, Unsafe.Add(ref k4, 6));
        b5_2 = Aes.Encrypt(b5_2, Unsafe.Add(ref k5, 6));
        b6_2 = Aes.Encrypt(b6_2, Unsafe.Add(ref k6, 6));
        b7_2 = Aes.Encrypt(b7_2, Unsafe.Add(ref k7, 6));
        b0_2 = Aes.Encrypt(b0_2, Unsafe.Add(ref k0, 7));
        b1_2 = Aes.Encrypt(b1_2, Unsafe.Add(ref k1, 7));
        b2_2 = Aes.Encrypt(b2_2, Unsafe.Add(ref k2, 7));
        b3_2 = Aes.Encrypt(b3_2, Unsafe.Add(ref k3, 7));
        b4_2 = Aes.Encrypt(b4_2, Unsafe.Add(ref k4, 7));
        b5_2 = Aes.Encrypt(b5_2, Unsafe.Add(ref k5, 7));
        b6_2 = Aes.Encrypt(b6_2, Unsafe.Add(ref k6, 7));
        b7_2 = Aes.Encrypt(b7_2, Unsafe.Add(ref k7, 7));
        b0_2 = Aes.Encrypt(b0_2, Unsafe.Add(ref k0, 8));
        b1_2 = Aes.Encrypt(b1_2, Unsafe.Add(ref k1, 8));
        b2_2 = Aes.Encrypt(b2_2, Unsafe.Add(ref k2, 8));
        b3_2 = Aes.Encrypt(b3_2, Unsafe.Add(ref k3, 8));
        b4_2 = Aes.Encrypt(b4_2, Unsafe.Add(ref k4, 8));
        b5_2 = Aes.Encrypt(b5_2, Unsafe.Add(ref k5, 8));
        b6_2 = Aes.Encrypt(b6_2, Unsafe.Add(ref k6, 8));
        b7_2 = Aes.Encrypt(b7_2, Unsafe.Add(ref k7, 8));
        b0_2 = Aes.Encrypt(b0_2, Unsafe.Add(ref k0, 9));
        b1_2 = Aes.Encrypt(b1_2, Unsafe.Add(ref k1, 9));
        b2_2 = Aes.Encrypt(b2_2, Unsafe.Add(ref k2, 9));
        b3_2 = Aes.Encrypt(b3_2, Unsafe.Add(ref k3, 9));
        b4_2 = Aes.Encrypt(b4_2, Unsafe.Add(ref k4, 9));
        b5_2 = Aes.Encrypt(b5_2, Unsafe.Add(ref k5, 9));
        b6_2 = Aes.Encrypt(b6_2, Unsafe.Add(ref k6, 9));
        b7_2 = Aes.Encrypt(b7_2, Unsafe.Add(ref k7, 9));
        b0_2 = Aes.EncryptLast(b0_2, Unsafe.Add(ref k0, 10));
        b1_2 = Aes.EncryptLast(b1_2, Unsafe.Add(ref k1, 10));
        b2_2 = Aes.EncryptLast(b2_2, Unsafe.Add(ref k2, 10));
        b3_2 = Aes.EncryptLast(b3_2, Unsafe.Add(ref k3, 10));
        b4_2 = Aes.EncryptLast(b4_2, Unsafe.Add(ref k4, 10));
        b5_2 = Aes.EncryptLast(b5_2, Unsafe.Add(ref k5, 10));
        b6_2 = Aes.EncryptLast(b6_2, Unsafe.Add(ref k6, 10));
        b7_2 = Aes.EncryptLast(b7_2, Unsafe.Add(ref k7, 10));
        l0 ^= Output(b0_2);
        l1 ^= Output(b1_2);
        l2 ^= Output(b2_2);
        l3 ^= Output(b3_2);
        l4 ^= Output(b4_2);
        l5 ^= Output(b5_2);
        l6 ^= Output(b6_2);
        l7 ^= Output(b7_2);
        // ok = the lane's key id has a key; a rejected lane reports server id 0 (same as the scalar path).
        uint m0 = 0u - (((uint)valid >> (int)(t0 >> 30)) & 1);
        uint m1 = 0u - (((uint)valid >> (int)(t1 >> 30)) & 1);
        uint m2 = 0u - (((uint)valid >> (int)(t2 >> 30)) & 1);
        uint m3 = 0u - (((uint)valid >> (int)(t3 >> 30)) & 1);
        uint m4 = 0u - (((uint)valid >> (int)(t4 >> 30)) & 1);
        uint m5 = 0u - (((uint)valid >> (int)(t5 >> 30)) & 1);
        uint m6 = 0u - (((uint)valid >> (int)(t6 >> 30)) & 1);
        uint m7 = 0u - (((uint)valid >> (int)(t7 >> 30)) & 1);
        Unsafe.Add(ref serverIds, 0) = (l0 >> shift) & m0;
        Unsafe.Add(ref serverIds, 1) = (l1 >> shift) & m1;
        Unsafe.Add(ref serverIds, 2) = (l2 >> shift) & m2;
        Unsafe.Add(ref serverIds, 3) = (l3 >> shift) & m3;
        Unsafe.Add(ref serverIds, 4) = (l4 >> shift) & m4;
        Unsafe.Add(ref serverIds, 5) = (l5 >> shift) & m5;
        Unsafe.Add(ref serverIds, 6) = (l6 >> shift) & m6;
        Unsafe.Add(ref serverIds, 7) = (l7 >> shift) & m7;
        Unsafe.Add(ref ok, 0) = (byte)(m0 & 1);
        Unsafe.Add(ref ok, 1) = (byte)(m1 & 1);
        Unsafe.Add(ref ok, 2) = (byte)(m2 & 1);
        Unsafe.Add(ref ok, 3) = (byte)(m3 & 1);
        Unsafe.Add(ref ok, 4) = (byte)(m4 & 1);
        Unsafe.Add(ref ok, 5) = (byte)(m5 & 1);
        Unsafe.Add(ref ok, 6) = (byte)(m6 & 1);
        Unsafe.Add(ref ok, 7) = (byte)(m7 & 1);
        return (int)((m0 & 1) + (m1 & 1) + (m2 & 1) + (m3 & 1) + (m4 & 1) + (m5 & 1) + (m6 & 1) + (m7 & 1));
    }
}
