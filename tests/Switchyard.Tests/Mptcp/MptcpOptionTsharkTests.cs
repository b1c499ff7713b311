using System.Globalization;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Tests.Infrastructure;
using static Switchyard.Tests.Mptcp.Mpo;

namespace Switchyard.Tests.Mptcp;

/// <summary>
/// Independent check: full TCP frames carrying MPTCP options go through <see cref="PacketParser"/> (which
/// locates the options) and <see cref="MptcpOptions"/>, and Wireshark's MPTCP dissector must read the same
/// subtypes, keys, token, nonces, flags and addresses. Fails (never skips) when tshark is missing.
/// </summary>
public unsafe class MptcpOptionTsharkTests
{
    const string Client = "198.18.0.11", Vip = "198.18.0.100", Client6 = "2001:db8::11", Vip6 = "2001:db8::100";
    const ulong KeyA = 0x3c5c9d2e8f1a7b64, KeyB = 0xa1b2c3d4e5f60718;
    static readonly byte[] SynPrefix = [2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 1, 3, 3, 7];
    static readonly byte[] TsPrefix = [1, 1, 8, 10, 0, 0, 0x12, 0x40, 0x9a, 0xbc, 0xde, 0xf0];

    static byte[] V4(TcpFlags flags, byte[] options, int payload = 0)
    {
        var b = FrameBuilder.Ethernet("02:00:00:00:00:01", "02:00:00:00:00:02").Ipv4(Client, Vip)
            .Tcp(40000, 443, flags, seq: 1000, ack: (flags & TcpFlags.Ack) != 0 ? 5000u : 0, options: options);
        if (payload > 0) b.Payload(new byte[payload]);
        return b.Build();
    }

    static byte[] V6(TcpFlags flags, byte[] options) =>
        FrameBuilder.Ethernet("02:00:00:00:00:01", "02:00:00:00:00:02").Ipv6(Client6, Vip6)
            .Tcp(40001, 443, flags, seq: 1000, ack: 5000, options: options).Build();

    static byte[][] Frames() =>
    [
        V4(TcpFlags.Syn, Cat(SynPrefix, Capable(1, 0xA1))),                                    // 1 C and A flags
        V4(TcpFlags.Syn | TcpFlags.Ack, Cat(SynPrefix, Capable(1, 0x01, KeyB))),              // 2
        V4(TcpFlags.Ack, Cat(TsPrefix, Capable(1, 0x21, KeyA, KeyB))),                        // 3 third ACK
        V4(TcpFlags.Ack | TcpFlags.Psh, Cat(TsPrefix, Capable(1, 0x01, KeyA, KeyB, 64), [Nop, Nop]), 64), // 4
        V4(TcpFlags.Syn, Cat(SynPrefix, JoinSyn(0x66840dda, 0x8e0f6b21, 2, true))),           // 5
        V4(TcpFlags.Syn | TcpFlags.Ack, Cat(SynPrefix, JoinSynAck(0x0123456789abcdef, 0xfeedf00d, 3))), // 6
        V4(TcpFlags.Ack, Cat(TsPrefix, JoinAck(Enumerable.Range(1, 20).Select(i => (byte)i).ToArray()))), // 7
        V4(TcpFlags.Ack | TcpFlags.Fin, Cat(TsPrefix, Dss(true, 0x1122334455667788, true, 0x99aabbccddeeff00, true, 7, 1), [Nop, Nop])), // 8
        V4(TcpFlags.Ack, Cat(Dss(dataAck: 0x0a0b0c0d, ack64: false), AddAddr(5, "203.0.113.5", 4321, 0x1111222233334444))), // 9
        V6(TcpFlags.Ack, Cat(AddAddr(6, "2001:db8::77", 8443, null, echo: true))),             // 10
        V4(TcpFlags.Ack, Cat(RemoveAddr(4), Prio(true), [Nop, Nop])),                          // 11
        V4(TcpFlags.Rst | TcpFlags.Ack, Cat(FastClose(KeyB), TcpRst(0x1, 6))),                // 12
        V4(TcpFlags.Syn, Cat(SynPrefix, Capable(0, 0x81, KeyA))),                             // 13 v0
        V4(TcpFlags.Ack, Dss(dataAck: 42, ack64: false, dsn: 0xe1e2e3e4, dsn64: false, subflowSeq: 9, dataLevelLength: 100, checksum: 0xABCD)), // 14
    ];

