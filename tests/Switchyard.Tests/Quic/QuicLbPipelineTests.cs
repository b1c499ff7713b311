using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Quic;
using Switchyard.Management.Options;
using Switchyard.Minting;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Pipeline;
using static Switchyard.Tests.Config.ConfigFixtures;

namespace Switchyard.Tests.Quic;

/// <summary>
/// QUIC-LB in the real <c>BurstProcessor</c>: CIDs minted by <see cref="QuicLbMinter"/> reach their
/// server from any 4-tuple (a migrated client), the decoded server wins over the 4-tuple's pin,
/// client-chosen and undecodable CIDs take the 4-tuple path, malformed headers are dropped under their
/// reasons, configurations rotate by republishing, and a VIP without QuicLb scatters the same packets.
/// </summary>
public sealed class QuicLbPipelineTests
{
    const string Key1 = "8f95f09245765f80256934e50c66207f", Key2 = "fdf726a9893ec05c0632d3956680baf0";
    const string Vip = "192.0.2.100";
    const ushort QuicPort = 443, PlainPort = 4433;
    static readonly string[] Servers = ["0a0001", "0a0002", "0a0003"];

    static PipelineHarness Harness()
    {
        var o = PipelineHarness.DefaultOptions();
        o.QuicLb.Configs = [new QuicLbConfigOptions { ConfigId = 1, ServerIdLength = 3, NonceLength = 6, Key = Key1 }];
        var web = o.Pools.Single(p => p.Name == "web");
        for (int i = 0; i < web.Backends.Length; i++) web.Backends[i].QuicServerId = Servers[i];
        o.Vips = [.. o.Vips,
            new VipOptions { Name = "quic", Address = Vip, Port = QuicPort, Protocol = "udp", Pool = "web", QuicLb = true },
            new VipOptions { Name = "quic-plain", Address = Vip, Port = PlainPort, Protocol = "udp", Pool = "web" }];
        return new PipelineHarness(o);
    }

    static QuicLbMinter Minter(int configId, string key, string serverId) =>
        new(new QuicLbConfig(configId, 3, 6, Convert.FromHexString(key)), Convert.FromHexString(serverId));

    static byte[] Udp(string src, ushort srcPort, ushort dstPort, byte[] payload) =>
        FrameBuilder.Ethernet(PipelineHarness.ClientMac, PipelineHarness.OutsideMac).Ipv4(src, Vip).Udp(srcPort, dstPort).Payload(payload).Build();

    static byte[] Short(byte[] cid) => [0x40, .. cid, .. new byte[24]];

    static byte[] Long(byte type, byte[] dcid) =>
        [(byte)(0xC0 | (type << 4)), 0, 0, 0, 1, (byte)dcid.Length, .. dcid, 8, 1, 2, 3, 4, 5, 6, 7, 8, .. new byte[40]];

    static string ServerName(int i) => $"w{i + 1}";

    [Fact]
    public void Short_headers_reach_the_server_their_cid_names_from_any_four_tuple()
    {
        using var h = Harness();
        var packets = new List<(string Src, ushort Port, byte[] Payload)>();
        var expected = new List<string>();
        for (int s = 0; s < 3; s++)
        {
            var m = Minter(1, Key1, Servers[s]);
            for (int j = 0; j < 40; j++)
            {
                packets.Add(($"198.51.100.{1 + j % 50}", (ushort)(20000 + 97 * j + s), Short(m.Mint())));
                expected.Add(ServerName(s));
            }
        }
        var frames = packets.Select(x => Udp(x.Src, x.Port, QuicPort, x.Payload)).ToList();
        var sent = h.Send(frames);
        Assert.Equal(expected, sent.Select(h.BackendOf));
        Assert.Equal(120, h.Counters.Get(GlobalCounter.QuicRoutedByCid));

        // The same packets to a VIP without QuicLb are balanced by 4-tuple: they scatter.
        using var h2 = Harness();
        var plain = packets.Select(x => Udp(x.Src, x.Port, PlainPort, x.Payload)).ToList();
        var sent2 = h2.Send(plain);
        Assert.All(sent2, s => Assert.False(s.Dropped));
        int wrong = sent2.Select(h2.BackendOf).Zip(expected).Count(x => x.First != x.Second);
        Assert.True(wrong > 40, $"only {wrong} of 120 left their server without QUIC-LB");
        Assert.Equal(0, h2.Counters.Get(GlobalCounter.QuicRoutedByCid));
        h.AssertCounterInvariants();
        h2.AssertCounterInvariants();
    }

