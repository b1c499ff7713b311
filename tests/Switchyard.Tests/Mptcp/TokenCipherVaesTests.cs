using System.Runtime.Intrinsics;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using static Switchyard.Dataplane.Datapath.Steering.Tokens.TokenCipher;

namespace Switchyard.Tests.Mptcp;

/// <summary>
/// The native VAES token kernels (native/switchyard_token.c) against the scalar software-AES reference:
/// every shared vector, random tokens with mixed key ids for every batch size 0..100 (full groups of 16
/// and every partial group), nothing written past the batch, no allocation. Each kernel the CPU has is
/// run explicitly (1 = VAES + AVX2, 2 = VAES + AVX-512VL); a kernel the CPU lacks must refuse (-1).
/// </summary>
public sealed class TokenCipherVaesTests
{
    static readonly int[] Kernels = [1, 2];

    /// <summary>What the CPU offers according to the kernel's own flags in /proc/cpuinfo.</summary>
    static int ExpectedKernel()
    {
        var flags = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        if (!flags.Contains("vaes") || !flags.Contains("avx2")) return 0;
        return flags.Contains("avx512f") && flags.Contains("avx512vl") ? 2 : 1;
    }

    [Fact]
    public void The_shim_reports_the_kernel_this_cpu_supports_and_the_dispatcher_uses_it()
    {
        Assert.Equal(ExpectedKernel(), NativeKernelAvailable);
        string? forced = Environment.GetEnvironmentVariable(KernelVariable);
        Assert.Equal(string.Equals(forced, "managed", StringComparison.OrdinalIgnoreCase) ? 0 : NativeKernelAvailable, NativeKernel);
    }

