using System.Buffers.Binary;
using System.Text.Json.Nodes;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Minting;
using Switchyard.Tests.Infrastructure;
using static Switchyard.Tests.Integration.TestNetwork;

namespace Switchyard.Tests.Integration;

/// <summary>
/// The real appliance on net_pcap with MPTCP-aware VIPs: joins for every steering mode (encrypted tokens
/// minted by <see cref="TokenMinter"/> with the configuration's keys; learned tokens from a third ACK sent
/// before the join), unplaceable joins answered with a RST carrying MP_TCPRST, a learned-token collision,
/// malformed MPTCP options. Output checked frame by frame (backend MAC, tshark, checksums) and the counters JSON.
/// </summary>
[Collection(ApplianceCollection.Name)]
[Trait("Category", "Integration")]
public sealed class JoinSteeringIntegrationTests
{
    const string Key0 = "000102030405060708090a0b0c0d0e0f", Key1 = "2b7e151628aed2a6abf7158809cf4f3c";
    const string EncVip = "203.0.113.50", LearnVip = "203.0.113.51", AnnVip = "203.0.113.52", AddrVip = "203.0.113.53", PlainVip = "203.0.113.54";
    const int ServerIdBits = 8;
    static readonly (string Name, string Mac, int ServerId, int AnnouncedPort)[] Backends =
    [
        ("mp-1", "02:be:0a:00:00:01", 5, 9001),
        ("mp-2", "02:be:0a:00:00:02", 6, 9002),
        ("mp-3", "02:be:0a:00:00:03", 7, 9003),
    ];

    /// <summary>What must come out for a frame: a backend (by name), "any" backend, a group that must share one, or a RST.</summary>
    sealed record Case(string Name, byte[] Frame, string? Backend = null, string? Group = null, bool Reset = false);

    static void Configure(JsonObject config)
    {
        var port = (JsonObject)config["Ports"]![0]!;
        port["Mac"] = PortMac;
        port["Addresses"] = new JsonArray(PortV4);
        var backends = new JsonArray();
        foreach (var b in Backends)
            backends.Add(new JsonObject { ["Name"] = b.Name, ["Address"] = $"10.10.0.{b.ServerId}", ["Mac"] = b.Mac, ["ServerId"] = b.ServerId, ["AnnouncedPort"] = b.AnnouncedPort });
        config["Pools"] = new JsonArray(new JsonObject { ["Name"] = "mp", ["Forwarding"] = "l2dsr", ["MaglevSize"] = 1021, ["Backends"] = backends });
        JsonObject Vip(string name, string address, params string[] joins) => new()
        {
            ["Name"] = name, ["Address"] = address, ["Port"] = 80, ["Protocol"] = "tcp", ["Pool"] = "mp",
            ["Joins"] = new JsonArray(joins.Select(j => (JsonNode)JsonValue.Create(j)!).ToArray()),
        };
        config["Vips"] = new JsonArray(Vip("enc", EncVip, "encrypted-token", "learned-token"), Vip("learn", LearnVip, "learned-token"),
            Vip("ann", AnnVip, "announced-port"), Vip("addr", AddrVip, "announced-address"), Vip("plain", PlainVip));
        config["Mptcp"] = new JsonObject
        {
            ["TokenKeys"] = new JsonArray(new JsonObject { ["Id"] = 0, ["Key"] = Key0 }, new JsonObject { ["Id"] = 1, ["Key"] = Key1 }),
            ["ServerIdBits"] = ServerIdBits,
            ["LearnedTokenCapacity"] = 4096,
        };
    }

    static ushort _sport = 31000;

    static byte[] Tcp(string vip, ushort sport, TcpFlags flags, byte[] options, ushort dport = 80, uint seq = 1000, uint ack = 0, int payload = 0) =>
        Ip(Eth(), Client4, vip).Tcp(sport, dport, flags, seq, ack, options: options).Payload(new byte[payload]).Build();

    static byte[] Join(string vip, uint token, ushort dport = 80) =>
        Tcp(vip, _sport++, TcpFlags.Syn, [.. TcpOptions.Mss(1460), .. TcpOptions.MpJoinSyn(token, 0xA1B2C3D4)], dport, seq: 0x10000000);

