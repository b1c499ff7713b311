using System.Runtime.InteropServices;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Forwarding;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Tests.Infrastructure;
using static Switchyard.Tests.Forwarding.TestFrames;

namespace Switchyard.Tests.Forwarding;

/// <summary>
/// The RST that refuses an MP_JOIN SYN (or any TCP segment), built in place. Frames come from the test
/// FrameBuilder, are parsed by the real parser, and every field of the result is checked against values
/// computed here, with the test's own reference checksums.
/// </summary>
public unsafe class TcpResetTests
{
    const string ClientMacText = "02:11:22:33:44:55", OurMacText = "02:aa:bb:cc:dd:ee";
    const string Client4 = "198.51.100.7", Vip4 = "203.0.113.10", Client6 = "2001:db8:c::7", Vip6 = "2001:db8:f::10";
    const ushort ClientPort = 40000, VipPort = 443;
    const ushort Vid = 100;

    static readonly byte[] JoinOptions = [.. TcpOptions.Mss(1460), .. TcpOptions.SackPermitted(),
        .. TcpOptions.MpJoinSyn(token: 0xCAFEBABE, nonce: 0x11223344, addressId: 2)];

    /// <summary>What the RST must say about the refused segment.</summary>
    readonly record struct Expect(uint Seq, uint Ack, byte Flags);

    static FrameBuilder Eth(bool vlan)
    {
        var b = FrameBuilder.Ethernet(ClientMacText, OurMacText);
        return vlan ? b.Vlan(Vid, pcp: 3) : b;
    }

    static FrameBuilder Ip(FrameBuilder b, bool v6) => v6 ? b.Ipv6(Client6, Vip6, hopLimit: 50, flowLabel: 0xABCDE, trafficClass: 0x28)
        : b.Ipv4(Client4, Vip4, ttl: 50, id: 0x7777, dontFragment: false, tos: 0x28);

    static byte[] JoinSyn(bool v6, bool vlan, uint seq = 0x10203040) =>
        Ip(Eth(vlan), v6).Tcp(ClientPort, VipPort, TcpFlags.Syn, seq: seq, options: JoinOptions).Build();

    static PacketInfo Parse(byte[] frame)
    {
        var info = new PacketInfo();
        fixed (byte* f = frame) Assert.Equal(DropReason.None, PacketParser.Parse(f, frame.Length, ref info));
        return info;
    }

    /// <summary>Runs the builder on a copy of <paramref name="frame"/>; returns the RST (or null and the result).</summary>
    static (DropReason Result, byte[]? Rst, byte[] After) Reset(byte[] frame, bool withOption, byte reason = TcpReset.ReasonMptcpSpecific)
    {
        var info = Parse(frame);
        using var buf = new FrameBuffer(frame);
        var r = TcpReset.BuildForSyn(buf.Frame, buf.Length, info, OurMac, withOption, reason, out ushort newLen);
        return (r, r == DropReason.None ? buf.Read(0, newLen) : null, buf.Read(0, buf.Length));
    }

