using System.Runtime.Intrinsics.X86;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using static Switchyard.Dataplane.Datapath.Steering.Tokens.TokenCipher;

namespace Switchyard.Tests.Mptcp;

/// <summary>
/// Token format v1: every line of shared/vectors/token-v1.txt, round trips, and the batched decryptor
/// against the scalar one. Each check runs with AES-NI (when the machine has it) and with the software
/// AES, so the fallback is tested on every machine; run the suite once more with
/// DOTNET_EnableHWIntrinsic=0 to test the public entry points' dispatch to it.
/// </summary>
public sealed class TokenCipherTests
{
    public static TheoryData<string> VectorLines()
    {
        var d = new TheoryData<string>();
        foreach (var l in TokenVectors.TokenLines()) d.Add(l.ToString());
        return d;
    }

    static TokenVectors.TokenLine Parse(string line) => TokenVectors.TokenLines().Single(l => l.ToString() == line);

    [Fact]
    public void The_embedded_vector_file_has_every_line()
        => Assert.Equal(41, TokenVectors.TokenLines().Count);

    [Theory]
    [MemberData(nameof(VectorLines))]
    public void Vector_line_encrypts_to_its_token_and_decrypts_to_its_server_id_and_nonce(string line)
    {
        var v = Parse(line);
        var keys = new TokenKeys(v.ServerIdBits, (v.KeyId, v.Key));
        Assert.Equal(v.X, ComposeX(v.ServerId, v.Nonce, v.ServerIdBits));

        Assert.Equal(v.Token, Encrypt(v.X, v.KeyId, keys));
        Assert.Equal(v.Token, Encrypt<SoftwarePrf>(v.X, v.KeyId, keys));
        Assert.Equal(v.KeyId, KeyId(v.Token));

        Assert.True(TryDecrypt(v.Token, keys, out uint x));
        Assert.Equal(v.X, x);
        Assert.Equal(v.ServerId, x >> keys.NonceBits);
        Assert.Equal(v.Nonce, x & ((1u << keys.NonceBits) - 1));
        Assert.True(TryDecrypt<SoftwarePrf>(v.Token, keys, out x));
        Assert.Equal(v.X, x);

        Assert.True(TryDecryptServerId(v.Token, keys, out uint sid));
        Assert.Equal(v.ServerId, sid);
        Assert.True(TryDecryptServerId<SoftwarePrf>(v.Token, keys, out sid));
        Assert.Equal(v.ServerId, sid);
        if (Aes.IsSupported)
        {
            Assert.Equal(v.Token, Encrypt<HardwarePrf>(v.X, v.KeyId, keys));
            Assert.True(TryDecryptServerId<HardwarePrf>(v.Token, keys, out sid));
            Assert.Equal(v.ServerId, sid);
        }

        Span<uint> ids = stackalloc uint[1];
        Span<byte> ok = stackalloc byte[1];
        Assert.Equal(1, DecryptServerIds([v.Token], ids, ok, keys));
        Assert.Equal(v.ServerId, ids[0]);
        Assert.Equal(1, ok[0]);
    }

    [Fact]
    public void Random_keys_k_server_ids_and_nonces_round_trip()
    {
        var rng = new Random(30);
        for (int i = 0; i < 2000; i++)
        {
            int k = rng.Next(TokenKeys.MinServerIdBits, TokenKeys.MaxServerIdBits + 1);
            int keyId = rng.Next(0, 3);
            var keys = new TokenKeys(k, (keyId, RandomKey(rng)));
            uint sid = (uint)rng.Next(0, 1 << k);
            uint nonce = (uint)rng.NextInt64(0, 1L << (30 - k));
            uint x = ComposeX(sid, nonce, k);
            uint token = Encrypt(x, keyId, keys);
            Assert.Equal(keyId, KeyId(token));
            Assert.True(TryDecrypt(token, keys, out uint back));
            Assert.Equal(x, back);
            Assert.True(TryDecryptServerId(token, keys, out uint s));
            Assert.Equal(sid, s);
            Assert.True(TryDecryptServerId<SoftwarePrf>(token, keys, out s));
            Assert.Equal(sid, s);
        }
    }

    [Fact]
    public void Encryption_is_a_permutation_of_the_30_bit_space_for_a_sample()
    {
        var keys = new TokenKeys(10, (1, RandomKey(new Random(1))));
        var seen = new HashSet<uint>();
        for (uint x = 0; x < 1 << 16; x++) Assert.True(seen.Add(Encrypt(x, 1, keys)));
    }

