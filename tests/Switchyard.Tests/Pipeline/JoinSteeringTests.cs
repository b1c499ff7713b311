using System.Buffers.Binary;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Management.Options;
using Switchyard.Tests.Infrastructure;
using static Switchyard.Tests.Pipeline.JoinHarness;

namespace Switchyard.Tests.Pipeline;

/// <summary>MP_JOIN steering on the packet path, mode by mode, on compiled snapshots (no DPDK).</summary>
public class JoinSteeringTests
{
    static int _port = 30000;
    static ushort P() => (ushort)Interlocked.Increment(ref _port);

    /// <summary>A client port whose 5-tuple Maglev does NOT send to <paramref name="not"/> (so a test can tell steering from luck).</summary>
    static ushort PortAvoiding(JoinHarness h, string client, string vip, string not)
    {
        for (;;) { ushort p = P(); if (h.MaglevChoice(client, p, vip, 80) != not) return p; }
    }

    static void AssertReset(Sent s) => Assert.Equal(Outside, s.OutPort);

    // ---------------- encrypted token ----------------

    [Fact]
    public void Encrypted_token_join_reaches_the_backend_whose_server_id_minted_it()
    {
        using var h = new JoinHarness();
        foreach (var b in Backends)
            for (int k = 0; k < 3; k++)
            {
                ushort sp = PortAvoiding(h, Client(1), EncVip, b);
                var s = h.Send(JoinSyn(Client(1), sp, EncVip, Token(b, k)));
                Assert.Equal(b, h.BackendOf(s));
            }
        Assert.Equal(12, h.Counters.Get(GlobalCounter.JoinsByEncryptedToken));
        Assert.Equal(12, h.Counters.Get(GlobalCounter.JoinsSeen));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Encrypted_token_join_over_ipv6_reaches_its_backend()
    {
        using var h = new JoinHarness();
        var s = h.Send(JoinSyn("2001:db8:c::1", P(), Enc6Vip, Token("m3", 2)));
        Assert.Equal("m3", h.BackendOf(s));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Key_id_3_and_unknown_server_id_are_unplaceable_by_encrypted_token_alone()
    {
        using var h = new JoinHarness();
        uint unknown = Minter(999).Mint();              // no backend has server id 999
        uint id3 = 0xC000_0000u | 0x1234_5678u & 0x3FFF_FFFF;
        var sent = h.Send([JoinSyn(Client(2), P(), EncVip, unknown), JoinSyn(Client(2), P(), EncVip, id3)]);
        Assert.All(sent, AssertReset);
        Assert.Equal(2, h.Counters.Get(GlobalCounter.JoinsUnplaceable));
        Assert.Equal(2, h.Counters.Get(Outcome.JoinReset));
        Assert.Equal(0, h.Counters.Get(GlobalCounter.JoinsByEncryptedToken));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Unknown_server_id_falls_through_to_the_next_mode()
    {
        using var h = new JoinHarness();
        // A stock Linux server's token (SHA-256 of its key) read as an encrypted token: key id 0..2, but it
        // decrypts to no backend's server id. On enc-learn it must fall through to learned-token.
        var keys = h.Snapshot.TokenKeys!;
        ulong key = 1;
        for (; ; key++)
        {
            uint t = TokenLearning.Token(key);
            if (TokenCipher.KeyId(t) == 3) continue;
            if (!TokenCipher.TryDecryptServerId(t, keys, out uint sid) || sid is >= 10 and <= 13) continue;
            break;
        }
        string b = Open(h, Client(3), P(), LearnVip, key);
        ushort sp = PortAvoiding(h, Client(3), EncLearnVip, b);
        Assert.Equal(b, h.BackendOf(h.Send(JoinSyn(Client(3), sp, EncLearnVip, TokenLearning.Token(key)), now: 2)));
        Assert.Equal(0, h.Counters.Get(GlobalCounter.JoinsByEncryptedToken));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.JoinsByLearnedToken));
        // The same token on the encrypted-only VIP: nothing places it.
        AssertReset(h.Send(JoinSyn(Client(3), P(), EncVip, TokenLearning.Token(key)), now: 2));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void A_burst_mixing_joins_under_key_ids_0_1_2_and_plain_traffic_steers_each_frame()
    {
        using var h = new JoinHarness();
        var frames = new List<byte[]>();
        var want = new List<string?>();
        for (int i = 0; i < 24; i++)
        {
            string b = Backends[i % 4];
            int k = i % 3;
            if (i % 2 == 0)
            {
                frames.Add(JoinSyn(Client(10 + i), P(), EncVip, Token(b, k)));
                want.Add(b);
            }
            else
            {
                ushort sp = P();
                frames.Add(Tcp(Client(10 + i), sp, EncVip, 80, TcpFlags.Syn));
                want.Add(h.MaglevChoice(Client(10 + i), sp, EncVip, 80));
            }
        }
        frames.Add(Data(Client(99), 999, EncVip)); want.Add(h.MaglevChoice(Client(99), 999, EncVip, 80));
        Assert.True(frames.Count <= Burst.Size);
        var sent = h.Send(frames);
        Assert.Equal(want, sent.Select(h.BackendOf).ToArray());
        Assert.Equal(12, h.Counters.Get(GlobalCounter.JoinsByEncryptedToken));
        Assert.Equal(12, h.Counters.Get(GlobalCounter.JoinsSeen));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Key_rotation_routes_the_new_key_id_and_makes_the_removed_ids_tokens_unplaceable()
    {
        using var h = new JoinHarness(edit: o => o.Mptcp.TokenKeys = [.. o.Mptcp.TokenKeys.Where(k => k.Id is 0 or 1)]);
        uint old0 = Token("m1", 0), kept1 = Token("m2", 1), new2 = Token("m3", 2);
        var before = h.Send([JoinSyn(Client(4), P(), EncVip, old0), JoinSyn(Client(4), P(), EncVip, kept1), JoinSyn(Client(4), P(), EncVip, new2)]);
        Assert.Equal("m1", h.BackendOf(before[0]));
        Assert.Equal("m2", h.BackendOf(before[1]));
        AssertReset(before[2]);                         // id 2 not configured yet

        // Rotate: add id 2, drop id 0.
        h.Options.Mptcp.TokenKeys = [.. DefaultOptions().Mptcp.TokenKeys.Where(k => k.Id is 1 or 2)];
        h.Republish();
        var after = h.Send([JoinSyn(Client(5), P(), EncVip, old0), JoinSyn(Client(5), P(), EncVip, kept1), JoinSyn(Client(5), P(), EncVip, new2)], now: 2);
        AssertReset(after[0]);
        Assert.Equal("m2", h.BackendOf(after[1]));
        Assert.Equal("m3", h.BackendOf(after[2]));
        Assert.Equal(2, h.Counters.Get(GlobalCounter.JoinsUnplaceable));
        h.AssertCounterInvariants();
    }

    // ---------------- learned token ----------------

    /// <summary>Opens an initial subflow (MP_CAPABLE SYN, third ACK) to a VIP; returns its backend.</summary>
    static string Open(JoinHarness h, string client, ushort sport, string vip, ulong serverKey, uint now = 1, int worker = 0)
    {
        var s = h.Send([CapableSyn(client, sport, vip), ThirdAck(client, sport, vip, 0x1111_2222_3333_4444, serverKey)], now, worker);
        Assert.Equal(h.BackendOf(s[0]), h.BackendOf(s[1]));
        return h.BackendOf(s[0])!;
    }

    [Fact]
    public void Learned_token_join_reaches_the_backend_of_the_initial_subflow()
    {
        using var h = new JoinHarness();
        const ulong serverKey = 0x0102030405060708;
        Assert.Equal(0x66840ddau, TokenLearning.Token(serverKey)); // protocols.md 1.3
        string b = Open(h, Client(6), 40000, LearnVip, serverKey);
        Assert.Equal(1, h.Counters.Get(GlobalCounter.TokensLearned));
        ushort sp = PortAvoiding(h, Client(6), LearnVip, b);
        var s = h.Send(JoinSyn(Client(6), sp, LearnVip, 0x66840dda), now: 2);
        Assert.Equal(b, h.BackendOf(s));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.JoinsByLearnedToken));
        // The first data segment repeats MP_CAPABLE: learned once, not a second time.
        h.Send(Tcp(Client(6), 40000, LearnVip, 80, TcpFlags.Ack | TcpFlags.Psh, [30, 22, 0x01, 0x81, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44,
            1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 1, 1], seq: 1001, ack: 5001, payload: 10), now: 3);
        Assert.Equal(1, h.Counters.Get(GlobalCounter.TokensLearned));
        Assert.Equal(0, h.Counters.Get(GlobalCounter.MptcpMalformedOptions));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Learned_token_join_processed_by_another_worker_reaches_the_same_backend()
    {
        using var h = new JoinHarness(workers: 2);
        const ulong serverKey = 0xA5A5_0000_1234_5678;
        string b = Open(h, Client(7), 40001, LearnVip, serverKey, worker: 0);
        ushort sp = PortAvoiding(h, Client(7), LearnVip, b);
        var s = h.Send(JoinSyn(Client(7), sp, LearnVip, TokenLearning.Token(serverKey)), now: 2, worker: 1);
        Assert.Equal(b, h.BackendOf(s));
        Assert.Equal(1, h.Workers[0].Counters.Get(GlobalCounter.TokensLearned));
        Assert.Equal(1, h.Workers[1].Counters.Get(GlobalCounter.JoinsByLearnedToken));
        h.AssertCounterInvariants(0);
        h.AssertCounterInvariants(1);
    }

    [Fact]
    public void Learned_token_seen_on_two_backends_is_poisoned_and_its_join_is_reset()
    {
        using var h = new JoinHarness();
        const ulong serverKey = 0x0BAD_C0DE_0BAD_C0DE;
        // Two initial subflows that Maglev sends to different backends, both echoing the same server key.
        ushort first = P(), second;
        string b1 = h.MaglevChoice(Client(8), first, LearnVip, 80);
        do second = P(); while (h.MaglevChoice(Client(8), second, LearnVip, 80) == b1);
        Assert.Equal(b1, Open(h, Client(8), first, LearnVip, serverKey));
        Assert.NotEqual(b1, Open(h, Client(8), second, LearnVip, serverKey));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.TokensLearned));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.TokenCollisions));

        var s = h.Send(JoinSyn(Client(8), P(), LearnVip, TokenLearning.Token(serverKey)), now: 2);
        AssertReset(s);
        Assert.Equal(1, h.Counters.Get(GlobalCounter.JoinsWithCollidedToken));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.JoinsUnplaceable));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void A_poisoned_token_stays_poisoned_while_either_connection_keeps_talking_or_one_of_them_ends()
    {
        using var h = new JoinHarness();
        const ulong serverKey = 0x0BAD_C0DE_0000_0002;
        ushort first = P(), second;
        string b1 = h.MaglevChoice(Client(14), first, LearnVip, 80);
        do second = P(); while (h.MaglevChoice(Client(14), second, LearnVip, 80) == b1);
        Open(h, Client(14), first, LearnVip, serverKey);
        Open(h, Client(14), second, LearnVip, serverKey);
        uint token = TokenLearning.Token(serverKey);
        // Both keep talking (each refresh re-learns the token for its own backend).
        h.Send([Data(Client(14), first, LearnVip), Data(Client(14), second, LearnVip)], now: 2);
        AssertReset(h.Send(JoinSyn(Client(14), P(), LearnVip, token), now: 3));
        // One ends: the other still owns a live connection with that token, but which one the client meant
        // is still unknowable from the token alone; never a guess.
        h.Send(Tcp(Client(14), second, LearnVip, 80, TcpFlags.Fin | TcpFlags.Ack, seq: 1101, ack: 5001), now: 4);
        var s = h.Send(JoinSyn(Client(14), P(), LearnVip, token), now: 5);
        Assert.True(s.OutPort == Outside || h.BackendOf(s) == b1, $"join went to {h.BackendOf(s)}, not to the surviving connection's {b1}");
        h.AssertCounterInvariants();
    }

    [Theory]
    [InlineData("fin")]
    [InlineData("rst")]
    [InlineData("fastclose")]
    [InlineData("fastclose-rst")]
    public void Learned_token_is_forgotten_when_the_initial_subflow_ends(string how)
    {
        using var h = new JoinHarness();
        const ulong serverKey = 0x7777_0000_0000_0001;
        ushort sp = P();
        string b = Open(h, Client(9), sp, LearnVip, serverKey);
        var end = how switch
        {
            "fin" => Tcp(Client(9), sp, LearnVip, 80, TcpFlags.Fin | TcpFlags.Ack, seq: 1001, ack: 5001),
            "rst" => Tcp(Client(9), sp, LearnVip, 80, TcpFlags.Rst | TcpFlags.Ack, seq: 1001, ack: 5001),
            // MP_FASTCLOSE carries the receiver's (the server's) key; Linux sends it on an ACK or a RST.
            "fastclose" => Tcp(Client(9), sp, LearnVip, 80, TcpFlags.Ack, [30, 12, 0x70, 0, .. BE(serverKey)], seq: 1001, ack: 5001),
            _ => Tcp(Client(9), sp, LearnVip, 80, TcpFlags.Rst | TcpFlags.Ack, [30, 12, 0x70, 0, .. BE(serverKey), 30, 4, 0x80, 1], seq: 1001, ack: 5001),
        };
        Assert.Equal(b, h.BackendOf(h.Send(end, now: 2)));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.TokensForgotten));
        AssertReset(h.Send(JoinSyn(Client(9), P(), LearnVip, TokenLearning.Token(serverKey)), now: 3));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Mp_fastclose_on_a_joined_subflow_forgets_the_connections_token()
    {
        using var h = new JoinHarness();
        const ulong serverKey = 0x7777_0000_0000_0003;
        string b = Open(h, Client(13), P(), LearnVip, serverKey);
        ushort js = P();
        Assert.Equal(b, h.BackendOf(h.Send(JoinSyn(Client(13), js, LearnVip, TokenLearning.Token(serverKey)), now: 2)));
        Assert.Equal(b, h.BackendOf(h.Send(Tcp(Client(13), js, LearnVip, 80, TcpFlags.Ack, [30, 12, 0x70, 0, .. BE(serverKey)], seq: 1001, ack: 5001), now: 3)));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.TokensForgotten));
        AssertReset(h.Send(JoinSyn(Client(13), P(), LearnVip, TokenLearning.Token(serverKey)), now: 4));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void A_joined_subflows_fin_does_not_forget_the_connections_token()
    {
        using var h = new JoinHarness();
        const ulong serverKey = 0x7777_0000_0000_0002;
        string b = Open(h, Client(10), P(), LearnVip, serverKey);
        ushort js = P();
        Assert.Equal(b, h.BackendOf(h.Send(JoinSyn(Client(10), js, LearnVip, TokenLearning.Token(serverKey)), now: 2)));
        h.Send(Tcp(Client(10), js, LearnVip, 80, TcpFlags.Fin | TcpFlags.Ack, seq: 1001, ack: 5001), now: 3);
        Assert.Equal(0, h.Counters.Get(GlobalCounter.TokensForgotten));
        Assert.Equal(b, h.BackendOf(h.Send(JoinSyn(Client(10), P(), LearnVip, TokenLearning.Token(serverKey)), now: 4)));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Learned_token_is_refreshed_by_the_initial_subflows_traffic_and_expires_without_it()
    {
        using var h = new JoinHarness();
        const uint idle = LearnedIdleSeconds * 1000;
        const ulong live = 0x5555_0000_0000_0001, quiet = 0x5555_0000_0000_0002;
        ushort sp = P();
        string b = Open(h, Client(11), sp, LearnVip, live, now: 1);
        Open(h, Client(12), P(), LearnVip, quiet, now: 1);
        // Only the first connection keeps talking.
        for (uint t = idle / 2; t < 2 * idle; t += idle / 2)
            Assert.Equal(b, h.BackendOf(h.Send(Data(Client(11), sp, LearnVip), now: t)));
        uint late = 2 * idle;
        Assert.Equal(b, h.BackendOf(h.Send(JoinSyn(Client(11), P(), LearnVip, TokenLearning.Token(live)), now: late)));
        AssertReset(h.Send(JoinSyn(Client(12), P(), LearnVip, TokenLearning.Token(quiet)), now: late));
        h.AssertCounterInvariants();
    }

    static byte[] BE(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64BigEndian(b, v); return b; }

    // ---------------- announced port / announced address ----------------

    [Fact]
    public void Announced_port_join_and_every_other_packet_to_that_port_reach_the_announcing_backend()
    {
        using var h = new JoinHarness();
        Assert.Contains(h.Snapshot.Vips, v => v.Name == "ann/announced:m3" && v.Port == AnnouncedPortOf("m3"));
        ushort port = AnnouncedPortOf("m3");
        var frames = new List<byte[]>();
        for (int i = 0; i < 8; i++)
        {
            frames.Add(JoinSyn(Client(20 + i), P(), AnnVip, 0xDEAD_BEEF, dport: port));   // any token
            ushort sp = P();
            frames.Add(Tcp(Client(20 + i), sp, AnnVip, port, TcpFlags.Syn));
            frames.Add(Data(Client(20 + i), (ushort)(sp + 5000), AnnVip, port));        // no flow entry
        }
        Assert.All(h.Send(frames), s => Assert.Equal("m3", h.BackendOf(s)));
        Assert.Equal(8, h.Counters.Get(GlobalCounter.JoinsByAnnouncedPort));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void A_join_to_the_vip_itself_is_unplaceable_in_announced_port_and_announced_address_modes()
    {
        using var h = new JoinHarness();
        var sent = h.Send([JoinSyn(Client(30), P(), AddrVip, Token("m1")), JoinSyn(Client(30), P(), AnnVip, Token("m1"))]);
        Assert.All(sent, AssertReset);
        Assert.Equal(2, h.Counters.Get(GlobalCounter.JoinsUnplaceable));
        // Plain connections to those VIPs are balanced as usual.
        ushort sp = P();
        Assert.Equal(h.MaglevChoice(Client(30), sp, AddrVip, 80), h.BackendOf(h.Send(CapableSyn(Client(30), sp, AddrVip))));
        h.AssertCounterInvariants();
    }

    // ---------------- order, steering off, no RST ----------------

    /// <summary>A server key whose token (read as an encrypted token) decrypts to a backend's server id under a
    /// configured key, and a flow whose Maglev choice is another backend: the two modes disagree.</summary>
    static (ulong Key, string Encrypted, string Learned, ushort Port) Disagreement(JoinHarness h)
    {
        var keys = h.Snapshot.TokenKeys!;
        for (ulong k = 1; ; k++)
        {
            uint t = TokenLearning.Token(k);
            if (TokenCipher.KeyId(t) == 3 || !TokenCipher.TryDecryptServerId(t, keys, out uint sid)) continue;
            int i = (int)sid - 10;
            if ((uint)i >= Backends.Length) continue;
            string enc = Backends[i];
            ushort sp = PortAvoiding(h, Client(40), LearnVip, enc);
            return (k, enc, h.MaglevChoice(Client(40), sp, LearnVip, 80), sp);
        }
    }

    [Fact]
    public void Join_modes_are_tried_in_the_vips_order()
    {
        using var h = new JoinHarness();
        var (key, enc, learned, sp) = Disagreement(h);
        Assert.Equal(learned, Open(h, Client(40), sp, LearnVip, key));
        uint token = TokenLearning.Token(key);
        Assert.Equal(enc, h.BackendOf(h.Send(JoinSyn(Client(41), P(), EncLearnVip, token), now: 2)));
        Assert.Equal(learned, h.BackendOf(h.Send(JoinSyn(Client(41), P(), LearnEncVip, token), now: 2)));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.JoinsByEncryptedToken));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.JoinsByLearnedToken));

        // A key id 3 token skips encrypted-token and is placed by learned-token.
        ulong k3 = 1;
        while (TokenCipher.KeyId(TokenLearning.Token(k3)) != 3) k3++;
        ushort sp3 = P();
        string b3 = Open(h, Client(42), sp3, LearnVip, k3, now: 3);
        Assert.Equal(b3, h.BackendOf(h.Send(JoinSyn(Client(42), PortAvoiding(h, Client(42), EncLearnVip, b3), EncLearnVip, TokenLearning.Token(k3)), now: 4)));
        Assert.Equal(2, h.Counters.Get(GlobalCounter.JoinsByLearnedToken));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void On_an_mptcp_unaware_vip_a_join_is_balanced_by_maglev_like_any_syn()
    {
        using var h = new JoinHarness();
        var want = new List<string>();
        var frames = new List<byte[]>();
        for (int i = 0; i < 20; i++)
        {
            ushort sp = P();
            frames.Add(JoinSyn(Client(50), sp, PlainVip, Token("m1")));
            want.Add(h.MaglevChoice(Client(50), sp, PlainVip, 80));
        }
        Assert.Equal(want, h.Send(frames).Select(h.BackendOf).ToArray());
        Assert.True(want.Distinct().Count() > 1, "every join landed on one backend: the contrast shows nothing");
        Assert.Equal(0, h.Counters.Get(GlobalCounter.JoinsSeen));
        Assert.Equal(20, h.Counters.Get(GlobalCounter.FlowInserts));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Unplaceable_join_is_dropped_when_resets_are_off()
    {
        using var h = new JoinHarness(edit: o => o.Mptcp.ResetUnplaceableJoins = false);
        var s = h.Send(JoinSyn(Client(51), P(), AddrVip, Token("m2")));
        Assert.True(s.Dropped);
        Assert.Equal(1, h.Counters.Get(DropReason.JoinUnplaceable));
        Assert.Equal(0, h.Counters.Get(Outcome.JoinReset));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.JoinsUnplaceable));
        h.AssertCounterInvariants();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_reset_for_an_unplaceable_join_goes_back_to_the_client_with_mp_tcprst(bool v6)
    {
        using var h = new JoinHarness();
        string client = v6 ? "2001:db8:c::9" : Client(52), vip = v6 ? Enc6Vip : AddrVip;
        uint token = v6 ? Minter(999).Mint() : Token("m1");
        var join = JoinSyn(client, 45678, vip, token, seq: 0x1234_5678);
        var s = h.Send(join);
        Assert.Equal(Outside, s.OutPort);
        var f = s.Frame;
        Assert.Equal(FrameBuilder.Mac(ClientMac), f[..6]);
        Assert.Equal(FrameBuilder.Mac(OutsideMac), f[6..12]);
        int l3 = 14, l4 = v6 ? 54 : 34;
        if (v6)
        {
            Assert.Equal(join.AsSpan(l3 + 24, 16).ToArray(), f.AsSpan(l3 + 8, 16).ToArray());  // src = VIP
            Assert.Equal(join.AsSpan(l3 + 8, 16).ToArray(), f.AsSpan(l3 + 24, 16).ToArray());  // dst = client
        }
        else
        {
            Assert.Equal(join.AsSpan(l3 + 16, 4).ToArray(), f.AsSpan(l3 + 12, 4).ToArray());
            Assert.Equal(join.AsSpan(l3 + 12, 4).ToArray(), f.AsSpan(l3 + 16, 4).ToArray());
            Assert.True(Checksum.Verify(f.AsSpan(l3, 20)), "IPv4 header checksum");
            Assert.Equal(f.Length - 14, BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(l3 + 2)));
        }
        Assert.Equal(80, BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(l4)));
        Assert.Equal(45678, BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(l4 + 2)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(l4 + 4)));
        Assert.Equal(0x1234_5679u, BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(l4 + 8))); // seq + 1 (the SYN)
        Assert.Equal(0x14, f[l4 + 13]);                                                    // RST|ACK
        int tcpLen = (f[l4 + 12] >> 4) * 4;
        Assert.Equal(24, tcpLen);
        Assert.Equal(new byte[] { 30, 4, 0x80, 1 }, f[(l4 + 20)..(l4 + 24)]);              // MP_TCPRST, MPTCP-specific error
        Assert.Equal(l4 + tcpLen, f.Length);                                               // no payload
        Assert.True(TcpChecksumOk(f, l3, l4, v6), "TCP checksum");
        h.AssertCounterInvariants();
    }

    static bool TcpChecksumOk(byte[] f, int l3, int l4, bool v6)
    {
        var pseudo = new List<byte>();
        int segLen = f.Length - l4;
        if (v6) { pseudo.AddRange(f.AsSpan(l3 + 8, 32).ToArray()); pseudo.AddRange(new byte[] { 0, 0, (byte)(segLen >> 8), (byte)segLen, 0, 0, 0, 6 }); }
        else { pseudo.AddRange(f.AsSpan(l3 + 12, 8).ToArray()); pseudo.AddRange(new byte[] { 0, 6, (byte)(segLen >> 8), (byte)segLen }); }
        pseudo.AddRange(f.AsSpan(l4).ToArray());
        if (pseudo.Count % 2 == 1) pseudo.Add(0);
        return Checksum.Verify(pseudo.ToArray());
    }

    [Fact]
    public void A_joins_later_segments_follow_its_backend_after_the_maglev_table_changes()
    {
        using var h = new JoinHarness();
        const int n = 40;
        var ports = new ushort[n];
        var frames = new List<byte[]>();
        for (int i = 0; i < n; i++)
        {
            ports[i] = PortAvoiding(h, Client(60), EncVip, "m2");
            frames.Add(JoinSyn(Client(60), ports[i], EncVip, Token("m2")));
        }
        Assert.All(h.Send(frames), s => Assert.Equal("m2", h.BackendOf(s)));
        // Take m1 out and add m5: the Maglev table changes; the joins' ACKs carry no token.
        h.Options.Pools[0].Backends[0].Enabled = false;
        h.Options.Pools[0].Backends = [.. h.Options.Pools[0].Backends,
            new BackendOptions { Name = "m5", Address = "10.0.0.20", Mac = "02:00:00:00:01:20", Port = "inside" }];
        h.Republish();
        var acks = ports.Select(p => Tcp(Client(60), p, EncVip, 80, TcpFlags.Ack, seq: 1001, ack: 7001)).ToArray();
        Assert.All(h.Send(acks, now: 2), s => Assert.Equal("m2", h.BackendOf(s)));
        Assert.Equal(n, h.Counters.Get(GlobalCounter.FlowHits));
        // A retransmitted join SYN also follows the pin (counted once as a join).
        Assert.Equal("m2", h.BackendOf(h.Send(JoinSyn(Client(60), ports[0], EncVip, Token("m2")), now: 3)));
        Assert.Equal(n, h.Counters.Get(GlobalCounter.JoinsSeen));
        h.AssertCounterInvariants();
    }

    [Fact]
    public void Malformed_mptcp_options_are_counted_and_the_segment_is_still_forwarded()
    {
        using var h = new JoinHarness();
        ushort a = P(), b = P(), c = P();
        var frames = new[]
        {
            // MP_JOIN in a SYN, 10 bytes instead of 12: a plain SYN, balanced by Maglev.
            Tcp(Client(70), a, EncVip, 80, TcpFlags.Syn, [30, 10, 0x10, 1, 0x12, 0x34, 0x56, 0x78, 0, 0, 1, 1]),
            // MP_CAPABLE on an ACK with 13 bytes: no learning.
            Tcp(Client(70), b, LearnVip, 80, TcpFlags.Ack, [30, 13, 0x01, 0x81, .. new byte[9], 1, 1, 1]),
            // MP_FASTCLOSE of 6 bytes.
            Tcp(Client(70), c, LearnVip, 80, TcpFlags.Ack, [30, 6, 0x70, 0, 0, 0, 1, 1]),
        };
        var sent = h.Send(frames);
        Assert.Equal(h.MaglevChoice(Client(70), a, EncVip, 80), h.BackendOf(sent[0]));
        Assert.Equal(h.MaglevChoice(Client(70), b, LearnVip, 80), h.BackendOf(sent[1]));
        Assert.Equal(h.MaglevChoice(Client(70), c, LearnVip, 80), h.BackendOf(sent[2]));
        Assert.Equal(3, h.Counters.Get(GlobalCounter.MptcpMalformedOptions));
        Assert.Equal(0, h.Counters.Get(GlobalCounter.JoinsSeen));
        Assert.Equal(0, h.Counters.Get(GlobalCounter.TokensLearned));
        Assert.Equal(3, h.Counters.Get(Outcome.Forwarded));
        h.AssertCounterInvariants();
    }

    [Fact]
    public unsafe void A_mixed_mptcp_burst_loop_allocates_nothing()
    {
        // With the cluster's export queue (issue 12): learns and forgets are queued for the exchange, still without allocation.
        using var h = new JoinHarness(edit: o => o.Pools[0].TcpIdleTimeoutSeconds = 1, exportCapacity: 64);
        var events = new long[4];
        const ulong key = 0x4242_4242_4242_4242;
        var frames = new List<byte[]>
        {
            CapableSyn(Client(80), 50000, LearnVip),
            ThirdAck(Client(80), 50000, LearnVip, 1, key),
            JoinSyn(Client(80), 50001, LearnVip, TokenLearning.Token(key)),
            JoinSyn(Client(80), 50002, EncVip, Token("m1", 0)),
            JoinSyn(Client(80), 50003, EncVip, Token("m2", 1)),
            JoinSyn(Client(80), 50004, EncVip, Token("m3", 2)),
            JoinSyn("2001:db8:c::1", 50005, Enc6Vip, Token("m4", 0)),
            JoinSyn(Client(80), 50006, AnnVip, 1, dport: AnnouncedPortOf("m1")),
            JoinSyn(Client(80), 50007, AddrVip, 1),                                  // RST
            JoinSyn(Client(80), 50008, EncLearnVip, 0xFFFF_FFFF),                     // RST (key id 3, not learned)
            JoinSyn(Client(80), 50009, PlainVip, 1),
            Data(Client(80), 50000, LearnVip),
            Tcp(Client(80), 50010, EncVip, 80, TcpFlags.Syn, [30, 10, 0x10, 1, 0, 0, 0, 0, 0, 0, 1, 1]),
            Tcp(Client(80), 50000, LearnVip, 80, TcpFlags.Fin | TcpFlags.Ack, seq: 1101, ack: 5001),
        };
        using var port = new MemoryPort(frames);
        using var burst = new Burst();
        var w = h.Workers[0];
        uint now = 1;
        void Run()
        {
            port.Reset(0, frames.Count);
            port.Receive(burst, 0, frames.Count);
            w.Process(burst, Outside, now);
            now += 2000; // past the flow idle timeout: every join is steered again
            while (h.Exports![0].TryDequeue(out var e)) events[(int)e.Kind]++; // the exchange's side, allocation-free too
        }
        for (int i = 0; i < 20; i++) Run();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++) Run();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(220 * 4, w.Counters.Get(GlobalCounter.JoinsByEncryptedToken));
        Assert.Equal(220, w.Counters.Get(GlobalCounter.JoinsByLearnedToken));
        Assert.Equal(220 * 2, w.Counters.Get(Outcome.JoinReset));
        // Each round learns the token on the third ACK and forgets it on the initial subflow's FIN: both exported.
        Assert.Equal(220, events[(int)TokenEventKind.Learned]);
        Assert.Equal(220, events[(int)TokenEventKind.Forgotten]);
        Assert.Equal(0, h.Exports![0].Overflows);
    }
}
