using Switchyard.Dataplane.Datapath.Quic;

namespace Switchyard.Tests.Quic;

/// <summary>
/// The batched decoder equals the one-CID decoder (and the reference cipher) for every burst size, with
/// several configurations live at once (all three algorithms, odd and even lengths, with and without
/// the fourth pass) and with CIDs that must fail (unroutable, unknown config, too short), and header
/// parsing per RFC 8999 classifies malformed and client-chosen DCIDs under their named results.
/// </summary>
public sealed class QuicLbDecoderTests
{
    static readonly byte[] Key = Convert.FromHexString(QuicLbVectors.DraftKey);
    static readonly byte[] Key2 = Convert.FromHexString("fdf726a9893ec05c0632d3956680baf0");

    /// <summary>Codepoints 0..5 live: four-pass odd (3 passes), four-pass odd (4 passes), single-pass,
    /// four-pass even, plaintext, four-pass with another key; 6 absent; 7 unroutable.</summary>
    static QuicLbConfigSet MixedSet() => new(
        new QuicLbConfig(0, 3, 4, Key),
        new QuicLbConfig(1, 10, 5, Key),
        new QuicLbConfig(2, 8, 8, Key),
        new QuicLbConfig(3, 9, 9, Key2),
        new QuicLbConfig(4, 2, 6),
        new QuicLbConfig(5, 4, 4, Key2));

    static List<(QuicCid Cid, QuicLbResult Result, QuicServerId Sid)> Cids(QuicLbConfigSet set, int count, int seed)
    {
        var rng = new Random(seed);
        var list = new List<(QuicCid, QuicLbResult, QuicServerId)>();
        for (int i = 0; i < count; i++)
        {
            int kind = rng.Next(10);
            if (kind == 0)
            {
                var raw = new byte[rng.Next(1, 21)]; rng.NextBytes(raw); raw[0] |= 0xE0; // codepoint 7
                list.Add((new QuicCid(raw), QuicLbResult.UnroutableCid, default));
                continue;
            }
            if (kind == 1)
            {
                var raw = new byte[rng.Next(1, 21)]; rng.NextBytes(raw); raw[0] = (byte)(0xC0 | (raw[0] & 0x1F)); // codepoint 6
                list.Add((new QuicCid(raw), QuicLbResult.UnknownConfig, default));
                continue;
            }
            var config = set[rng.Next(6)]!;
            var sid = new byte[config.ServerIdLength]; rng.NextBytes(sid);
            var nonce = new byte[config.NonceLength]; rng.NextBytes(nonce);
            var cid = new byte[config.CidLength];
            QuicLbCipher.Encode(config, (byte)rng.Next(256), sid, nonce, cid);
            if (kind == 2)
            {
                var shortCid = cid[..rng.Next(1, cid.Length)];
                list.Add((new QuicCid(shortCid), QuicLbResult.CidTooShort, default));
                continue;
            }
            list.Add((new QuicCid(cid), QuicLbResult.Ok, QuicServerId.FromBytes(sid)));
        }
        return list;
    }

    public static TheoryData<int> BurstSizes()
    {
        var d = new TheoryData<int>();
        for (int n = 0; n <= 64; n++) d.Add(n);
        d.Add(100); d.Add(257);
        return d;
    }