    [Fact]
    public void The_pair_schedule_is_aligned_and_holds_both_slots_of_every_pair()
    {
        var rng = new Random(16);
        var keys = new TokenKeys(9, (0, TokenCipherTests.RandomKey(rng)), (2, TokenCipherTests.RandomKey(rng)));
        Assert.Equal(0, keys.PairSchedule % 64);
        unsafe
        {
            var pairs = (Vector256<byte>*)keys.PairSchedule;
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++)
                    for (int j = 0; j < TokenKeys.PairVectors; j++)
                    {
                        Vector256<byte> v = pairs[(a << 2 | b) * TokenKeys.PairVectors + j];
                        Assert.Equal(keys.Schedule[a * TokenKeys.SlotVectors + j], v.GetLower());
                        Assert.Equal(keys.Schedule[b * TokenKeys.SlotVectors + j], v.GetUpper());
                    }
        }
    }

    [Fact]
    public void Every_shared_vector_decrypts_to_its_server_id_with_every_kernel_alone_and_in_a_full_group()
    {
        var lines = TokenVectors.TokenLines();
        foreach (var v in lines)
        {
            var keys = new TokenKeys(v.ServerIdBits, (v.KeyId, v.Key));
            // alone (a tail of one) and as lane 0..15 of a group of the same token
            foreach (int n in new[] { 1, 16, 17 })
            {
                var tokens = Enumerable.Repeat(v.Token, n).ToArray();
                foreach (int kernel in Kernels)
                {
                    var ids = new uint[n];
                    var ok = new byte[n];
                    int r = DecryptServerIdsNative(kernel, tokens, ids, ok, keys);
                    if (kernel > NativeKernelAvailable) { Assert.Equal(-1, r); continue; }
                    Assert.Equal(n, r);
                    Assert.All(ids, id => Assert.Equal(v.ServerId, id));
                    Assert.All(ok, o => Assert.Equal(1, o));
                }
            }
        }
        // All vectors of one key in one batch: different tokens in every lane.
        foreach (var group in lines.GroupBy(l => (Convert.ToHexString(l.Key), l.ServerIdBits)))
        {
            var byId = group.GroupBy(l => l.KeyId).Select(g => (g.Key, g.First().Key)).ToArray();
            var keys = new TokenKeys(group.Key.ServerIdBits, byId.Select(k => (k.Item1, k.Item2)).ToArray());
            var tokens = group.Select(l => l.Token).ToArray();
            CheckAllKernels(tokens, keys);
            Assert.Equal(group.Select(l => l.ServerId), Decrypt(tokens, keys));
        }
    }

    static uint[] Decrypt(uint[] tokens, TokenKeys keys)
    {
        var ids = new uint[tokens.Length];
        DecryptServerIds(tokens, ids, new byte[tokens.Length], keys);
        return ids;
    }

    [Fact]
    public void Random_tokens_with_mixed_key_ids_equal_the_scalar_reference_for_every_batch_size_0_to_100()
    {
        var rng = new Random(100);
        var allKeys = new TokenKeys(10, (0, TokenCipherTests.RandomKey(rng)), (1, TokenCipherTests.RandomKey(rng)), (2, TokenCipherTests.RandomKey(rng)));
        var twoKeys = new TokenKeys(15, (1, TokenCipherTests.RandomKey(rng)), (2, TokenCipherTests.RandomKey(rng)));
        var oneKey = new TokenKeys(1, (0, TokenCipherTests.RandomKey(rng)));
        foreach (var keys in new[] { allKeys, twoKeys, oneKey })
            for (int n = 0; n <= 100; n++)
                for (int trial = 0; trial < 4; trial++)
                {
                    var tokens = new uint[n];
                    for (int i = 0; i < n; i++) tokens[i] = (uint)rng.NextInt64(0, 1L << 32);
                    if (trial == 1) // one key id throughout, as between rotations
                        for (int i = 0; i < n; i++) tokens[i] = tokens[i] & 0x3FFF_FFFF | 1u << 30;
                    if (trial == 2 && n > 0) tokens[rng.Next(n)] |= 0xC000_0000; // an id-3 token
                    CheckAllKernels(tokens, keys);
                }
    }

    /// <summary>Each native kernel, and the public dispatcher, against token-by-token software AES;
    /// the output spans are one longer than the input and that last element must stay untouched.</summary>
    static void CheckAllKernels(uint[] tokens, TokenKeys keys)
    {
        int n = tokens.Length;
        var expectIds = new uint[n];
        var expectOk = new byte[n];
        int expectCount = DecryptServerIdsOneByOne<SoftwarePrf>(tokens, expectIds, expectOk, keys);
        foreach (int kernel in Kernels.Append(0))
        {
            var ids = new uint[n + 1];
            var ok = new byte[n + 1];
            ids[n] = 0xDEAD; ok[n] = 0xEE;
            int r = kernel == 0
                ? DecryptServerIds(tokens, ids, ok, keys)
                : DecryptServerIdsNative(kernel, tokens, ids.AsSpan(0, n), ok.AsSpan(0, n), keys);
            if (kernel > NativeKernelAvailable) { Assert.Equal(-1, r); Assert.All(ok[..n], o => Assert.Equal(0, o)); continue; }
            Assert.Equal(expectCount, r);
            Assert.Equal(expectIds, ids[..n]);
            Assert.Equal(expectOk, ok[..n]);
            Assert.Equal(0xDEADu, ids[n]);
            Assert.Equal(0xEE, ok[n]);
        }
    }

    [Fact]
    public void Native_batched_decryption_allocates_nothing()
    {
        var rng = new Random(7);
        var keys = new TokenKeys(10, (0, TokenCipherTests.RandomKey(rng)), (1, TokenCipherTests.RandomKey(rng)));
        var tokens = new uint[64];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = (uint)rng.NextInt64(0, 1L << 32);
        var ids = new uint[64];
        var ok = new byte[64];
        for (int n = 0; n <= 64; n++) // warm up / tier up every path
        {
            DecryptServerIds(tokens.AsSpan(0, n), ids, ok, keys);
            foreach (int k in Kernels) DecryptServerIdsNative(k, tokens.AsSpan(0, n), ids, ok, keys);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int rep = 0; rep < 50; rep++)
            for (int n = 0; n <= 64; n++)
            {
                DecryptServerIds(tokens.AsSpan(0, n), ids, ok, keys);
                foreach (int k in Kernels) DecryptServerIdsNative(k, tokens.AsSpan(0, n), ids, ok, keys);
            }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