    [Fact]
    public void A_decoded_cid_wins_over_the_four_tuple_pin_and_moves_it()
    {
        using var h = Harness();
        // Initial with a client-chosen DCID: 4-tuple path (Maglev), pinned.
        var initial = Udp("198.51.100.7", 40000, QuicPort, Long(0, Convert.FromHexString("c1c2c3c4c5c6c7c8")));
        var first = h.Send(initial, now: 1);
        string? pinned = h.BackendOf(first);
        Assert.NotNull(pinned);
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicClientInitial));
        // The server's CID names another server (as after a migration onto a 4-tuple pinned elsewhere).
        int other = Array.FindIndex(Servers, s => ServerName(Array.IndexOf(Servers, s)) != pinned);
        var cid = Minter(1, Key1, Servers[other]).Mint();
        Assert.Equal(ServerName(other), h.BackendOf(h.Send(Udp("198.51.100.7", 40000, QuicPort, Short(cid)), now: 2)));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicRepinned));
        // The pin moved: an undecodable packet of that 4-tuple now follows the server.
        Assert.Equal(ServerName(other), h.BackendOf(h.Send(initial, now: 3)));
        // A Handshake long header carrying a server CID routes by it too.
        Assert.Equal(ServerName(other), h.BackendOf(h.Send(Udp("198.51.100.8", 40001, QuicPort, Long(2, cid)), now: 4)));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Malformed_quic_headers_are_dropped_under_named_reasons_and_never_steered()
    {
        using var h = Harness();
        var cid = Minter(1, Key1, Servers[0]).Mint();
        var cases = new (byte[] Payload, DropReason Reason)[]
        {
            ([], DropReason.QuicEmpty),
            ([0xC0, 0, 0, 0], DropReason.QuicLongHeaderTruncated),
            ([0xE0, 0, 0, 0, 1, 10, 1, 2, 3], DropReason.QuicLongHeaderTruncated),
            ([0x40, .. cid[..5]], DropReason.QuicShortHeaderTruncated),
            ([0x40], DropReason.QuicShortHeaderTruncated),
            ([0xE0, 0, 0, 0, 1, 21, .. new byte[40]], DropReason.QuicDcidTooLong),
        };
        foreach (var (payload, reason) in cases)
        {
            long before = h.Counters.Get(reason);
            Assert.True(h.Send(Udp("198.51.100.9", 40002, QuicPort, payload)).Dropped);
            Assert.Equal(before + 1, h.Counters.Get(reason));
        }
        Assert.Equal(0, h.Counters.Get(GlobalCounter.QuicRoutedByCid));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void With_SelfEncodedLength_a_cid_whose_low_bits_disagree_takes_the_four_tuple_path_and_is_counted()
    {
        using var h = Harness();
        h.Options.QuicLb.Configs[0].SelfEncodedLength = true; // compiled from the options, as a file or ctl would set it
        h.Republish();
        var good = Minter(1, Key1, Servers[1]).Mint();        // the minter writes length - 1 = 9 into the low bits
        Assert.Equal(good.Length - 1, good[0] & 0x1F);
        var bad = (byte[])good.Clone();
        bad[0] = (byte)((bad[0] & 0xE0) | 4);                 // same rotation bits and ciphertext, another length
        var sent = h.Send([
            Udp("198.51.100.30", 40030, QuicPort, Short(good)),
            Udp("198.51.100.30", 40031, QuicPort, Short(bad))]);
        Assert.Equal("w2", h.BackendOf(sent[0]));
        Assert.NotNull(h.BackendOf(sent[1]));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicRoutedByCid));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicCidLengthMismatch));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Cids_that_do_not_decode_to_a_live_server_take_the_four_tuple_path()
    {
        using var h = Harness();
        var unknownServer = Minter(1, Key1, "0b0b0b").Mint();
        var unknownConfig = Minter(2, Key1, Servers[0]).Mint();
        byte[] unroutable = [0xE7, .. new byte[9]];
        var frames = new[]
        {
            Udp("198.51.100.10", 40010, QuicPort, Short(unknownServer)),
            Udp("198.51.100.10", 40011, QuicPort, Short(unknownConfig)),
            Udp("198.51.100.10", 40012, QuicPort, Short(unroutable)),
            Udp("198.51.100.10", 40013, QuicPort, Long(1, unknownServer)),                 // 0-RTT
            Udp("198.51.100.10", 40014, QuicPort, Long(2, unknownServer[..5])),           // DCID shorter than the config's
            Udp("198.51.100.10", 40015, QuicPort, [0xC0, 0xFF, 0, 0, 0x1D, 8, .. new byte[30]]), // draft version
            Udp("198.51.100.10", 40016, QuicPort, [0x80, 0, 0, 0, 0, 8, .. new byte[30]]),      // version negotiation
        };
        var sent = h.Send(frames);
        Assert.All(sent, s => Assert.NotNull(h.BackendOf(s)));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicUnknownServerId));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicUnknownConfig));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicUnroutableCid));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicClientInitial));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicCidTooShort));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicUnknownVersion));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicServerOnlyPacket));
        Assert.Equal(0, h.Counters.Get(GlobalCounter.QuicRoutedByCid));
        Assert.Equal(7, h.Counters.Get(GlobalCounter.FlowInserts));

        // A disabled backend's CIDs fall back too (never sent to a backend that is out of service).
        h.Options.Pools.Single(p => p.Name == "web").Backends[1].Enabled = false;
        h.Republish();
        var s2 = h.Send(Udp("198.51.100.11", 40020, QuicPort, Short(Minter(1, Key1, Servers[1]).Mint())));
        Assert.NotEqual("w2", h.BackendOf(s2));
        Assert.Equal(2, h.Counters.Get(GlobalCounter.QuicUnknownServerId));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Configurations_rotate_by_codepoint_without_breaking_the_other()
    {
        using var h = Harness();
        var old = Minter(1, Key1, Servers[2]);
        var next = Minter(2, Key2, Servers[2]);
        // Both live: each CID routes by its own configuration.
        h.Options.QuicLb.Configs = [.. h.Options.QuicLb.Configs, new QuicLbConfigOptions { ConfigId = 2, ServerIdLength = 3, NonceLength = 6, Key = Key2 }];
        h.Republish();
        Assert.Equal("w3", h.BackendOf(h.Send(Udp("198.51.100.12", 40030, QuicPort, Short(old.Mint())))));
        Assert.Equal("w3", h.BackendOf(h.Send(Udp("198.51.100.12", 40031, QuicPort, Short(next.Mint())))));
        // The old one removed: its CIDs fall back, the new one's still route.
        h.Options.QuicLb.Configs = [h.Options.QuicLb.Configs[1]];
        h.Republish();
        h.Send(Udp("198.51.100.13", 40032, QuicPort, Short(old.Mint())));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicUnknownConfig));
        Assert.Equal("w3", h.BackendOf(h.Send(Udp("198.51.100.13", 40033, QuicPort, Short(next.Mint())))));
        Assert.Equal(3, h.Counters.Get(GlobalCounter.QuicRoutedByCid));
    }

    [Fact]
    public void Routing_a_burst_does_not_allocate()
    {
        using var h = Harness();
        var m = Minter(1, Key1, Servers[0]);
        var frames = Enumerable.Range(0, 32).Select(j => Udp("198.51.100.20", (ushort)(41000 + j), QuicPort, Short(m.Mint()))).ToList();
        h.Send(frames);
        using var burst = new Dataplane.Datapath.Worker.Burst();
        using var port = new Dataplane.Datapath.Worker.MemoryPort(frames);
        port.Receive(burst, 0, frames.Count);
        h.Processor.Process(burst, 0, 5); // warm
        port.Receive(burst, 0, frames.Count);
        long before = GC.GetAllocatedBytesForCurrentThread();
        h.Processor.Process(burst, 0, 6);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(96, h.Counters.Get(GlobalCounter.QuicRoutedByCid));
    }

    // ---- configuration: mistakes at their JSON paths

    const string QuicJson = """
    {
      "Eal": { "Vdevs": [ "net_null0" ], "Hugepages": "off" },
      "Ports": [ { "Name": "lan", "Device": "net_null0", "Addresses": [ "192.0.2.1" ] } ],
      "Cores": [ 1 ],
      "Pools": [
        { "Name": "web", "Forwarding": "l2dsr", "MaglevSize": 251,
          "Backends": [
            { "Name": "w1", "Address": "10.0.0.11", "Mac": "02:00:00:00:00:11", "QuicServerId": "0a0001" },
            { "Name": "w2", "Address": "10.0.0.12", "Mac": "02:00:00:00:00:12", "QuicServerId": "0a0002" }
          ] }
      ],
      "Vips": [ { "Name": "quic", "Address": "192.0.2.100", "Port": 443, "Protocol": "udp", "Pool": "web", "QuicLb": true } ],
      "QuicLb": { "Configs": [ { "ConfigId": 0, "ServerIdLength": 3, "NonceLength": 6, "Key": "8f95f09245765f80256934e50c66207f" },
                               { "ConfigId": 1, "ServerIdLength": 3, "NonceLength": 13 } ] }
    }
    """;

    static IReadOnlyList<ConfigurationError> ErrorsOf(params string[] args)
    {
        try { Load(QuicJson, args); return []; }
        catch (ConfigurationException e) { return e.Errors; }
    }

    [Fact]
    public void The_quic_configuration_is_valid_and_compiles()
    {
        Assert.Empty(ErrorsOf());
        var snap = new Management.Compile.SnapshotCompiler().Compile(Load(QuicJson).Options, new Dictionary<string, ulong> { ["lan"] = 0x020000000001 });
        Assert.NotNull(snap.QuicLb);
        Assert.Equal(QuicLbAlgorithm.FourPass, snap.QuicLb![0]!.Algorithm);
        Assert.Equal(QuicLbAlgorithm.Plaintext, snap.QuicLb[1]!.Algorithm);
        Assert.True(snap.Vips[0].QuicLb);
        Assert.Equal(2, snap.Pools[0].QuicServerIds!.Count);
    }

    [Theory]
    [InlineData("QuicLb:Configs:0:ConfigId=7", "QuicLb.Configs[0].ConfigId", "0..6")]
    [InlineData("QuicLb:Configs:1:ConfigId=0", "QuicLb.Configs[1].ConfigId", "also Configs[0]")]
    [InlineData("QuicLb:Configs:0:ServerIdLength=16", "QuicLb.Configs[0].ServerIdLength", "1..15")]
    [InlineData("QuicLb:Configs:0:NonceLength=3", "QuicLb.Configs[0].NonceLength", "4..18")]
    [InlineData("QuicLb:Configs:0:NonceLength=17", "QuicLb.Configs[0].NonceLength", "at most 19")]
    [InlineData("QuicLb:Configs:0:Key=abcd", "QuicLb.Configs[0].Key", "32 hex digits")]
    [InlineData("Pools:0:Backends:1:QuicServerId=0a0001", "Pools[0].Backends[1].QuicServerId", "also Backends[0]")]
    [InlineData("Pools:0:Backends:1:QuicServerId=0a00", "Pools[0].Backends[1].QuicServerId", "no QuicLb.Configs entry has ServerIdLength 2")]
    [InlineData("Pools:0:Backends:1:QuicServerId=xyz", "Pools[0].Backends[1].QuicServerId", "hex digits")]
    [InlineData("Vips:0:Protocol=tcp", "Vips[0].QuicLb", "UDP VIP")]
    public void A_quic_mistake_is_reported_at_its_path(string setting, string path, string reason)
    {
        var e = Assert.Single(ErrorsOf($"--{setting}"));
        Assert.Equal(path, e.Path);
        Assert.Contains(reason, e.Reason);
    }
}
