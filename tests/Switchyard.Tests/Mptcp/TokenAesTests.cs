using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Switchyard.Dataplane.Datapath.Steering.Tokens;

namespace Switchyard.Tests.Mptcp;

/// <summary>
/// The AES-128 core under the token cipher: FIPS-197 known answers, AES-NI and software agree, and the
/// QUIC-LB draft-21 four-pass cipher (same PRF core, same round-input layout) reproduces the draft's vectors.
/// </summary>
public sealed class TokenAesTests
{
    static byte[] H(string hex) => Convert.FromHexString(hex);

    [Fact]
    public void Aes128_matches_FIPS_197_appendix_C1_on_both_implementations()
    {
        var prf = new AesPrf(H("000102030405060708090a0b0c0d0e0f"));
        byte[] pt = H("00112233445566778899aabbccddeeff"), hw = new byte[16], sw = new byte[16];
        prf.EncryptBlock(pt, hw);
        prf.EncryptBlockSoftware(pt, sw);
        Assert.Equal("69C4E0D86A7B0430D8CDB78070B4C55A", Convert.ToHexString(hw));
        Assert.Equal("69C4E0D86A7B0430D8CDB78070B4C55A", Convert.ToHexString(sw));
    }

    [Fact]
    public void Key_expansion_matches_FIPS_197_appendix_A1()
    {
        var prf = new AesPrf(H("2b7e151628aed2a6abf7158809cf4f3c"));
        Assert.Equal(0xa0fafe17u, prf.Words[4]);
        Assert.Equal(0xd014f9a8u, prf.Words[40]);
        Assert.Equal(0xb6630ca6u, prf.Words[43]);
        // Round key 10 as bytes (the layout AES-NI uses), whichever expansion produced it.
        byte[] rk10 = new byte[16];
        prf.RoundKeys[10].CopyTo(rk10);
        Assert.Equal("D014F9A8C9EE2589E13F0CC8B6630CA6", Convert.ToHexString(rk10));
    }

    [Fact]
    public void Aesni_key_expansion_and_encryption_agree_with_the_software_aes_on_random_keys()
    {
        var rng = new Random(8684);
        byte[] key = new byte[16], pt = new byte[16], a = new byte[16], b = new byte[16];
        for (int i = 0; i < 200; i++)
        {
            rng.NextBytes(key);
            rng.NextBytes(pt);
            var prf = new AesPrf(key);
            Assert.Equal(AesPrf.WordsToRoundKeys(prf.Words), prf.RoundKeys);
            if (Aes.IsSupported) Assert.Equal(AesPrf.ExpandKeyHardware(key), prf.RoundKeys);
            prf.EncryptBlock(pt, a);
            prf.EncryptBlockSoftware(pt, b);
            Assert.Equal(a, b);
        }
    }

    // ---- QUIC-LB draft-21 (shared/vectors/quic-lb-draft21.txt) ----

    const string QuicLbKey = "8f95f09245765f80256934e50c66207f";