    static List<Case> Build()
    {
        _sport = 31000;
        var c = new List<Case>();
        var keys = new Dictionary<int, byte[]> { [0] = Convert.FromHexString(Key0), [1] = Convert.FromHexString(Key1) };

        // ---- encrypted token: two joins per backend, one per key id.
        foreach (var b in Backends)
            for (int k = 0; k < 2; k++)
                c.Add(new Case($"encrypted join to {b.Name}, key {k}", Join(EncVip, new TokenMinter(keys, k, ServerIdBits, (uint)b.ServerId).Mint()), b.Name));

        // ---- learned token: SYN, third ACK (learns), then the join on a new 5-tuple.
        for (int n = 0; n < 3; n++)
        {
            ulong serverKey = 0x0102030405060708UL + (ulong)n;
            ushort sp = _sport++;
            string g = $"learned-{n}";
            c.Add(new Case($"learned {n} SYN", Tcp(LearnVip, sp, TcpFlags.Syn, [.. TcpOptions.Mss(1460), .. TcpOptions.MpCapable()]), Group: g));
            c.Add(new Case($"learned {n} third ACK", Tcp(LearnVip, sp, TcpFlags.Ack, TcpOptions.MpCapable(0xC11E_0000_0000_0000UL + (ulong)n, serverKey), seq: 1001, ack: 5001), Group: g));
            c.Add(new Case($"learned {n} join", Join(LearnVip, TokenLearning.Token(serverKey)), Group: g));
        }

        // ---- announced port: the join to VIP:P and a plain connection there reach the announcing backend.
        foreach (var b in Backends)
        {
            c.Add(new Case($"announced-port join to {b.Name}", Join(AnnVip, 0x12345678, (ushort)b.AnnouncedPort), b.Name));
            c.Add(new Case($"announced-port SYN to {b.Name}", Tcp(AnnVip, _sport++, TcpFlags.Syn, TcpOptions.Mss(1460), (ushort)b.AnnouncedPort), b.Name));
        }

        // ---- unplaceable: a join to an announced-address VIP, a token of no server, an unlearned token.
        c.Add(new Case("join to an announced-address VIP", Join(AddrVip, 0x11223344), Reset: true));
        c.Add(new Case("encrypted join for an unknown server id", Join(EncVip, new TokenMinter(keys, 0, ServerIdBits, 200).Mint()), Reset: true));
        c.Add(new Case("join with a token nobody learned", Join(LearnVip, 0xFEEDF00D), Reset: true));

        // ---- collision: six initial subflows echoing one server key (Maglev spreads them over the backends).
        const ulong shared = 0x5EED_5EED_5EED_5EED;
        for (int n = 0; n < 6; n++)
        {
            ushort sp = _sport++;
            c.Add(new Case($"collision {n} SYN", Tcp(LearnVip, sp, TcpFlags.Syn, TcpOptions.MpCapable()), Group: $"collision-{n}"));
            c.Add(new Case($"collision {n} third ACK", Tcp(LearnVip, sp, TcpFlags.Ack, TcpOptions.MpCapable(0xAAAA, shared), seq: 1001, ack: 5001), Group: $"collision-{n}"));
        }
        c.Add(new Case("join with a collided token", Join(LearnVip, TokenLearning.Token(shared)), Reset: true));

        // ---- malformed MPTCP options: counted, forwarded as plain TCP.
        c.Add(new Case("SYN with a 10-byte MP_JOIN", Tcp(EncVip, _sport++, TcpFlags.Syn, [30, 10, 0x10, 1, 0x12, 0x34, 0x56, 0x78, 0, 0, 1, 1]), "any"));
        c.Add(new Case("ACK with a 13-byte MP_CAPABLE", Tcp(LearnVip, _sport++, TcpFlags.Ack, [30, 13, 0x01, 0x81, .. new byte[9], 1, 1, 1], seq: 1001, ack: 5001), "any"));

        // ---- steering off: a join to an MPTCP-unaware VIP is balanced like any SYN.
        c.Add(new Case("join to an MPTCP-unaware VIP", Join(PlainVip, 0x12345678), "any"));
        return c;
    }

    static readonly string[] Fields = ["eth.src", "eth.dst", "ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.ack_raw",
        "tcp.options.mptcp.subtype", "frame.protocols"];