    /// <summary>Checks every header field of the RST built from <paramref name="original"/>.</summary>
    static void AssertRst(byte[] original, byte[] o, bool v6, bool vlan, bool withOption, Expect e, byte reason = TcpReset.ReasonMptcpSpecific)
    {
        int l2 = vlan ? 18 : 14, ipHdr = v6 ? 40 : 20, tcpLen = withOption ? 24 : 20;
        Assert.Equal(l2 + ipHdr + tcpLen, o.Length);

        // Ethernet: back to the client from us, same tag, same EtherType.
        Assert.Equal(ClientMac, ReadMac(o, 0));
        Assert.Equal(OurMac, ReadMac(o, 6));
        if (vlan)
        {
            Assert.Equal(0x8100, Be16(o, 12));
            Assert.Equal(3 << 13 | Vid, Be16(o, 14));
        }
        Assert.Equal(v6 ? 0x86DD : 0x0800, Be16(o, l2 - 2));

        int ip = l2, tcp = l2 + ipHdr;
        if (!v6)
        {
            Assert.Equal(0x45, o[ip]);
            Assert.Equal(0, o[ip + 1]);
            Assert.Equal(ipHdr + tcpLen, Be16(o, ip + 2));
            Assert.Equal(0, Be16(o, ip + 4));                  // ID 0
            Assert.Equal(0x4000, Be16(o, ip + 6));             // DF, offset 0
            Assert.Equal(64, o[ip + 8]);
            Assert.Equal(6, o[ip + 9]);
            Assert.Equal(Addr128.Parse(Vip4), ReadAddr(o, ip + 12, false));
            Assert.Equal(Addr128.Parse(Client4), ReadAddr(o, ip + 16, false));
            Assert.True(RefValid(o, ip, 20), "IPv4 header checksum");
        }
        else
        {
            Assert.Equal(0x6000_0000u, Be32(o, ip));           // traffic class and flow label 0
            Assert.Equal(tcpLen, Be16(o, ip + 4));
            Assert.Equal(6, o[ip + 6]);                        // extension headers dropped
            Assert.Equal(64, o[ip + 7]);
            Assert.Equal(Addr128.Parse(Vip6), ReadAddr(o, ip + 8, true));
            Assert.Equal(Addr128.Parse(Client6), ReadAddr(o, ip + 24, true));
        }

        Assert.Equal(VipPort, Be16(o, tcp));
        Assert.Equal(ClientPort, Be16(o, tcp + 2));
        Assert.Equal(e.Seq, Be32(o, tcp + 4));
        Assert.Equal(e.Ack, Be32(o, tcp + 8));
        Assert.Equal(tcpLen / 4, o[tcp + 12] >> 4);
        Assert.Equal(0, o[tcp + 12] & 0x0F);
        Assert.Equal(e.Flags, o[tcp + 13]);
        Assert.Equal(0, Be16(o, tcp + 14));                    // window
        Assert.Equal(0, Be16(o, tcp + 18));                    // urgent pointer
        if (withOption) Assert.Equal(new byte[] { 30, 4, 0x80, reason }, o.AsSpan(tcp + 20, 4).ToArray());
        Assert.True(RefValid(o, tcp, tcpLen, RefPseudoSum(o, ip, v6, 6, tcpLen)), "TCP checksum");

        // The result is a well-formed frame for our own parser too.
        var back = Parse(o);
        Assert.Equal(6, back.Protocol);
        Assert.Equal(0, back.PayloadLength);
        Assert.True(o.Length <= original.Length, "the RST never grows the frame");
    }

    static byte RstAck => TcpFlag.Rst | TcpFlag.Ack;

    [Theory]
    [InlineData(false, false, true)]
    [InlineData(false, true, true)]
    [InlineData(true, false, true)]
    [InlineData(true, true, true)]
    [InlineData(false, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, false, false)]
    [InlineData(true, true, false)]
    public void Mp_join_syn_becomes_a_rst_ack_to_the_sender_acknowledging_the_syn(bool v6, bool vlan, bool withOption)
    {
        var frame = JoinSyn(v6, vlan);
        var (r, rst, _) = Reset(frame, withOption);
        Assert.Equal(DropReason.None, r);
        AssertRst(frame, rst!, v6, vlan, withOption, new Expect(0, 0x10203041, RstAck));
    }

    [Fact]
    public void Mp_tcprst_carries_the_given_reason_with_the_transient_flag_clear()
    {
        var frame = JoinSyn(false, false);
        var (r, rst, _) = Reset(frame, true, TcpReset.ReasonAdministrativelyProhibited);
        Assert.Equal(DropReason.None, r);
        AssertRst(frame, rst!, false, false, true, new Expect(0, 0x10203041, RstAck), TcpReset.ReasonAdministrativelyProhibited);
    }

