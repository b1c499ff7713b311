using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Harness;

/// <summary>Proves FrameBuilder against an independent dissector: every frame kind parses as intended in tshark,
/// with checksums tshark itself verifies as Good.</summary>
public sealed class FrameBuilderTsharkTests : IDisposable
{
    const string C = "02:53:59:01:00:01", L = "02:53:59:03:00:00";
    readonly string _dir = Directory.CreateTempSubdirectory("sy-frames-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    List<TsharkPacket> Dissect(IEnumerable<byte[]> frames, params string[] fields)
    {
        var path = Path.Combine(_dir, $"f{Guid.NewGuid():N}.pcap");
        PcapWriter.WriteAll(path, frames);
        return Tshark.Fields(path, fields);
    }

    static void AssertGood(TsharkPacket p, params string[] statusFields)
    {
        Assert.Empty(Tshark.ChecksumProblems(p));
        foreach (var f in statusFields) Assert.True(p[f] == Tshark.StatusGood, $"frame {p.Number}: {f}={p[f] ?? "absent"}");
    }

    [Fact]
    public void Tshark_is_installed() => Assert.True(File.Exists(Tshark.Executable));

    [Fact]
    public void Ipv4_tcp_with_ip_and_tcp_options_in_vlan()
    {
        var f = FrameBuilder.Ethernet(C, L).Vlan(100, pcp: 3)
            .Ipv4("198.18.0.11", "198.18.0.100", options: [0x94, 0x04, 0, 0]) // Router Alert
            .Tcp(40000, 80, TcpFlags.Syn, seq: 7, options: [.. TcpOptions.Mss(1460), .. TcpOptions.SackPermitted(),
                .. TcpOptions.Timestamps(1, 0), .. TcpOptions.WindowScale(7), .. TcpOptions.MpCapable()])
            .Build();
        var p = Assert.Single(Dissect([f], "frame.protocols", "vlan.id", "vlan.priority", "ip.hdr_len", "ip.opt.type", "tcp.srcport",
            "tcp.dstport", "tcp.flags.syn", "tcp.options.mss_val", "tcp.options.mptcp.subtype", "ip.dst"));
        Assert.Equal("eth:ethertype:vlan:ethertype:ip:tcp:mptcp", p["frame.protocols"]);
        Assert.Equal("100", p["vlan.id"]);
        Assert.Equal("3", p["vlan.priority"]);
        Assert.Equal("24", p["ip.hdr_len"]);
        Assert.Equal("40000", p["tcp.srcport"]);
        Assert.Equal("1460", p["tcp.options.mss_val"]);
        Assert.Equal("0", p["tcp.options.mptcp.subtype"]);
        Assert.Equal("198.18.0.100", p["ip.dst"]);
        AssertGood(p, "ip.checksum.status", "tcp.checksum.status");
    }

    [Fact]
    public void Qinq_ipv4_udp_and_payload()
    {
        var f = FrameBuilder.Ethernet(C, L).Vlan(10, tpid: FrameBuilder.EtherTypeQinQ).Vlan(20)
            .Ipv4("198.18.0.11", "198.18.0.100").Udp(5000, 9999).Payload("hello switchyard").Build();
        var p = Assert.Single(Dissect([f], "frame.protocols", "ieee8021ad.id", "vlan.id", "udp.length", "udp.dstport"));
        Assert.Equal("eth:ethertype:ieee8021ad:ethertype:vlan:ethertype:ip:udp:data", p["frame.protocols"]);
        Assert.Equal("10", p["ieee8021ad.id"]);
        Assert.Equal("20", p["vlan.id"]);
        Assert.Equal("24", p["udp.length"]);
        AssertGood(p, "ip.checksum.status", "udp.checksum.status");
    }

    [Fact]
    public void Ipv6_extension_headers_then_tcp_and_udp()
    {
        var tcp = FrameBuilder.Ethernet(C, L).Ipv6("2001:db8::11", "2001:db8::100", flowLabel: 0x12345)
            .HopByHop([5, 2, 0, 0])            // Router Alert TLV
            .DestinationOptions()
            .Routing(type: 4, segmentsLeft: 0, data: new byte[4 + 16])
            .Tcp(40000, 443, TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr, options: TcpOptions.MpJoinSyn(0xdeadbeef, 42)).Build();
        var udp = FrameBuilder.Ethernet(C, L).Ipv6("2001:db8::11", "2001:db8::100").DestinationOptions([0x1e, 1, 0]).Udp(1, 2).Payload(new byte[33]).Build();
        var ps = Dissect([tcp, udp], "frame.protocols", "ipv6.flow", "ipv6.hopopts.nxt", "ipv6.routing.type", "tcp.dstport",
            "tcp.options.mptcp.recvtok", "udp.length");
        Assert.Equal(2, ps.Count);
        Assert.Equal("eth:ethertype:ipv6:ipv6.hopopts:ipv6.dstopts:ipv6.routing:tcp:mptcp", ps[0]["frame.protocols"]);
        Assert.Equal("0x012345", ps[0]["ipv6.flow"]);
        Assert.Equal("4", ps[0]["ipv6.routing.type"]);
        Assert.Equal("3735928559", ps[0]["tcp.options.mptcp.recvtok"]); // 0xdeadbeef, printed in decimal
        AssertGood(ps[0], "tcp.checksum.status");
        Assert.Equal("eth:ethertype:ipv6:ipv6.dstopts:udp:data", ps[1]["frame.protocols"]);
        Assert.Equal("41", ps[1]["udp.length"]);
        AssertGood(ps[1], "udp.checksum.status");
    }

    [Fact]
    public void Icmp_echo_and_frag_needed_with_quoted_packet()
    {
        var inner = FrameBuilder.Ethernet(C, L).Ipv4("198.18.0.100", "198.18.0.11").Tcp(80, 40000, TcpFlags.Ack).Payload(new byte[100]).Build()[14..];
        var echo = FrameBuilder.Ethernet(C, L).Ipv4("198.18.0.11", "198.18.0.100").Icmp(8, 0, 0x00010001).Payload("ping").Build();
        var err = FrameBuilder.Ethernet(C, L).Ipv4("198.18.0.21", "198.18.0.100").Icmp(3, 4, 1400).Payload(inner[..48]).Build();
        var ps = Dissect([echo, err], "frame.protocols", "icmp.type", "icmp.code", "icmp.mtu", "tcp.srcport");
        Assert.Equal("8", ps[0]["icmp.type"]);
        AssertGood(ps[0], "ip.checksum.status", "icmp.checksum.status");
        Assert.Equal("3", ps[1]["icmp.type"]);
        Assert.Equal("4", ps[1]["icmp.code"]);
        Assert.Equal("1400", ps[1]["icmp.mtu"]);
        Assert.Equal("80", ps[1]["tcp.srcport"]); // the quoted packet's ports, as the appliance must read them
        Assert.Equal(Tshark.StatusGood, ps[1].All("ip.checksum.status")[0]);
        Assert.Equal(Tshark.StatusGood, ps[1]["icmp.checksum.status"]);
    }

    [Fact]
    public void Icmpv6_echo_packet_too_big_neighbor_solicitation_and_advertisement()
    {
        var inner = FrameBuilder.Ethernet(C, L).Ipv6("2001:db8::100", "2001:db8::11").Tcp(80, 40000, TcpFlags.Ack).Build()[14..];
        var echo = FrameBuilder.Ethernet(C, L).Ipv6("2001:db8::11", "2001:db8::100").Icmpv6(128, 0, 0x00070001).Payload("ping").Build();
        var ptb = FrameBuilder.Ethernet(C, L).Ipv6("2001:db8::21", "2001:db8::100").Icmpv6(2, 0, 1280).Payload(inner).Build();
        var ns = FrameBuilder.NeighborSolicitation(C, "2001:db8::11", "2001:db8::100");
        var na = FrameBuilder.NeighborAdvertisement(L, "2001:db8::100", C, "2001:db8::11");
        var ps = Dissect([echo, ptb, ns, na], "icmpv6.type", "icmpv6.mtu", "icmpv6.nd.ns.target_address", "icmpv6.opt.linkaddr",
            "icmpv6.nd.na.flag.s", "ipv6.dst", "eth.dst");
        Assert.Equal(4, ps.Count);
        Assert.Equal("128", ps[0]["icmpv6.type"]);
        Assert.Equal("1280", ps[1]["icmpv6.mtu"]);
        Assert.Equal("135", ps[2]["icmpv6.type"]);
        Assert.Equal("2001:db8::100", ps[2]["icmpv6.nd.ns.target_address"]);
        Assert.Equal("ff02::1:ff00:100", ps[2]["ipv6.dst"]);
        Assert.Equal("33:33:ff:00:01:00", ps[2]["eth.dst"]);
        Assert.Equal(C, ps[2]["icmpv6.opt.linkaddr"]);
        Assert.Equal("136", ps[3]["icmpv6.type"]);
        Assert.Equal(L, ps[3]["icmpv6.opt.linkaddr"]);
        foreach (var p in ps) Assert.Equal(Tshark.StatusGood, p["icmpv6.checksum.status"]);
    }

    [Fact]
    public void Arp_request_and_reply()
    {
        var ps = Dissect([FrameBuilder.ArpRequest(C, "198.18.0.11", "198.18.0.100"), FrameBuilder.ArpReply(L, "198.18.0.100", C, "198.18.0.11")],
            "frame.protocols", "arp.opcode", "arp.src.proto_ipv4", "arp.dst.proto_ipv4", "arp.src.hw_mac", "eth.dst");
        Assert.Equal("eth:ethertype:arp", ps[0]["frame.protocols"]);
        Assert.Equal("1", ps[0]["arp.opcode"]);
        Assert.Equal("ff:ff:ff:ff:ff:ff", ps[0]["eth.dst"]);
        Assert.Equal("198.18.0.100", ps[0]["arp.dst.proto_ipv4"]);
        Assert.Equal("2", ps[1]["arp.opcode"]);
        Assert.Equal(L, ps[1]["arp.src.hw_mac"]);
    }

    [Fact]
    public void Ipv4_fragments_reassemble_with_good_checksums()
    {
        var b = FrameBuilder.Ethernet(C, L).Vlan(7).Ipv4("198.18.0.11", "198.18.0.100", id: 0x4242, options: [0x94, 4, 0, 0])
            .Udp(5000, 6000).Payload(Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray());
        var frags = b.BuildFragments(1400);
        Assert.Equal(3, frags.Count);
        var ps = Dissect(frags, "ip.flags.mf", "ip.frag_offset", "ip.hdr_len", "ip.id", "ip.reassembled.length", "udp.length");
        Assert.Equal(["1", "1", "0"], ps.Select(p => p["ip.flags.mf"]));
        Assert.Equal(["0", "175", "350"], ps.Select(p => p["ip.frag_offset"])); // tshark 4.0 shows 8-byte units
        Assert.Equal(["24", "24", "24"], ps.Select(p => p["ip.hdr_len"])); // Router Alert (0x94) has the copy bit: every fragment carries it
        foreach (var p in ps) Assert.Equal(Tshark.StatusGood, p["ip.checksum.status"]);
        Assert.Equal("3008", ps[2]["ip.reassembled.length"]);
        Assert.Equal(Tshark.StatusGood, ps[2]["udp.checksum.status"]);
    }

    [Fact]
    public void Ipv6_fragments_keep_unfragmentable_headers_and_reassemble()
    {
        var b = FrameBuilder.Ethernet(C, L).Ipv6("2001:db8::11", "2001:db8::100").HopByHop()
            .Tcp(40000, 80, TcpFlags.Ack | TcpFlags.Psh).Payload(new byte[2500]);
        var frags = b.BuildFragments(1232, ipv6FragmentId: 99);
        Assert.Equal(3, frags.Count);
        var ps = Dissect(frags, "frame.protocols", "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.ident", "ipv6.reassembled.length");
        Assert.All(ps, p => Assert.StartsWith("eth:ethertype:ipv6:ipv6.hopopts:ipv6.fraghdr", p["frame.protocols"]));
        Assert.Equal(["0x00000063", "0x00000063", "0x00000063"], ps.Select(p => p["ipv6.fraghdr.ident"]));
        Assert.Equal("2520", ps[2]["ipv6.reassembled.length"]);
        Assert.Equal(Tshark.StatusGood, ps[2]["tcp.checksum.status"]);
    }

    [Fact]
    public void Bad_checksums_are_reported_bad()
    {
        var tcp = FrameBuilder.Ethernet(C, L).Ipv4("198.18.0.11", "198.18.0.100").Tcp(1, 2, TcpFlags.Syn).BadChecksum().Build();
        var udp6 = FrameBuilder.Ethernet(C, L).Ipv6("2001:db8::11", "2001:db8::100").Udp(1, 2).Payload("x").BadChecksum().Build();
        var ip = FrameBuilder.Ethernet(C, L).Ipv4("198.18.0.11", "198.18.0.100", protocol: 253).Payload("x").BadChecksum().Build();
        var ps = Dissect([tcp, udp6, ip]);
        Assert.Equal(Tshark.StatusGood, ps[0]["ip.checksum.status"]);
        Assert.Equal(Tshark.StatusBad, ps[0]["tcp.checksum.status"]);
        Assert.Equal(Tshark.StatusBad, ps[1]["udp.checksum.status"]);
        Assert.Equal(Tshark.StatusBad, ps[2]["ip.checksum.status"]);
        Assert.NotEmpty(Tshark.ChecksumProblems(ps[0]));
    }

    [Fact]
    public void Pcap_round_trip_and_tshark_json()
    {
        var frames = Enumerable.Range(0, 5).Select(i =>
            FrameBuilder.Ethernet(C, L).Ipv4("198.18.0.11", "198.18.0.100").Udp((ushort)(1000 + i), 53).Payload(new byte[i]).PadTo(60).Build()).ToList();
        var path = Path.Combine(_dir, "rt.pcap");
        PcapWriter.WriteAll(path, frames);
        var back = PcapReader.ReadAll(path, out var linkType);
        Assert.Equal(PcapWriter.LinkTypeEthernet, linkType);
        Assert.Equal(frames, back.Select(p => p.Data));
        Assert.True(back.Zip(back.Skip(1)).All(x => x.First.Timestamp < x.Second.Timestamp));
        using var doc = Tshark.Json(path);
        Assert.Equal(5, doc.RootElement.GetArrayLength());
        var udp = doc.RootElement[4].GetProperty("_source").GetProperty("layers").GetProperty("udp");
        Assert.Equal("1004", udp.GetProperty("udp.srcport").GetString());
        Tshark.AssertChecksumsGood(path);
    }

    [Fact]
    public void Checksum_helper_matches_rfc1071_example()
    {
        // RFC 1071 section 3 example: sum of 0001 f203 f4f5 f6f7 is ddf2 (+carry), checksum ~ = 220d.
        Assert.Equal(0x220d, Checksum.Fold(Checksum.Sum([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])));
    }
}