    [Fact]
    public void Joins_of_every_mode_reach_their_backend_and_unplaceable_ones_get_a_reset_with_mp_tcprst()
    {
        var cases = Build();
        using var run = Appliance.Run("joins", cases.Select(x => x.Frame), Configure);
        run.AssertCleanExit();
        var output = run.Output;
        Assert.True(cases.Count == output.Count, $"expected {cases.Count} output frames (nothing is dropped), got {output.Count}\n{run.Describe()}");
        var t = Tshark.Fields(run.OutputPcap, Fields);
        Assert.Equal(output.Count, t.Count);

        var failures = new List<string>();
        var groups = new Dictionary<string, HashSet<string>>();
        for (int i = 0; i < cases.Count; i++)
        {
            var c = cases[i];
            var p = t[i];
            var why = new List<string>();
            foreach (var f in Tshark.ChecksumStatusFields)
                foreach (var v in p.All(f))
                    if (v != Tshark.StatusGood) why.Add($"{f} = {Tshark.Describe(v)}");
            if ((p["frame.protocols"] ?? "").Contains("_ws.malformed")) why.Add("tshark: malformed");
            if (c.Reset)
            {
                if (p["eth.dst"] != ClientMac || p["eth.src"] != PortMac) why.Add($"RST MACs {p["eth.src"]} -> {p["eth.dst"]}");
                if (p["ip.src"] != Ip4Dst(c.Frame) || p["ip.dst"] != Client4) why.Add($"RST addresses {p["ip.src"]} -> {p["ip.dst"]}");
                if (p["tcp.srcport"] != Port(c.Frame, 36).ToString() || p["tcp.dstport"] != Port(c.Frame, 34).ToString()) why.Add("RST ports not swapped");
                if (p["tcp.flags"] != "0x0014") why.Add($"tcp.flags {p["tcp.flags"]}, expected RST|ACK");
                if (p["tcp.ack_raw"] != (0x10000000u + 1).ToString()) why.Add($"tcp.ack_raw {p["tcp.ack_raw"]}");
                if (p["tcp.options.mptcp.subtype"] != "8") why.Add($"mptcp subtype {p["tcp.options.mptcp.subtype"]}, expected 8 (MP_TCPRST)");
            }
            else
            {
                var data = output[i].Data;
                string dst = string.Join(':', data.Take(6).Select(b => b.ToString("x2")));
                var backend = Backends.FirstOrDefault(b => b.Mac == dst).Name;
                if (backend is null) why.Add($"eth.dst {dst} is no backend (RST? flags {p["tcp.flags"]})");
                else if (c.Backend is not null && c.Backend != "any" && c.Backend != backend) why.Add($"reached {backend}, expected {c.Backend}");
                if (!data.AsSpan(12).SequenceEqual(c.Frame.AsSpan(12))) why.Add("L2 DSR changed more than the MACs");
                if (c.Group is not null && backend is not null)
                {
                    if (!groups.TryGetValue(c.Group, out var set)) groups[c.Group] = set = new();
                    set.Add(backend);
                }
            }
            if (why.Count > 0) failures.Add($"frame {i + 1} ({c.Name}): {string.Join("; ", why)}");
        }
        foreach (var (g, set) in groups)
            if (set.Count != 1) failures.Add($"group {g} reached {string.Join(", ", set)}");
        var collisionBackends = groups.Where(g => g.Key.StartsWith("collision-")).SelectMany(g => g.Value).Distinct().Count();
        if (collisionBackends < 2) failures.Add("the six collision flows all reached one backend: no collision was made (pick other ports)");
        Assert.True(failures.Count == 0, $"{failures.Count} problem(s), dir {run.Dir}:\n  " + string.Join("\n  ", failures));

        // ---- counters
        CountersInvariants.AssertHold(run.Counters);
        int resets = cases.Count(x => x.Reset);
        Assert.Equal(cases.Count, run.Total("rxPackets"));
        Assert.Equal(cases.Count, run.Total("txPackets"));
        Assert.Equal(resets, run.Total("joinReset"));
        Assert.Equal(cases.Count - resets, run.Total("forwarded"));
        Assert.Equal(6, run.Total("joinsByEncryptedToken"));
        Assert.Equal(3, run.Total("joinsByLearnedToken"));
        Assert.Equal(3, run.Total("joinsByAnnouncedPort"));
        Assert.Equal(resets, run.Total("joinsUnplaceable"));
        Assert.Equal(1, run.Total("joinsWithCollidedToken"));
        Assert.Equal(6 + 3 + 3 + resets, run.Total("joinsSeen"));
        Assert.Equal(3 + 1, run.Total("tokensLearned"));
        Assert.True(run.Total("tokenCollisions") >= 1, "no token collision counted");
        Assert.Equal(2, run.Total("mptcpMalformedOptions"));
        Assert.Equal(0, run.Total("dropped"));
    }

    static string Ip4Dst(byte[] f) => new System.Net.IPAddress(f.AsSpan(30, 4)).ToString();
    static ushort Port(byte[] f, int at) => BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(at));
}
