using Switchyard.Dataplane.Datapath.Parsing;
using static Switchyard.Tests.Mptcp.Mpo;

namespace Switchyard.Tests.Mptcp;

/// <summary>
/// The classifier's short scan of a join's SYN (<see cref="Classifier.TryJoinSyn"/>) against the general decoder
/// (<see cref="MptcpOptions.Parse"/>): on every option area the packet parser lets through, the scan says "join" exactly
/// when the decoder finds a valid segment whose only MPTCP subtype is MP_JOIN, with the same token.
/// </summary>
public class JoinSynScanTests
{
    // Building blocks of SYN option areas: the usual TCP options, MP_JOINs of every phase's length, other MPTCP options,
    // kind-30 options of odd lengths and subtypes.
    static byte[][] Blocks() =>
    [
        [1], [0], [2, 4, 5, 0xB4], [4, 2], [3, 3, 7], [8, 10, 1, 2, 3, 4, 5, 6, 7, 8],
        JoinSyn(0x01020304, 5), JoinSyn(0xA1B2C3D4, 6, 2, true), JoinSyn(0x00000000, 7), JoinSyn(0xFFFFFFFF, 8, 9),
        JoinSynAck(1, 2), JoinAck(new byte[20]), Capable(1, 0x81), Capable(1, 0x81, 1, 2), Capable(0, 0x81, 3),
        [30, 2], [30, 3, 0x10], [30, 12, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0], [30, 12, 0x1F, 0, 9, 9, 9, 9, 0, 0, 0, 0],
        [30, 4, 0x70, 0], [99, 2], [99, 6, 1, 2, 3, 4],
    ];

    /// <summary>The packet parser's check of an options area (PacketParser.TcpOptionsOk): every option lies inside it.</summary>
    static bool StructureOk(byte[] o)
    {
        int i = 0;
        while (i < o.Length)
        {
            if (o[i] == 0) break;
            if (o[i] == 1) { i++; continue; }
            if (o.Length - i < 2) return false;
            int len = o[i + 1];
            if (len < 2 || len > o.Length - i) return false;
            i += len;
        }
        return true;
    }

    static unsafe void Agree(byte[] opts, ref int joins, ref int others)
    {
        if (opts.Length == 0 || opts.Length > 40 || !StructureOk(opts)) return;
        var info = new MptcpInfo();
        bool scan;
        uint token;
        MptcpParse verdict;
        fixed (byte* p = opts)
        {
            scan = Classifier.TryJoinSyn(p, opts.Length, out token);
            verdict = MptcpOptions.Parse(p, opts.Length, Syn, 0, ref info);
        }
        bool decoderJoin = verdict == MptcpParse.Ok && info.Subtypes == MptcpSubtypes.Join;
        Assert.True(scan == decoderJoin, $"{Convert.ToHexString(opts)}: scan {scan}, decoder {verdict} {info.Subtypes} ({info.Error})");
        if (scan)
        {
            Assert.Equal(info.JoinToken, token);
            joins++;
        }
        else others++;
    }

    [Fact]
    public void The_scan_and_the_decoder_agree_on_random_syn_option_areas()
    {
        var rng = new Random(14);
        var blocks = Blocks();
        int joins = 0, others = 0;
        for (int n = 0; n < 40_000; n++)
        {
            var parts = new List<byte>();
            int k = rng.Next(1, 5);
            for (int j = 0; j < k; j++) parts.AddRange(blocks[rng.Next(blocks.Length)]);
            var opts = parts.ToArray();
            if (rng.Next(4) == 0 && opts.Length > 0) opts[rng.Next(opts.Length)] = (byte)rng.Next(256); // a mutation
            Agree(opts, ref joins, ref others);
        }
        // Both answers must be well represented, or the comparison proved little.
        Assert.True(joins > 2000, $"only {joins} join areas");
        Assert.True(others > 2000, $"only {others} other areas");
    }

    [Fact]
    public unsafe void A_join_after_the_usual_options_gives_its_token_and_a_second_join_does_not_replace_it()
    {
        var opts = Cat([2, 4, 5, 0xB4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7], JoinSyn(0x66840DDA, 1), JoinSyn(0x11111111, 2));
        fixed (byte* p = opts)
        {
            Assert.True(Classifier.TryJoinSyn(p, opts.Length, out uint token));
            Assert.Equal(0x66840DDAu, token);
        }
        var capable = Cat(Capable(1, 0x81), JoinSyn(0x66840DDA, 1));
        fixed (byte* p = capable) Assert.False(Classifier.TryJoinSyn(p, capable.Length, out _)); // left to the decoder
    }
}