    [Theory]
    // cr_bits, sid, nonce, cid (verbatim from draft-21's "Encrypted CIDs")
    [InlineData(0, "ed793a", "ee080dbf", "0720b1d07b359d3c")]                                             // 7 octets, odd, 3 passes decode
    [InlineData(1, "ed793a51d49b8f5fab65", "ee080dbf48", "2fcc381bc74cb4fbad2823a3d1f8fed2")]             // 15, odd, sid > nonce: 4th pass
    [InlineData(2, "ed793a51d49b8f5f", "ee080dbf48c0d1e5", "504dd2d05a7b0de9b2b9907afb5ecf8cc3")]         // 16: single pass
    [InlineData(3, "ed793a51d49b8f5fab", "ee080dbf48c0d1e55d", "125779c9cc86beb3a3a4a3ca96fce4bfe0cdbc")] // 18, even
    public void QuicLb_draft21_encrypted_vectors_encrypt_and_decrypt(int crBits, string sid, string nonce, string cid)
    {
        var prf = new AesPrf(H(QuicLbKey));
        byte[] plain = [.. H(sid), .. H(nonce)];
        byte[] expected = H(cid);
        byte[] body = QuicLb.Encrypt(prf, plain);
        Assert.Equal(Convert.ToHexString(expected[1..]), Convert.ToHexString(body));
        // First octet: config rotation bits and the self-encoded length (CID length - 1 = plaintext length).
        // Known erratum in draft-21: the cr_bits=3 row prints 0x12 (config 0); 0x72 is what cr_bits=3 gives.
        byte first = (byte)(crBits << 5 | plain.Length);
        Assert.Equal(crBits == 3 ? (byte)0x72 : expected[0], first);
        Assert.Equal(Convert.ToHexString(plain), Convert.ToHexString(QuicLb.Decrypt(prf, body)));
        // The LB's server-id-only decode: 3 passes when 2 * sid_len <= n, else the 4th.
        Assert.Equal(sid.ToUpperInvariant(), Convert.ToHexString(QuicLb.DecryptServerId(prf, body, sid.Length / 2)));
    }

    [Fact]
    public void QuicLb_draft21_worked_example_reproduces_every_intermediate_value()
    {
        var prf = new AesPrf(H("fdf726a9893ec05c0632d3956680baf0"));
        var trace = new List<(string Input, string Output)>();
        byte[] body = QuicLb.Encrypt(prf, H("31441a9c69c275"), trace);
        Assert.Equal(
        [
            ("31441A90000000000000000000000701", "A255DD8CDACF01948D3A848C3C7FEE23"),
            ("0E3C1FF9000000000000000000000702", "E5E452CB9E1BEDB0B2BF830506BF4C4E"),
            ("D4A04850000000000000000000000703", "B7821AB3024FED0913B6A04D18E3216F"),
            ("09BE054A000000000000000000000704", "B334357CFDF81E3FAFE180154EAF7378"),
        ], trace);
        Assert.Equal("0767947D29BE054A", Convert.ToHexString([0x07, .. body]));
        Assert.Equal("31441A9C69C275", Convert.ToHexString(QuicLb.Decrypt(prf, body)));
    }

    [Fact]
    public void QuicLb_helper_examples_from_the_draft()
    {
        Assert.Equal("AABA3C00000000000000000000000602", Convert.ToHexString(QuicLb.Expand(6, 2, H("aaba3c"))));
        var (l, r) = QuicLb.Split(H("7040b81b55ccf3"));
        Assert.Equal("7040B810", Convert.ToHexString(l));
        Assert.Equal("0B55CCF3", Convert.ToHexString(r));
    }

    [Fact]
    public void QuicLb_four_pass_round_trips_for_every_length_from_5_to_19()
    {
        var rng = new Random(21);
        byte[] key = new byte[16];
        rng.NextBytes(key);
        var prf = new AesPrf(key);
        for (int n = 5; n <= 19; n++)
            for (int i = 0; i < 20; i++)
            {
                byte[] p = new byte[n];
                rng.NextBytes(p);
                byte[] c = QuicLb.Encrypt(prf, p);
                Assert.Equal(n, c.Length);
                Assert.Equal(p, QuicLb.Decrypt(prf, c));
            }
    }
}

/// <summary>
/// QUIC-LB draft-21 section "Encryption": single-pass for 16 octets, otherwise the four-pass Feistel
/// with round input expand(n, pass, x) = x || zeros || n || pass, built on the appliance's AES PRF.
/// Test-side only; the appliance does not route QUIC.
/// </summary>
static class QuicLb
{
    public static byte[] Expand(int n, int pass, ReadOnlySpan<byte> x)
    {
        var b = new byte[16];
        x.CopyTo(b);
        b[14] = (byte)n;
        b[15] = (byte)pass;
        return b;
    }