    [Fact]
    public void Key_id_3_and_absent_keys_are_not_routable()
    {
        var keys = new TokenKeys(10, (0, RandomKey(new Random(2))), (2, RandomKey(new Random(3))));
        Assert.False(TryDecryptServerId(0xC000_1234u, keys, out uint sid));
        Assert.Equal(0u, sid);
        Assert.False(TryDecryptServerId(0x4000_1234u, keys, out sid)); // key id 1 has no key
        Assert.False(TryDecrypt(0x4000_1234u, keys, out _));
        Assert.False(TryDecryptServerId<SoftwarePrf>(0xC000_1234u, keys, out _));
        Assert.True(TryDecryptServerId(0x8000_1234u, keys, out _));
        Assert.Throws<ArgumentException>(() => Encrypt(5, 1, keys));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenKeys(16, (0, new byte[16])));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenKeys(10, (3, new byte[16])));
    }

    /// <summary>Mixed key ids within every batch: the three keys, id 3, and a missing key (id 1 absent
    /// from <c>twoKeys</c>), plus uniform stretches so both kernels and the padded tail run.</summary>
    [Fact]
    public void Batched_decryption_equals_scalar_for_every_count_from_0_to_64_with_mixed_key_ids()
    {
        var rng = new Random(64);
        var allKeys = new TokenKeys(10, (0, RandomKey(rng)), (1, RandomKey(rng)), (2, RandomKey(rng)));
        var twoKeys = new TokenKeys(7, (0, RandomKey(rng)), (2, RandomKey(rng)));
        foreach (var keys in new[] { allKeys, twoKeys })
            for (int n = 0; n <= 64; n++)
                for (int trial = 0; trial < 8; trial++)
                {
                    var tokens = new uint[n];
                    for (int i = 0; i < n; i++) tokens[i] = (uint)rng.NextInt64(0, 1L << 32);
                    if (trial % 2 == 0) // mostly one key id, like production between rotations
                        for (int i = 0; i < n; i++) tokens[i] = tokens[i] & 0x3FFF_FFFF | (trial % 4 == 0 ? 0u : 2u) << 30;
                    if (trial == 6 && n > 0) tokens[rng.Next(n)] |= 0xC000_0000; // one id-3 token among uniform ones
                    CheckBatch(tokens, keys);
                }
    }

    static void CheckBatch(uint[] tokens, TokenKeys keys)
    {
        int n = tokens.Length;
        var expectIds = new uint[n];
        var expectOk = new byte[n];
        int expectCount = DecryptServerIdsOneByOne<SoftwarePrf>(tokens, expectIds, expectOk, keys);
        for (int i = 0; i < n; i++)
        {
            bool good = TryDecryptServerId(tokens[i], keys, out uint s);
            Assert.Equal(good ? 1 : 0, expectOk[i]);
            Assert.Equal(s, expectIds[i]);
        }

        // Output spans one longer than the input: nothing past n may be written.
        var ids = new uint[n + 1];
        var ok = new byte[n + 1];
        ids[n] = 0xDEAD; ok[n] = 0xEE;
        Assert.Equal(expectCount, DecryptServerIds(tokens, ids, ok, keys));
        Assert.Equal(expectIds, ids[..n]);
        Assert.Equal(expectOk, ok[..n]);
        Assert.Equal(0xDEADu, ids[n]);
        Assert.Equal(0xEE, ok[n]);
        if (Aes.IsSupported)
        {
            Array.Clear(ids); Array.Clear(ok);
            Assert.Equal(expectCount, DecryptServerIdsHardware(tokens, ids.AsSpan(0, n), ok.AsSpan(0, n), keys));
            Assert.Equal(expectIds, ids[..n]);
            Assert.Equal(expectOk, ok[..n]);
        }
    }

    [Fact]
    public void Batched_decryption_allocates_nothing()
    {
        var rng = new Random(5);
        var keys = new TokenKeys(10, (0, RandomKey(rng)), (1, RandomKey(rng)));
        var tokens = new uint[64];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = (uint)rng.NextInt64(0, 1L << 32);
        var ids = new uint[64];
        var ok = new byte[64];
        for (int n = 0; n <= 64; n++) DecryptServerIds(tokens.AsSpan(0, n), ids, ok, keys); // warm up / tier up
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int rep = 0; rep < 100; rep++)
            for (int n = 0; n <= 64; n++)
            {
                DecryptServerIds(tokens.AsSpan(0, n), ids, ok, keys);
                TryDecryptServerId(tokens[n % 64], keys, out _);
                DecryptServerIdsOneByOne<SoftwarePrf>(tokens.AsSpan(0, n), ids, ok, keys);
            }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Server_id_only_decryption_agrees_with_full_decryption_for_every_k()
    {
        var rng = new Random(15);
        for (int k = 1; k <= 15; k++)
        {
            var keys = new TokenKeys(k, (2, RandomKey(rng)));
            for (int i = 0; i < 200; i++)
            {
                uint token = 2u << 30 | (uint)rng.Next() & 0x3FFF_FFFF;
                Assert.True(TryDecrypt(token, keys, out uint x));
                Assert.True(TryDecryptServerId(token, keys, out uint sid));
                Assert.Equal(x >> (30 - k), sid);
            }
        }
    }

    internal static byte[] RandomKey(Random rng)
    {
        var k = new byte[16];
        rng.NextBytes(k);
        return k;
    }
}