    static readonly string[] Fields =
    [
        "tcp.options.mptcp.subtype", "tcp.options.mptcp.version", "tcp.options.mptcp.sendkey", "tcp.options.mptcp.recvkey",
        "tcp.options.mptcp.nomoresubflows.flag", "tcp.options.mptcp.checksumreq.flags", "tcp.options.mptcp.sha256.flag",
        "tcp.options.mptcp.datalvllen", "tcp.options.mptcp.recvtok", "tcp.options.mptcp.sendrand", "tcp.options.mptcp.addrid",
        "tcp.options.mptcp.backup.flag", "tcp.options.mptcp.sendtrunchmac", "tcp.options.mptcp.sendhmac",
        "tcp.options.mptcp.rawdataack", "tcp.options.mptcp.rawdataseqno", "tcp.options.mptcp.subflowseqno",
        "tcp.options.mptcp.datafin.flag", "tcp.options.mptcp.checksum", "tcp.options.mptcp.ipv4", "tcp.options.mptcp.ipv6",
        "tcp.options.mptcp.port", "tcp.options.mptcp.echo", "tcp.options.mptcp.addaddrtrunchmac", "tcp.options.mptcp.rst_reason",
        "tcp.options.mptcp.flag_T.flag", "_ws.malformed", "_ws.expert.message",
    ];

    /// <summary>A tshark integer in whatever base it printed ("0x..." or decimal).</summary>
    static ulong Num(string? s)
    {
        Assert.NotNull(s);
        return s!.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.Parse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
            : ulong.Parse(s, CultureInfo.InvariantCulture);
    }

    static bool Flag(string? s) => s is "1" or "True" or "true";

    static MptcpInfo ParseFrame(byte[] frame, out MptcpParse verdict)
    {
        var pi = new PacketInfo();
        var info = new MptcpInfo();
        fixed (byte* f = frame)
        {
            Assert.Equal(DropReason.None, PacketParser.Parse(f, frame.Length, ref pi));
            verdict = MptcpOptions.Parse(f + pi.TcpOptionsOffset, pi.TcpOptionsLength, pi.TcpFlags, pi.PayloadLength, ref info);
        }
        return info;
    }

    [Fact]
    public void Wireshark_reads_the_same_mptcp_options_as_the_parser()
    {
        var frames = Frames();
        var dir = Directory.CreateTempSubdirectory("switchyard-mptcpopt-");
        try
        {
            var pcap = Path.Combine(dir.FullName, "mptcp.pcap");
            PcapWriter.WriteAll(pcap, frames);
            var packets = Tshark.Fields(pcap, Fields);
            Assert.Equal(frames.Length, packets.Count);
            for (int n = 0; n < frames.Length; n++)
            {
                var t = packets[n];
                var info = ParseFrame(frames[n], out var verdict);
                string ctx = $"frame {n + 1}: " + string.Join(", ", Fields.Where(t.Has).Select(f => $"{f.Replace("tcp.options.mptcp.", "")}={string.Join('|', t.All(f))}"));
                Assert.True(verdict == MptcpParse.Ok, $"{ctx}: parser says {verdict} ({info.Error})");
                Assert.True(Tshark.ChecksumProblems(t).Count == 0, $"{ctx}: {string.Join(", ", Tshark.ChecksumProblems(t))}");
                Assert.False(t.Has("_ws.malformed"), $"{ctx}: tshark finds the frame malformed");
                try { Compare(t, info); }
                catch (Exception e) { throw new Xunit.Sdk.XunitException($"{ctx}\n{e.Message}"); }
            }
        }
        finally
        {
            if (Environment.GetEnvironmentVariable("MPTCPOPT_KEEP") is null) dir.Delete(true);
        }
    }