    /// <summary>left_0 = first ceil(n/2) octets, right_0 = last ceil(n/2); odd n shares the middle octet
    /// (left keeps its high nibble, right its low nibble).</summary>
    public static (byte[] Left, byte[] Right) Split(ReadOnlySpan<byte> p)
    {
        int n = p.Length, half = (n + 1) / 2;
        byte[] l = p[..half].ToArray(), r = p[(n - half)..].ToArray();
        if (n % 2 == 1) { l[^1] &= 0xF0; r[0] &= 0x0F; }
        return (l, r);
    }

    static byte[] Join(byte[] l, byte[] r, int n)
    {
        if (n % 2 == 0) return [.. l, .. r];
        return [.. l[..^1], (byte)(l[^1] | r[0]), .. r[1..]];
    }

    /// <summary>x ^= truncate(AES(expand(n, pass, y)), len(x)), then clear the shared nibble.</summary>
    static void Pass(AesPrf prf, int n, int pass, byte[] x, byte[] y, bool xIsLeft, List<(string, string)>? trace)
    {
        byte[] input = Expand(n, pass, y), output = new byte[16];
        prf.EncryptBlock(input, output);
        trace?.Add((Convert.ToHexString(input), Convert.ToHexString(output)));
        for (int i = 0; i < x.Length; i++) x[i] ^= output[i];
        if (n % 2 == 1)
        {
            if (xIsLeft) x[^1] &= 0xF0;
            else x[0] &= 0x0F;
        }
    }

    public static byte[] Encrypt(AesPrf prf, byte[] plain, List<(string, string)>? trace = null)
    {
        int n = plain.Length;
        if (n == 16)
        {
            var c = new byte[16];
            prf.EncryptBlock(plain, c);
            return c;
        }
        var (l, r) = Split(plain);
        Pass(prf, n, 1, r, l, false, trace);
        Pass(prf, n, 2, l, r, true, trace);
        Pass(prf, n, 3, r, l, false, trace);
        Pass(prf, n, 4, l, r, true, trace);
        return Join(l, r, n);
    }

    public static byte[] Decrypt(AesPrf prf, byte[] body)
    {
        int n = body.Length;
        if (n == 16) return SinglePassDecrypt(prf, body);
        var (l, r) = Split(body);
        Pass(prf, n, 4, l, r, true, null);
        Pass(prf, n, 3, r, l, false, null);
        Pass(prf, n, 2, l, r, true, null);
        Pass(prf, n, 1, r, l, false, null);
        return Join(l, r, n);
    }

    /// <summary>What a load balancer does: three passes when the server id fits in left_0, else four.</summary>
    public static byte[] DecryptServerId(AesPrf prf, byte[] body, int sidLen)
    {
        int n = body.Length;
        if (n == 16) return SinglePassDecrypt(prf, body)[..sidLen];
        var (l, r) = Split(body);
        Pass(prf, n, 4, l, r, true, null);
        Pass(prf, n, 3, r, l, false, null);
        Pass(prf, n, 2, l, r, true, null);
        if (2 * sidLen <= n) return l[..sidLen]; // left_0 holds the whole server id (n odd: 2*sid <= n-1)
        Pass(prf, n, 1, r, l, false, null);
        return Join(l, r, n)[..sidLen];
    }

    /// <summary>The 16-octet case needs AES decryption, which the appliance never implements; the
    /// platform's AES (ECB) stands in, and the encrypt direction is checked against our core above.</summary>
    static byte[] SinglePassDecrypt(AesPrf prf, byte[] body)
    {
        using var aes = System.Security.Cryptography.Aes.Create();
        aes.Key = Convert.FromHexString(QuicLbKeyHex(prf));
        return aes.DecryptEcb(body, System.Security.Cryptography.PaddingMode.None);
    }

    // Round key 0 is the key itself.
    static string QuicLbKeyHex(AesPrf prf)
    {
        var b = new byte[16];
        prf.RoundKeys[0].CopyTo(b);
        return Convert.ToHexString(b);
    }
}