    [Theory]
    [MemberData(nameof(BurstSizes))]
    public void Batch_equals_one_by_one_and_the_expected_server_ids_for_every_burst_size(int n)
    {
        var set = MixedSet();
        var input = Cids(set, n, seed: 1000 + n);
        var cids = input.Select(x => x.Cid).ToArray();
        var ids = new QuicServerId[n];
        var results = new QuicLbResult[n];
        int ok = QuicLbDecoder.DecodeServerIds(cids, ids, results, set);

        var ids1 = new QuicServerId[n];
        var results1 = new QuicLbResult[n];
        int ok1 = QuicLbDecoder.DecodeOneByOne(cids, ids1, results1, set);

        Assert.Equal(input.Count(x => x.Result == QuicLbResult.Ok), ok);
        Assert.Equal(ok, ok1);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(input[i].Result, results[i]);
            Assert.Equal(input[i].Result, results1[i]);
            Assert.Equal(input[i].Sid, ids[i]);
            Assert.Equal(input[i].Sid, ids1[i]);
        }
    }

    [Fact]
    public void Batch_with_one_algorithm_per_burst_equals_one_by_one()
    {
        // Groups where every lane shares a config take the same kernel with fewer passes enabled.
        var set = MixedSet();
        for (int cr = 0; cr < 6; cr++)
        {
            var config = set[cr]!;
            var rng = new Random(cr);
            var cids = new QuicCid[19];
            var expected = new QuicServerId[cids.Length];
            for (int i = 0; i < cids.Length; i++)
            {
                var sid = new byte[config.ServerIdLength]; rng.NextBytes(sid);
                var nonce = new byte[config.NonceLength]; rng.NextBytes(nonce);
                var cid = new byte[config.CidLength];
                QuicLbCipher.Encode(config, 0, sid, nonce, cid);
                cids[i] = new QuicCid(cid);
                expected[i] = QuicServerId.FromBytes(sid);
            }
            var ids = new QuicServerId[cids.Length];
            var results = new QuicLbResult[cids.Length];
            Assert.Equal(cids.Length, QuicLbDecoder.DecodeServerIds(cids, ids, results, set));
            Assert.Equal(expected, ids);
        }
    }

    [Fact]
    public void Decoding_does_not_allocate()
    {
        var set = MixedSet();
        var cids = Cids(set, 64, 5).Select(x => x.Cid).ToArray();
        var ids = new QuicServerId[64];
        var results = new QuicLbResult[64];
        QuicLbDecoder.DecodeServerIds(cids, ids, results, set);
        QuicLbDecoder.DecodeServerId(ref cids[0], set, out _);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            QuicLbDecoder.DecodeServerIds(cids, ids, results, set);
            for (int j = 0; j < cids.Length; j++) QuicLbDecoder.DecodeServerId(ref cids[j], set, out _);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Server_ids_of_different_lengths_are_different_keys()
    {
        Assert.NotEqual(QuicServerId.FromBytes([0, 1]), QuicServerId.FromBytes([0, 1, 0]));
        Assert.Equal(QuicServerId.FromBytes([0xAB, 0xCD]), QuicServerId.FromBytes([0xAB, 0xCD]));
        Assert.Equal(2, QuicServerId.FromBytes([0xAB, 0xCD]).Length);
    }

    // ---- headers (RFC 8999) ----

    static byte[] Long(byte first, uint version, byte[] dcid, byte[]? scid = null, int extra = 20)
    {
        var p = new List<byte> { first, (byte)(version >> 24), (byte)(version >> 16), (byte)(version >> 8), (byte)version, (byte)dcid.Length };
        p.AddRange(dcid);
        scid ??= [1, 2, 3, 4];
        p.Add((byte)scid.Length);
        p.AddRange(scid);
        p.AddRange(new byte[extra]);
        return p.ToArray();
    }

    static byte[] ServerCid(QuicLbConfigSet set, int cr, byte[] sid)
    {
        var config = set[cr]!;
        var cid = new byte[config.CidLength];
        QuicLbCipher.Encode(config, 0x0A, sid, new byte[config.NonceLength], cid);
        return cid;
    }

    [Fact]
    public void Short_header_dcid_takes_the_length_of_the_config_its_first_octet_selects()
    {
        var set = MixedSet();
        var cid = ServerCid(set, 1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        var packet = new byte[] { 0x41 }.Concat(cid).Concat(new byte[30]).ToArray();
        Assert.Equal(QuicLbResult.Ok, QuicHeader.LocateDcid(packet, set, out var dcid));
        Assert.Equal(cid, dcid.ToArray());
        Assert.Equal(QuicLbResult.Ok, QuicLbDecoder.DecodeServerId(dcid, set, out var sid));
        Assert.Equal(QuicServerId.FromBytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), sid);
    }

    [Fact]
    public void Short_headers_that_end_inside_their_dcid_are_truncated()
    {
        var set = MixedSet();
        var cid = ServerCid(set, 2, [1, 2, 3, 4, 5, 6, 7, 8]);
        var packet = new byte[] { 0x40 }.Concat(cid).ToArray();
        Assert.Equal(QuicLbResult.Ok, QuicHeader.LocateDcid(packet, set, out _)); // exactly the DCID
        for (int len = 2; len < packet.Length; len++)
            Assert.Equal(QuicLbResult.ShortHeaderTruncated, QuicHeader.LocateDcid(packet.AsSpan(0, len), set, out _));
        Assert.Equal(QuicLbResult.ShortHeaderTruncated, QuicHeader.LocateDcid(new byte[] { 0x40 }, set, out _));
        Assert.Equal(QuicLbResult.Empty, QuicHeader.LocateDcid(ReadOnlySpan<byte>.Empty, set, out _));
    }

    [Fact]
    public void Short_headers_with_an_unroutable_or_unknown_codepoint_fall_back()
    {
        var set = MixedSet();
        Assert.Equal(QuicLbResult.UnroutableCid, QuicHeader.LocateDcid(new byte[] { 0x40, 0xE5, 1, 2, 3, 4, 5, 6, 7, 8 }, set, out _));
        Assert.Equal(QuicLbResult.UnknownConfig, QuicHeader.LocateDcid(new byte[] { 0x40, 0xC5, 1, 2, 3, 4, 5, 6, 7, 8 }, set, out _));
        Assert.True(QuicHeader.FallsBack(QuicLbResult.UnroutableCid));
        Assert.True(QuicHeader.FallsBack(QuicLbResult.UnknownConfig));
        Assert.False(QuicHeader.FallsBack(QuicLbResult.ShortHeaderTruncated));
        Assert.False(QuicHeader.FallsBack(QuicLbResult.Ok));
    }

    [Theory]
    [InlineData(QuicHeader.Version1, 0x0, QuicLbResult.ClientInitial)]  // Initial
    [InlineData(QuicHeader.Version1, 0x1, QuicLbResult.ClientInitial)]  // 0-RTT
    [InlineData(QuicHeader.Version1, 0x2, QuicLbResult.Ok)]             // Handshake
    [InlineData(QuicHeader.Version1, 0x3, QuicLbResult.ServerOnlyPacket)] // Retry
    [InlineData(QuicHeader.Version2, 0x1, QuicLbResult.ClientInitial)]  // v2 Initial
    [InlineData(QuicHeader.Version2, 0x2, QuicLbResult.ClientInitial)]  // v2 0-RTT
    [InlineData(QuicHeader.Version2, 0x3, QuicLbResult.Ok)]             // v2 Handshake
    [InlineData(QuicHeader.Version2, 0x0, QuicLbResult.ServerOnlyPacket)] // v2 Retry
    [InlineData(0u, 0x0, QuicLbResult.ServerOnlyPacket)]                // Version Negotiation
    [InlineData(0xFF00001Du, 0x2, QuicLbResult.UnknownVersion)]         // a draft version
    public void Long_header_packet_types_decide_whether_the_dcid_is_the_servers(uint version, int type, QuicLbResult expected)
    {
        var set = MixedSet();
        var cid = ServerCid(set, 0, [9, 8, 7]);
        var packet = Long((byte)(0xC0 | (type << 4)), version, cid);
        Assert.Equal(expected, QuicHeader.LocateDcid(packet, set, out var dcid));
        if (expected == QuicLbResult.Ok) Assert.Equal(cid, dcid.ToArray());
    }

    [Fact]
    public void Long_headers_cut_before_the_end_of_their_dcid_are_truncated_and_long_dcids_refused()
    {
        var set = MixedSet();
        var cid = ServerCid(set, 0, [9, 8, 7]);
        var packet = Long(0xE0, QuicHeader.Version1, cid, extra: 0);
        for (int len = 1; len < 6 + cid.Length; len++)
            Assert.Equal(QuicLbResult.LongHeaderTruncated, QuicHeader.LocateDcid(packet.AsSpan(0, len), set, out _));
        Assert.Equal(QuicLbResult.Ok, QuicHeader.LocateDcid(packet.AsSpan(0, 6 + cid.Length), set, out _));
        Assert.Equal(QuicLbResult.DcidTooLong, QuicHeader.LocateDcid(Long(0xE0, QuicHeader.Version1, new byte[21]), set, out _));
        Assert.Equal(QuicLbResult.CidTooShort, QuicHeader.LocateDcid(Long(0xE0, QuicHeader.Version1, []), set, out _));
        // A Handshake DCID shorter than its config's CID length parses, and the decoder refuses it.
        Assert.Equal(QuicLbResult.Ok, QuicHeader.LocateDcid(Long(0xE0, QuicHeader.Version1, cid[..5]), set, out var shortDcid));
        Assert.Equal(QuicLbResult.CidTooShort, QuicLbDecoder.DecodeServerId(shortDcid, set, out _));
    }

    [Fact]
    public void With_self_encoded_length_only_cids_whose_low_bits_give_their_length_decode_in_both_decoders()
    {
        // Config 1: four-pass, CID length 1 + 3 + 6 = 10, so a server's first octet carries 9 in its low five bits.
        var self = new QuicLbConfig(1, 3, 6, Key, selfEncodedLength: true);
        var off = new QuicLbConfig(2, 3, 6, Key);
        var set = new QuicLbConfigSet(self, off);
        byte[] sid = [7, 7, 7];
        byte[] Mint(QuicLbConfig c, byte low) { var cid = new byte[c.CidLength]; QuicLbCipher.Encode(c, low, sid, new byte[] { 1, 2, 3, 4, 5, 6 }, cid); return cid; }
        var good = Mint(self, 9);
        var wrong = Mint(self, 3);    // a CID with config 1's rotation bits but another length in its low bits
        var random = Mint(off, 3);    // config 2 does not look at the bits
        var cases = new (byte[] Cid, QuicLbResult Expected)[]
        {
            (good, QuicLbResult.Ok), (wrong, QuicLbResult.CidLengthMismatch), (random, QuicLbResult.Ok),
            ([.. good, 0xAA], QuicLbResult.CidLengthMismatch), // long header: 11 octets on the wire, the bits say 10
        };
        var cids = cases.Select(c => new QuicCid(c.Cid)).ToArray();
        var ids = new QuicServerId[cids.Length];
        var results = new QuicLbResult[cids.Length];
        QuicLbDecoder.DecodeServerIds(cids, ids, results, set);
        for (int i = 0; i < cases.Length; i++)
        {
            Assert.Equal(cases[i].Expected, results[i]);
            Assert.Equal(cases[i].Expected, QuicLbDecoder.DecodeServerId(cases[i].Cid, set, out var one));
            if (cases[i].Expected == QuicLbResult.Ok) { Assert.Equal(sid, one.ToBytes()); Assert.Equal(one, ids[i]); }
        }
        Assert.True(QuicHeader.FallsBack(QuicLbResult.CidLengthMismatch));
        // Short header: the DCID is config 1's length, so the check is the bits against that length.
        Assert.Equal(QuicLbResult.Ok, QuicHeader.LocateDcid(new byte[] { 0x40 }.Concat(wrong).ToArray(), set, out var dcid));
        Assert.Equal(QuicLbResult.CidLengthMismatch, QuicLbDecoder.DecodeServerId(dcid, set, out _));
        Assert.Contains("self-encoded length", self.ToString());
    }

    [Fact]
    public void Random_datagrams_never_throw_and_an_ok_dcid_always_lies_inside_the_datagram()
    {
        var set = MixedSet();
        var rng = new Random(8999);
        var counts = new int[(int)QuicLbResult.Count];
        for (int i = 0; i < 200_000; i++)
        {
            var p = new byte[rng.Next(0, 48)];
            rng.NextBytes(p);
            if (p.Length > 5 && rng.Next(3) == 0) { p[1] = 0; p[2] = 0; p[3] = 0; p[4] = 1; p[5] = (byte)rng.Next(0, 24); }
            var r = QuicHeader.LocateDcid(p, set, out var dcid);
            counts[(int)r]++;
            if (r != QuicLbResult.Ok) { Assert.True(dcid.IsEmpty); continue; }
            Assert.InRange(dcid.Length, 1, 20);
            var d = QuicLbDecoder.DecodeServerId(dcid, set, out _);
            Assert.True(d is QuicLbResult.Ok or QuicLbResult.CidTooShort or QuicLbResult.UnknownConfig or QuicLbResult.UnroutableCid, d.ToString());
        }
        foreach (var r in new[] { QuicLbResult.Ok, QuicLbResult.ClientInitial, QuicLbResult.UnknownVersion, QuicLbResult.UnroutableCid,
                     QuicLbResult.UnknownConfig, QuicLbResult.LongHeaderTruncated, QuicLbResult.ShortHeaderTruncated, QuicLbResult.Empty, QuicLbResult.DcidTooLong })
            Assert.True(counts[(int)r] > 0, $"fuzzing never produced {r}");
    }
}