    static void Compare(TsharkPacket t, MptcpInfo info)
    {
        // Subtypes: tshark lists one per option, in order; the parser has the set.
        var subtypes = t.All("tcp.options.mptcp.subtype").Select(s => (int)Num(s)).ToList();
        Assert.Equal(info.OptionCount, subtypes.Count);
        Assert.Equal(info.Subtypes, subtypes.Aggregate(MptcpSubtypes.None, (acc, s) => acc | (MptcpSubtypes)(1 << s)));

        if (info.Has(MptcpSubtypes.Capable))
        {
            Assert.Equal(info.Version, (int)Num(t["tcp.options.mptcp.version"]));
            Assert.Equal(info.DenyJoinId0, Flag(t["tcp.options.mptcp.nomoresubflows.flag"]));
            Assert.Equal(info.ChecksumRequired, Flag(t["tcp.options.mptcp.checksumreq.flags"]));
            Assert.Equal(info.HasSenderKey, t.Has("tcp.options.mptcp.sendkey"));
            if (info.HasSenderKey) Assert.Equal(info.SenderKey, Num(t["tcp.options.mptcp.sendkey"]));
            Assert.Equal(info.HasReceiverKey, t.Has("tcp.options.mptcp.recvkey"));
            if (info.HasReceiverKey) Assert.Equal(info.ReceiverKey, Num(t["tcp.options.mptcp.recvkey"]));
            if (info.HasDataLevelLength) Assert.Equal(info.CapDataLevelLength, (ushort)Num(t["tcp.options.mptcp.datalvllen"]));
        }
        if (info.Has(MptcpSubtypes.Join))
        {
            switch (info.JoinPhase)
            {
                case MptcpJoinPhase.Syn:
                    Assert.Equal(info.JoinToken, (uint)Num(t["tcp.options.mptcp.recvtok"]));
                    Assert.Equal(info.JoinNonce, (uint)Num(t["tcp.options.mptcp.sendrand"]));
                    Assert.Equal(info.JoinAddressId, (byte)Num(t["tcp.options.mptcp.addrid"]));
                    Assert.Equal(info.JoinBackup, Flag(t["tcp.options.mptcp.backup.flag"]));
                    break;
                case MptcpJoinPhase.SynAck:
                    Assert.Equal(info.JoinTruncatedHmac, Num(t["tcp.options.mptcp.sendtrunchmac"]));
                    Assert.Equal(info.JoinNonce, (uint)Num(t["tcp.options.mptcp.sendrand"]));
                    Assert.Equal(info.JoinAddressId, (byte)Num(t["tcp.options.mptcp.addrid"]));
                    break;
                case MptcpJoinPhase.Ack:
                    Assert.Equal("0102030405060708090a0b0c0d0e0f1011121314", t["tcp.options.mptcp.sendhmac"]!.Replace(":", ""));
                    break;
            }
        }
        if (info.Has(MptcpSubtypes.Dss))
        {
            Assert.Equal(info.DataFin, Flag(t["tcp.options.mptcp.datafin.flag"]));
            Assert.Equal(info.HasDataAck, t.Has("tcp.options.mptcp.rawdataack"));
            if (info.HasDataAck) Assert.Equal(info.DataAck, Num(t["tcp.options.mptcp.rawdataack"]));
            if (info.HasMapping)
            {
                Assert.Equal(info.DataSequence, Num(t["tcp.options.mptcp.rawdataseqno"]));
                Assert.Equal(info.SubflowSequence, (uint)Num(t["tcp.options.mptcp.subflowseqno"]));
                Assert.Equal(info.DataLevelLength, (ushort)Num(t["tcp.options.mptcp.datalvllen"]));
            }
            // tshark 4.0 shows the DSS checksum only when `optlen >= offset - start_offset + 4` after the
            // data-level length, i.e. two bytes more than the option holds, so a well-formed checksum is never
            // shown; compare it only if this tshark does show it.
            if (t.Has("tcp.options.mptcp.checksum")) Assert.Equal(info.DssChecksum, (ushort)Num(t["tcp.options.mptcp.checksum"]));
        }
        if (info.Has(MptcpSubtypes.AddAddr))
        {
            var field = info.AddAddrIsV6 ? "tcp.options.mptcp.ipv6" : "tcp.options.mptcp.ipv4";
            Assert.Equal(info.AddAddr, Addr128.Parse(t[field]!));
            Assert.Equal(info.AddAddrEcho, Flag(t["tcp.options.mptcp.echo"]));
            Assert.Equal(info.AddAddrHasPort, t.Has("tcp.options.mptcp.port"));
            if (info.AddAddrHasPort) Assert.Equal(info.AddAddrPort, (ushort)Num(t["tcp.options.mptcp.port"]));
            Assert.Equal(info.AddAddrHasHmac, t.Has("tcp.options.mptcp.addaddrtrunchmac"));
            if (info.AddAddrHasHmac) Assert.Equal(info.AddAddrHmac, Num(t["tcp.options.mptcp.addaddrtrunchmac"]));
            Assert.Contains(info.AddAddrId, t.All("tcp.options.mptcp.addrid").Select(s => (byte)Num(s)));
        }
        if (info.Has(MptcpSubtypes.RemoveAddr))
            Assert.Contains(info.RemoveAddrId(0), t.All("tcp.options.mptcp.addrid").Select(s => (byte)Num(s)));
        if (info.Has(MptcpSubtypes.Prio))
            Assert.Equal(info.PrioBackup, Flag(t["tcp.options.mptcp.backup.flag"]));
        if (info.Has(MptcpSubtypes.FastClose))
            Assert.Equal(info.FastCloseKey, Num(t["tcp.options.mptcp.recvkey"]));
        if (info.Has(MptcpSubtypes.TcpRst))
        {
            Assert.Equal(info.TcpRstReason, (byte)Num(t["tcp.options.mptcp.rst_reason"]));
            Assert.Equal((info.TcpRstFlags & 1) != 0, Flag(t["tcp.options.mptcp.flag_T.flag"]));
        }
    }
}
