using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Minting;

namespace Switchyard.Tests.Mptcp;

/// <summary>The reference minting library against the appliance's decryptor.</summary>
public sealed class TokenMinterTests
{
    static readonly byte[] KeyA = Convert.FromHexString("000102030405060708090a0b0c0d0e0f");
    static readonly byte[] KeyB = Convert.FromHexString("8f95f09245765f80256934e50c66207f");

    [Fact]
    public void Minted_tokens_decrypt_on_the_appliance_to_the_server_id()
    {
        var applianceKeys = new TokenKeys(10, (0, KeyA), (1, KeyB));
        foreach (uint sid in new uint[] { 0, 1, 511, 1023 })
        {
            var m = new TokenMinter(new Dictionary<int, byte[]> { [1] = KeyB }, 1, 10, sid);
            var tokens = new uint[64];
            for (int i = 0; i < tokens.Length; i++)
            {
                tokens[i] = m.Mint();
                Assert.Equal(1, TokenCipher.KeyId(tokens[i]));
                Assert.True(TokenCipher.TryDecryptServerId(tokens[i], applianceKeys, out uint s));
                Assert.Equal(sid, s);
            }
            var ids = new uint[64];
            var ok = new byte[64];
            Assert.Equal(64, TokenCipher.DecryptServerIds(tokens, ids, ok, applianceKeys));
            Assert.All(ids, s => Assert.Equal(sid, s));
        }
    }

    [Fact]
    public void No_token_is_reused_among_live_tokens_until_the_range_is_exhausted()
    {
        var m = new TokenMinter(new Dictionary<int, byte[]> { [0] = KeyA }, 0, 15, 12345); // 2^15 nonces
        var seen = new HashSet<uint>();
        for (int i = 0; i < 1 << 15; i++) Assert.True(seen.Add(m.Mint()));
        Assert.Equal(1 << 15, m.LiveCount);
        var e = Assert.Throws<InvalidOperationException>(() => m.Mint());
        Assert.Contains("exhausted", e.Message);
        Assert.Contains("32768", e.Message);
    }

    [Fact]
    public void A_released_token_becomes_available_again()
    {
        var m = new TokenMinter(new Dictionary<int, byte[]> { [0] = KeyA }, 0, 15, 7);
        var live = new List<uint>();
        for (int i = 0; i < 1 << 15; i++) live.Add(m.Mint());
        uint freed = live[1234];
        Assert.True(m.Release(freed));
        Assert.False(m.Release(freed)); // already released
        Assert.Equal(freed, m.Mint());  // the only free nonce: same X, same key, same token
        Assert.Throws<InvalidOperationException>(() => m.Mint());
    }

    [Fact]
    public void Release_ignores_tokens_that_are_not_live_tokens_of_this_server()
    {
        var keys = new Dictionary<int, byte[]> { [0] = KeyA };
        var mine = new TokenMinter(keys, 0, 10, 1);
        var other = new TokenMinter(keys, 0, 10, 2);
        uint t = mine.Mint();
        Assert.False(other.Release(t));            // another server's range
        Assert.False(mine.Release(0xC000_0001u));  // key id 3
        Assert.False(mine.Release(0x4000_0001u));  // no key 1
        Assert.Equal(1, mine.LiveCount);
        Assert.True(mine.Release(t));
        Assert.Equal(0, mine.LiveCount);
    }

    [Fact]
    public void Rotation_mints_under_the_new_key_while_old_tokens_stay_valid_and_releasable()
    {
        var m = new TokenMinter(new Dictionary<int, byte[]> { [0] = KeyA }, 0, 12, 3000);
        uint old = m.Mint();
        m.SetKey(2, KeyB);
        m.SetCurrentKey(2);
        uint fresh = m.Mint();
        Assert.Equal(0, TokenCipher.KeyId(old));
        Assert.Equal(2, TokenCipher.KeyId(fresh));

        var appliance = new TokenKeys(12, (0, KeyA), (2, KeyB));
        Assert.True(TokenCipher.TryDecryptServerId(old, appliance, out uint s0));
        Assert.True(TokenCipher.TryDecryptServerId(fresh, appliance, out uint s2));
        Assert.Equal(3000u, s0);
        Assert.Equal(3000u, s2);

        Assert.Throws<InvalidOperationException>(() => m.RemoveKey(0)); // still has a live token
        Assert.Throws<InvalidOperationException>(() => m.SetKey(0, KeyB)); // cannot change a key under live tokens
        Assert.True(m.Release(old));
        m.RemoveKey(0);
        Assert.False(m.Keys.HasKey(0));
        Assert.Throws<InvalidOperationException>(() => m.RemoveKey(2)); // current
        Assert.True(m.Release(fresh));
    }

    [Fact]
    public void X_is_not_reused_across_key_ids_while_live()
    {
        var m = new TokenMinter(new Dictionary<int, byte[]> { [0] = KeyA, [1] = KeyB }, 0, 15, 0);
        var xs = new HashSet<uint>();
        var appliance = m.Keys;
        for (int i = 0; i < 1 << 14; i++)
        {
            Assert.True(TokenCipher.TryDecrypt(m.Mint(), appliance, out uint x));
            Assert.True(xs.Add(x));
        }
        m.SetCurrentKey(1);
        for (int i = 0; i < 1 << 14; i++)
        {
            Assert.True(TokenCipher.TryDecrypt(m.Mint(), appliance, out uint x));
            Assert.True(xs.Add(x));
        }
        Assert.Throws<InvalidOperationException>(() => m.Mint());
    }

    [Fact]
    public void Minting_is_thread_safe()
    {
        var m = new TokenMinter(new Dictionary<int, byte[]> { [0] = KeyA }, 0, 10, 5);
        var all = new System.Collections.Concurrent.ConcurrentBag<uint>();
        Parallel.For(0, 8, _ =>
        {
            var mine = new List<uint>();
            for (int i = 0; i < 2000; i++) mine.Add(m.Mint());
            for (int i = 0; i < 1000; i++) Assert.True(m.Release(mine[i]));
            foreach (var t in mine.Skip(1000)) all.Add(t);
        });
        Assert.Equal(8000, all.Count);
        Assert.Equal(8000, all.Distinct().Count());
        Assert.Equal(8000, m.LiveCount);
    }

    [Fact]
    public void Bad_configuration_is_refused_with_a_clear_message()
    {
        var keys = new Dictionary<int, byte[]> { [0] = KeyA };
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenMinter(keys, 0, 16, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenMinter(keys, 0, 8, 256));
        Assert.Throws<ArgumentException>(() => new TokenMinter(keys, 1, 8, 0));
        Assert.Throws<ArgumentException>(() => new TokenMinter(new Dictionary<int, byte[]> { [0] = new byte[15] }, 0, 8, 0));
    }
}
