using System.Buffers.Binary;
using System.Text.Json;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Perf;

/// <summary>
/// The TRex STL profiles (perf/trex) and pktgen-dpdk scripts (perf/pktgen), checked without TRex or
/// pktgen (neither is packaged here): the profiles' scapy packets equal mixgen.py's pcap frames byte for
/// byte; every profile executes outside TRex (stand-ins that check field-engine offsets) and its packets
/// parse with the appliance's own parser, with join tokens that the appliance's cipher places on the
/// configured servers and learned tokens that match the keys the profile sends first; the Python token
/// minter agrees with the appliance's cipher; the Lua scripts compile.
/// </summary>
public class TrexProfileTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public void Scapy_builders_rebuild_every_mixgen_frame_byte_for_byte()
    {
        var dir = Directory.CreateTempSubdirectory("sy-trex-");
        try
        {
            var r = PerfPaths.Check(PerfPaths.Python, [PerfPaths.Perf("trex", "check_against_mixgen.py"), dir.FullName,
                "--flows", "64", "--rounds", "4"], Timeout);
            foreach (var mix in new[] { "est", "syn", "udp", "tcp6", "imix", "join-enc", "join-rand", "syn-ts", "join-learned" })
                Assert.Contains($"{mix}: 256 frames identical", r.StdOut);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void Python_token_minter_and_learned_tokens_agree_with_the_appliance()
    {
        var rng = new Random(7);
        var cases = Enumerable.Range(0, 40).Select(i =>
        {
            var key = new byte[16];
            rng.NextBytes(key);
            int bits = 1 + i % 15, keyId = i % 3;
            uint sid = (uint)rng.Next(1 << bits), nonce = (uint)rng.Next(1 << (30 - bits));
            return (key, keyId, bits, sid, nonce, mptcpKey: (ulong)rng.NextInt64());
        }).ToArray();
        string script = "import sys; sys.path.insert(0, sys.argv[1]); import sy_mixes as m\n" +
            "for line in sys.stdin:\n" +
            "    k, kid, bits, sid, nonce, mk = line.split()\n" +
            "    print('%08x %08x' % (m.mint_token(bytes.fromhex(k), int(kid), int(bits), int(sid), int(nonce)), m.learned_token(int(mk))))\n";
        string input = string.Join("\n", cases.Select(c => $"{Convert.ToHexString(c.key)} {c.keyId} {c.bits} {c.sid} {c.nonce} {c.mptcpKey}")) + "\n";
        var r = ProcessRunner.Run(PerfPaths.Python, ["-c", script, PerfPaths.Perf("trex")], Timeout, stdin: input);
        Assert.True(r.ExitCode == 0, r.Describe("python minter"));
        var lines = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(cases.Length, lines.Length);
        for (int i = 0; i < cases.Length; i++)
        {
            var c = cases[i];
            var keys = new TokenKeys(c.bits, (c.keyId, c.key));
            uint expected = TokenCipher.Encrypt(TokenCipher.ComposeX(c.sid, c.nonce, c.bits), c.keyId, keys);
            var parts = lines[i].Split(' ');
            Assert.Equal(expected.ToString("x8"), parts[0]);
            Assert.Equal(TokenLearning.Token(c.mptcpKey).ToString("x8"), parts[1]);
        }
    }

    [Fact]
    public unsafe void Every_trex_profile_runs_outside_trex_and_its_packets_steer_as_intended()
    {
        var r = PerfPaths.Check(PerfPaths.Python, [PerfPaths.Perf("trex", "dump_profiles.py"), "--flows", "1000", "--tokens", "24", "--connections", "8"], Timeout);
        var streams = JsonDocument.Parse(r.StdOut).RootElement.EnumerateArray().ToArray();
        var byProfile = streams.GroupBy(s => s.GetProperty("profile").GetString()!).ToDictionary(g => g.Key, g => g.ToArray());
        Assert.Equal(["est", "imix", "join_enc", "join_learned", "syn", "tcp6", "udp"], byProfile.Keys.Order());

        // The harness's keys and server ids (perf/load/switchyard.json), which the profiles default to.
        var keys = new TokenKeys(10, (0, Convert.FromHexString("000102030405060708090a0b0c0d0e0f")),
            (1, Convert.FromHexString("5377697463687961726420746f6b656e")), (2, Convert.FromHexString("c0ffee00deadbeef0123456789abcdef")));
        var learnedKeys = new HashSet<uint>();
        int joinsEnc = 0, joinsLearned = 0;
        foreach (var s in streams)
        {
            string profile = s.GetProperty("profile").GetString()!;
            byte[] frame = Convert.FromHexString(s.GetProperty("packet").GetString()!);
            var info = new PacketInfo();
            var mp = new MptcpInfo();
            fixed (byte* f = frame)
            {
                Assert.Equal(DropReason.None, PacketParser.Parse(f, frame.Length, ref info));
                Assert.Equal(profile == "tcp6" ? "2001:db8::100" : "198.18.0.100", info.Dst.ToString());
                Assert.Equal(profile == "udp" ? 53 : 80, info.DstPort);
                if (info.TcpOptionsLength > 0)
                    Assert.Equal(MptcpParse.Ok, MptcpOptions.Parse(f + info.TcpOptionsOffset, info.TcpOptionsLength, info.TcpFlags, info.PayloadLength, ref mp));
            }
            if (profile != "tcp6") Assert.True(Checksum.Verify(frame.AsSpan(14, 20)), $"{profile}: IPv4 header checksum");
            double pps = s.GetProperty("pps").GetDouble();
            Assert.True(pps > 0, $"{profile}: pps {pps}");
            switch (profile)
            {
                case "join_enc":
                    Assert.True((mp.Subtypes & MptcpSubtypes.Join) != 0, "join_enc stream without MP_JOIN");
                    Assert.True(TokenCipher.TryDecryptServerId(mp.JoinToken, keys, out uint sid), $"token {mp.JoinToken:x8} does not decrypt");
                    Assert.Contains(sid, new uint[] { 101, 102, 103, 104 });
                    Assert.Contains(s.GetProperty("vm").EnumerateArray(), v => v.GetString()!.Contains("pkt_offset=TCP.sport"));
                    joinsEnc++;
                    break;
                case "join_learned" when (mp.Subtypes & MptcpSubtypes.Capable) != 0 && mp.HasReceiverKey:
                    // Third ACK: a single-packet burst before the joins start.
                    Assert.Equal(1, s.GetProperty("burst").GetInt32());
                    learnedKeys.Add(TokenLearning.Token(mp.ReceiverKey));
                    break;
                case "join_learned" when (mp.Subtypes & MptcpSubtypes.Join) != 0:
                    Assert.Contains(mp.JoinToken, learnedKeys); // its connection's third ACK came first
                    Assert.True(s.GetProperty("isg").GetDouble() > 0, "joins must start after the set-up");
                    joinsLearned++;
                    break;
            }
        }
        Assert.Equal(24, joinsEnc);
        Assert.Equal(8, joinsLearned);
        Assert.Equal(8, learnedKeys.Count);
        // est/imix/tcp6 open their flows with a SYN burst over every flow before the steady stream.
        foreach (var p in new[] { "est", "imix", "tcp6" })
        {
            Assert.Equal(1000, byProfile[p][0].GetProperty("burst").GetInt32());
            Assert.All(byProfile[p].Skip(1), s => Assert.True(s.GetProperty("isg").GetDouble() > 0));
        }
        // IMIX: 60/590/1514-byte frames at 7:4:1.
        var imix = byProfile["imix"].Skip(1).Select(s => (len: s.GetProperty("packet").GetString()!.Length / 2, pps: s.GetProperty("pps").GetDouble())).ToArray();
        Assert.Equal([60, 590, 1514], imix.Select(x => x.len));
        Assert.Equal(7.0 / 4, imix[0].pps / imix[1].pps, 6);
        Assert.Equal(4.0, imix[1].pps / imix[2].pps, 6);
    }

    [Fact]
    public void Profiles_compile_and_pktgen_lua_scripts_parse()
    {
        var py = Directory.GetFiles(PerfPaths.Perf("trex"), "*.py");
        Assert.True(py.Length >= 10, $"only {py.Length} python files in perf/trex");
        var dir = Directory.CreateTempSubdirectory("sy-pyc-");
        try
        {
            // py_compile into a temporary directory, so the tree gets no __pycache__.
            string script = "import py_compile, sys, os\nfor f in sys.argv[2:]:\n    py_compile.compile(f, cfile=os.path.join(sys.argv[1], os.path.basename(f) + 'c'), doraise=True)\n";
            PerfPaths.Check(PerfPaths.Python, ["-c", script, dir.FullName, .. py], Timeout);
        }
        finally { dir.Delete(recursive: true); }
        string luac = ProcessRunner.Which("luac") ?? ProcessRunner.Which("luac5.4")
            ?? throw new Xunit.Sdk.XunitException("luac not found (Debian package lua5.4; build/install-deps.sh installs it)");
        var lua = Directory.GetFiles(PerfPaths.Perf("pktgen"), "*.lua");
        Assert.True(lua.Length >= 5, $"only {lua.Length} Lua files in perf/pktgen");
        foreach (var f in lua) PerfPaths.Check(luac, ["-p", f], Timeout);
    }
}