    [Fact]
    public void Acknowledgment_number_wraps_around_when_the_syn_sequence_number_is_the_largest()
    {
        var frame = JoinSyn(true, false, seq: 0xFFFF_FFFF);
        var (r, rst, _) = Reset(frame, true);
        Assert.Equal(DropReason.None, r);
        AssertRst(frame, rst!, true, false, true, new Expect(0, 0, RstAck));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Ipv4_options_are_dropped_and_the_tcp_header_moves_forward_shrinking_the_frame(bool vlan)
    {
        // Router alert (4 bytes) + NOPs + a record-route with room for two addresses: 16 bytes of options.
        byte[] ipOptions = [0x94, 4, 0, 0, 1, 1, 1, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        var frame = Eth(vlan).Ipv4(Client4, Vip4, ttl: 50, id: 0x7777, options: ipOptions)
            .Tcp(ClientPort, VipPort, TcpFlags.Syn, seq: 5000, options: JoinOptions).Build();
        var info = Parse(frame);
        Assert.True(info.Has(PacketFlags.HasIpOptions));
        Assert.Equal(20 + 20, info.L4Offset - info.L3Offset);

        var (r, rst, _) = Reset(frame, true);
        Assert.Equal(DropReason.None, r);
        AssertRst(frame, rst!, false, vlan, true, new Expect(0, 5001, RstAck));
        Assert.True(rst!.Length < frame.Length - 20);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Ipv6_extension_headers_are_dropped_and_the_tcp_header_follows_the_fixed_header(bool vlan)
    {
        var frame = Eth(vlan).Ipv6(Client6, Vip6, hopLimit: 50, flowLabel: 1, trafficClass: 0x28)
            .HopByHop([5, 2, 0, 0]).DestinationOptions()
            .Tcp(ClientPort, VipPort, TcpFlags.Syn, seq: 77, options: JoinOptions).Build();
        var info = Parse(frame);
        Assert.True(info.Has(PacketFlags.HasExtensionHeaders));
        Assert.Equal(40 + 16, info.L4Offset - info.L3Offset);

        var (r, rst, _) = Reset(frame, true);
        Assert.Equal(DropReason.None, r);
        AssertRst(frame, rst!, true, vlan, true, new Expect(0, 78, RstAck));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Syn_with_payload_is_acknowledged_past_the_syn_and_every_payload_byte(bool v6)
    {
        var frame = Ip(Eth(false), v6).Tcp(ClientPort, VipPort, TcpFlags.Syn, seq: 1000, options: JoinOptions)
            .Payload(new byte[37]).Build();
        var (r, rst, _) = Reset(frame, true);
        Assert.Equal(DropReason.None, r);
        AssertRst(frame, rst!, v6, false, true, new Expect(0, 1000 + 1 + 37, RstAck));
    }

    [Fact]
    public void Syn_fin_with_payload_counts_the_syn_and_the_fin_once_each()
    {
        var frame = Ip(Eth(true), false).Tcp(ClientPort, VipPort, TcpFlags.Syn | TcpFlags.Fin, seq: 1000, options: JoinOptions)
            .Payload(new byte[5]).Build();
        var (r, rst, _) = Reset(frame, false);
        Assert.Equal(DropReason.None, r);
        AssertRst(frame, rst!, false, true, false, new Expect(0, 1000 + 1 + 5 + 1, RstAck));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Segment_with_ack_gets_a_plain_rst_whose_sequence_number_is_its_acknowledgment_number(bool v6, bool withOption)
    {
        var frame = Ip(Eth(v6), v6).Tcp(ClientPort, VipPort, TcpFlags.Ack | TcpFlags.Psh, seq: 1000, ack: 0xDEAD_BEEF,
            options: TcpOptions.Timestamps(1, 2)).Payload(new byte[100]).Build();
        var (r, rst, _) = Reset(frame, withOption);
        Assert.Equal(DropReason.None, r);
        AssertRst(frame, rst!, v6, v6, withOption, new Expect(0xDEAD_BEEF, 0, TcpFlag.Rst));
    }

    [Fact]
    public void Syn_ack_gets_a_plain_rst_at_its_acknowledgment_number()
    {
        var frame = Ip(Eth(false), true).Tcp(ClientPort, VipPort, TcpFlags.Syn | TcpFlags.Ack, seq: 9, ack: 12345,
            options: JoinOptions).Build();
        var (r, rst, _) = Reset(frame, true);
        Assert.Equal(DropReason.None, r);
        AssertRst(frame, rst!, true, false, true, new Expect(12345, 0, TcpFlag.Rst));
    }

    [Fact]
    public void Minimal_syn_padded_to_the_ethernet_minimum_has_room_for_the_option()
    {
        var frame = Ip(Eth(false), false).Tcp(ClientPort, VipPort, TcpFlags.Syn, seq: 3).PadTo(60).Build();
        var (r, rst, _) = Reset(frame, true);
        Assert.Equal(DropReason.None, r);
        AssertRst(frame, rst!, false, false, true, new Expect(0, 4, RstAck));
    }

    [Fact]
    public void Rst_that_would_be_longer_than_the_frame_is_not_possible_and_leaves_the_frame_alone()
    {
        var frame = Ip(Eth(false), false).Tcp(ClientPort, VipPort, TcpFlags.Syn, seq: 3).Build();
        Assert.Equal(54, frame.Length);
        var (r, _, after) = Reset(frame, true);
        Assert.Equal(DropReason.ResetNotPossible, r);
        Assert.Equal(frame, after);

        // Without the option the RST is exactly as long as the SYN.
        var (r2, rst, _) = Reset(frame, false);
        Assert.Equal(DropReason.None, r2);
        AssertRst(frame, rst!, false, false, false, new Expect(0, 4, RstAck));
    }

    [Fact]
    public void A_rst_is_never_answered_with_a_rst()
    {
        var frame = Ip(Eth(false), false).Tcp(ClientPort, VipPort, TcpFlags.Rst | TcpFlags.Ack, seq: 3, ack: 4).PadTo(60).Build();
        var (r, _, after) = Reset(frame, true);
        Assert.Equal(DropReason.ResetNotPossible, r);
        Assert.Equal(frame, after);
    }

    [Fact]
    public void Udp_is_not_answered_with_a_rst()
    {
        var frame = Ip(Eth(false), true).Udp(ClientPort, VipPort).Payload(new byte[40]).Build();
        var (r, _, after) = Reset(frame, true);
        Assert.Equal(DropReason.ResetNotPossible, r);
        Assert.Equal(frame, after);
    }

    [Fact]
    public void First_fragment_of_a_syn_is_not_answered_because_its_length_is_unknown()
    {
        var frags = Ip(Eth(false), false).Tcp(ClientPort, VipPort, TcpFlags.Syn, options: JoinOptions)
            .Payload(new byte[200]).BuildFragments(96);
        var frame = frags[0];
        Assert.True(Parse(frame).Has(PacketFlags.Fragment));
        var (r, _, after) = Reset(frame, true);
        Assert.Equal(DropReason.ResetNotPossible, r);
        Assert.Equal(frame, after);
    }

    [Fact]
    public void Building_a_rst_allocates_nothing()
    {
        var frame = Eth(true).Ipv4(Client4, Vip4, options: [0x94, 4, 0, 0])
            .Tcp(ClientPort, VipPort, TcpFlags.Syn, options: JoinOptions).Build();
        var info = Parse(frame);
        using var buf = new FrameBuffer(frame);
        var original = (byte*)NativeMemory.Alloc((nuint)frame.Length);
        try
        {
            frame.CopyTo(new Span<byte>(original, frame.Length));
            ushort n = 0;
            for (int warm = 0; warm < 3; warm++)
            {
                Buffer.MemoryCopy(original, buf.Frame, frame.Length, frame.Length);
                TcpReset.BuildForSyn(buf.Frame, frame.Length, info, OurMac, true, 1, out n);
            }
            long before = GC.GetAllocatedBytesForCurrentThread();
            var r = DropReason.None;
            for (int i = 0; i < 1000; i++)
            {
                Buffer.MemoryCopy(original, buf.Frame, frame.Length, frame.Length);
                r |= TcpReset.BuildForSyn(buf.Frame, frame.Length, info, OurMac, (i & 1) == 0, 1, out n);
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(DropReason.None, r);
            Assert.Equal(0, allocated);
        }
        finally { NativeMemory.Free(original); }
    }

    /// <summary>A tshark number field: decimal, or hexadecimal with 0x (tshark prints rst_reason as 0x01).</summary>
    static int Number(string? field)
    {
        Assert.NotNull(field);
        return field.StartsWith("0x") ? Convert.ToInt32(field[2..], 16) : int.Parse(field);
    }

    [Fact]
    public void Tshark_sees_rsts_with_good_checksums_and_an_mp_tcprst_with_the_reason()
    {
        var cases = new List<(byte[] Rst, bool V6, bool Option, bool Ack)>();
        foreach (var v6 in new[] { false, true })
            foreach (var vlan in new[] { false, true })
                foreach (var option in new[] { true, false })
                {
                    var (r, rst, _) = Reset(JoinSyn(v6, vlan), option);
                    Assert.Equal(DropReason.None, r);
                    cases.Add((rst!, v6, option, false));
                }
        {
            var frame = Eth(false).Ipv4(Client4, Vip4, options: [0x94, 4, 0, 0]).Tcp(ClientPort, VipPort, TcpFlags.Syn, options: JoinOptions).Build();
            cases.Add((Reset(frame, true).Rst!, false, true, false));
            frame = Eth(true).Ipv6(Client6, Vip6).DestinationOptions().Tcp(ClientPort, VipPort, TcpFlags.Syn, options: JoinOptions).Build();
            cases.Add((Reset(frame, true).Rst!, true, true, false));
            frame = Eth(false).Ipv4(Client4, Vip4).Tcp(ClientPort, VipPort, TcpFlags.Ack, seq: 5, ack: 77).Payload(new byte[10]).Build();
            cases.Add((Reset(frame, true).Rst!, false, true, true));
        }

        string dir = Directory.CreateTempSubdirectory("switchyard-rst-").FullName;
        try
        {
            string pcap = Path.Combine(dir, "rst.pcap");
            using (var w = new PcapWriter(pcap))
                foreach (var c in cases) w.Write(c.Rst);

            Tshark.AssertChecksumsGood(pcap);
            var packets = Tshark.Fields(pcap, ["ip.src", "ipv6.src", "tcp.srcport", "tcp.dstport", "tcp.flags.reset", "tcp.flags.ack",
                "tcp.seq_raw", "tcp.window_size_value", "tcp.len", "tcp.options.mptcp.subtype", "tcp.options.mptcp.rst_reason",
                "tcp.options.mptcp.flag_T.flag"]);
            Assert.Equal(cases.Count, packets.Count);
            for (int i = 0; i < cases.Count; i++)
            {
                var (_, v6, option, ack) = cases[i];
                var p = packets[i];
                string where = $"frame {p.Number}";
                Assert.True(v6 ? p["ipv6.src"] == Vip6 : p["ip.src"] == Vip4, where);
                Assert.Equal(Tshark.StatusGood, p["tcp.checksum.status"]);
                if (!v6) Assert.Equal(Tshark.StatusGood, p["ip.checksum.status"]);
                Assert.Equal("443", p["tcp.srcport"]);
                Assert.Equal("40000", p["tcp.dstport"]);
                Assert.True(p["tcp.flags.reset"] is "1" or "True", where);
                Assert.True(ack ? p["tcp.flags.ack"] is "0" or "False" : p["tcp.flags.ack"] is "1" or "True", where);
                Assert.Equal(ack ? "77" : "0", p["tcp.seq_raw"]);
                Assert.Equal("0", p["tcp.window_size_value"]);
                Assert.Equal("0", p["tcp.len"]);
                if (option)
                {
                    Assert.Equal(8, Number(p["tcp.options.mptcp.subtype"]));
                    Assert.Equal(TcpReset.ReasonMptcpSpecific, Number(p["tcp.options.mptcp.rst_reason"]));
                    Assert.True(p["tcp.options.mptcp.flag_T.flag"] is "0" or "False", where);
                }
                else Assert.False(p.Has("tcp.options.mptcp.subtype"), where);
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
