using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Parsing;
using static Switchyard.Tests.Parsing.Frames;

namespace Switchyard.Tests.Parsing;

public class PacketParserMalformedTests
{
    static void Expect(DropReason expected, byte[] frame, string what = "")
    {
        var got = Parse(frame, out _);
        Assert.True(expected == got, $"{what}: expected {expected}, got {got} (frame length {frame.Length})");
    }

    /// <summary>Every prefix of <paramref name="frame"/> with length in [from, to) yields <paramref name="expected"/>.</summary>
    static void ExpectForPrefixes(DropReason expected, byte[] frame, int from, int to)
    {
        for (int n = from; n < to; n++) Expect(expected, frame[..n], $"prefix {n}");
    }

    // ---- Layer 2 ----
    [Fact]
    public void Frames_shorter_than_an_ethernet_header_are_runts()
    {
        ExpectForPrefixes(DropReason.RuntFrame, V4Tcp(), 0, 14);
        Assert.Equal(DropReason.RuntFrame, Parse(V4Tcp(), -1, out _));
    }

    [Fact]
    public void A_truncated_vlan_tag_is_reported_at_every_length()
    {
        ExpectForPrefixes(DropReason.VlanTruncated, EthVlan(1, EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(1, 2))), 14, 18);
        ExpectForPrefixes(DropReason.VlanTruncated, EthQinQ(1, 2, EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(1, 2))), 14, 22);
    }

    [Fact]
    public void Unsupported_ether_types_are_rejected()
    {
        Expect(DropReason.UnsupportedEtherType, Eth(0x88CC, Bytes(40)), "LLDP");
        Expect(DropReason.UnsupportedEtherType, EthVlan(1, 0x8100, Bytes(40)), "two 802.1Q tags");
        Expect(DropReason.UnsupportedEtherType, Cat(DstMac, SrcMac, Be16(0x88A8), Be16(1), Be16(0x0800), Bytes(40)), "802.1ad without a C-tag");
        Expect(DropReason.UnsupportedEtherType, Eth(0x0842, Bytes(40)), "Wake-on-LAN");
    }

    // ---- ARP ----
    [Fact]
    public void Truncated_arp_is_malformed_at_every_length()
    {
        ExpectForPrefixes(DropReason.ArpMalformed, Eth(EtherTypes.Arp, Arp(1, "10.0.0.1", "10.0.0.2")), 14, 14 + 28);
    }

    [Fact]
    public void Arp_for_other_hardware_or_protocol_sizes_is_malformed()
    {
        Expect(DropReason.ArpMalformed, Eth(EtherTypes.Arp, Arp(1, "10.0.0.1", "10.0.0.2", htype: 6)), "htype");
        Expect(DropReason.ArpMalformed, Eth(EtherTypes.Arp, Arp(1, "10.0.0.1", "10.0.0.2", ptype: 0x86DD)), "ptype");
        Expect(DropReason.ArpMalformed, Eth(EtherTypes.Arp, Arp(1, "10.0.0.1", "10.0.0.2", hlen: 8)), "hlen");
        Expect(DropReason.ArpMalformed, Eth(EtherTypes.Arp, Arp(1, "10.0.0.1", "10.0.0.2", plen: 16)), "plen");
    }

    // ---- IPv4 ----
    [Fact]
    public void Truncated_ipv4_header_is_reported_at_every_length()
    {
        ExpectForPrefixes(DropReason.Ipv4Truncated, V4Tcp(), 14, 14 + 20);
        var withOptions = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(1, 2), options: [1, 1, 1, 1, 1, 1, 1, 0]));
        ExpectForPrefixes(DropReason.Ipv4Truncated, withOptions, 14, 14 + 28);
    }

    [Fact]
    public void Ipv4_packet_cut_after_its_header_has_a_bad_total_length()
    {
        var f = V4Tcp(Bytes(5));
        ExpectForPrefixes(DropReason.Ipv4BadTotalLength, f, 14 + 20, f.Length);
    }

    [Fact]
    public void Wrong_ip_version_under_the_ipv4_ether_type_is_rejected()
    {
        Expect(DropReason.Ipv4BadVersion, Eth(EtherTypes.IPv4, Ipv4(6, Tcp(1, 2), version: 6)));
        Expect(DropReason.Ipv4BadVersion, Eth(EtherTypes.IPv4, Ipv4(6, Tcp(1, 2), version: 0)));
    }

    [Theory]
    [InlineData(0)] [InlineData(1)] [InlineData(4)]
    public void Ihl_below_five_is_rejected(int ihl)
    {
        Expect(DropReason.Ipv4BadIhl, Eth(EtherTypes.IPv4, Ipv4(6, Tcp(1, 2), ihl: ihl)));
    }

    [Fact]
    public void Ihl_beyond_the_frame_is_truncation()
    {
        Expect(DropReason.Ipv4Truncated, Eth(EtherTypes.IPv4, Ipv4(17, [], ihl: 15)));
    }

    [Theory]
    [InlineData(0)] [InlineData(19)] [InlineData(41)] [InlineData(65535)]
    public void Total_length_outside_header_and_frame_is_rejected(int total)
    {
        Expect(DropReason.Ipv4BadTotalLength, Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2), totalLength: total)));
    }

    [Fact]
    public void Total_length_shorter_than_ihl_is_rejected()
    {
        Expect(DropReason.Ipv4BadTotalLength,
            Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2), options: [1, 1, 1, 0], totalLength: 22)));
    }

    [Fact]
    public void Bad_header_checksum_is_rejected()
    {
        Expect(DropReason.Ipv4BadChecksum, Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2), badChecksum: true)));
        Expect(DropReason.Ipv4BadChecksum, V4Tcp().With(14 + 8, 1)); // TTL changed without updating the checksum
    }

    [Theory]
    [InlineData(new byte[] { 7, 0, 0, 0 })]             // zero-length option
    [InlineData(new byte[] { 7, 1, 0, 0 })]             // one-length option
    [InlineData(new byte[] { 7, 9, 4, 0, 0, 0, 0, 0 })] // overruns the header by one
    [InlineData(new byte[] { 1, 1, 1, 0x44 })]          // length byte missing at the end of the header
    [InlineData(new byte[] { 1, 1, 0x44, 5 })]          // overruns the header
    public void Malformed_ipv4_options_are_rejected(byte[] options)
    {
        Expect(DropReason.Ipv4BadOptions, Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(1, 2), options: options)));
    }

    // ---- IPv6 ----
    [Fact]
    public void Truncated_ipv6_header_is_reported_at_every_length()
    {
        ExpectForPrefixes(DropReason.Ipv6Truncated, V6Tcp(), 14, 14 + 40);
    }

    [Fact]
    public void Wrong_ip_version_under_the_ipv6_ether_type_is_rejected()
    {
        Expect(DropReason.Ipv6BadVersion, Eth(EtherTypes.IPv6, Ipv6(6, Tcp(1, 2), version: 4)));
    }

    [Fact]
    public void Ipv6_payload_length_beyond_the_frame_is_rejected()
    {
        var f = V6Tcp();
        ExpectForPrefixes(DropReason.Ipv6BadPayloadLength, f, 14 + 40 + 1, f.Length);
        Expect(DropReason.Ipv6BadPayloadLength, Eth(EtherTypes.IPv6, Ipv6(6, Tcp(1, 2), payloadLength: 21)));
    }

    [Fact]
    public void Ipv6_jumbograms_are_rejected()
    {
        Expect(DropReason.Ipv6BadPayloadLength, Eth(EtherTypes.IPv6, Ipv6(0, Cat(Ext(17), Udp(1, 2)), payloadLength: 0)));
    }

    [Fact]
    public void Ipv6_extension_headers_cut_short_are_rejected_at_every_length()
    {
        var ext = Cat(Ext(43, 1), Ext(51, 0), AhHeader(44, 1), FragHeader(IpProtocol.Udp, 0, false, 1));
        // HBH(16) -> RT(8) -> AH(12) -> FRAG(8) -> UDP
        for (int n = 0; n < ext.Length; n++)
        {
            var f = Eth(EtherTypes.IPv6, Ipv6(0, ext[..n]));
            Expect(n == 0 ? DropReason.Ipv6BadPayloadLength : DropReason.Ipv6BadExtensionHeader, f, $"ext prefix {n}");
        }
        // All headers present, UDP missing: the upper layer is what is truncated.
        Expect(DropReason.UdpTruncated, Eth(EtherTypes.IPv6, Ipv6(0, ext)));
        Expect(DropReason.None, Eth(EtherTypes.IPv6, Ipv6(0, Cat(ext, Udp(1, 2)))));
    }

    [Fact]
    public void Ipv6_extension_header_longer_than_the_payload_is_rejected()
    {
        var f = Eth(EtherTypes.IPv6, Ipv6(60, Cat(Ext(17, 3)[..16], Udp(1, 2)))); // claims 32 bytes, 24 present
        Expect(DropReason.Ipv6BadExtensionHeader, f);
    }

    [Fact]
    public void Nine_ipv6_extension_headers_are_too_many()
    {
        var chain = Cat(Enumerable.Range(0, 8).Select(_ => Ext(60)).Append(Ext(IpProtocol.Udp)).ToArray());
        Expect(DropReason.Ipv6TooManyExtensionHeaders, Eth(EtherTypes.IPv6, Ipv6(60, Cat(chain, Udp(1, 2)))));
    }

    // ---- TCP ----
    [Fact]
    public void Truncated_tcp_header_is_reported_at_every_length()
    {
        for (int n = 0; n < 20; n++)
        {
            Expect(DropReason.TcpTruncated, Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2)[..n])), $"v4 tcp {n}");
            Expect(DropReason.TcpTruncated, Eth(EtherTypes.IPv6, Ipv6(IpProtocol.Tcp, Tcp(1, 2)[..n])), $"v6 tcp {n}");
        }
    }

    [Theory]
    [InlineData(0)] [InlineData(4)] [InlineData(6)] [InlineData(15)]
    public void Tcp_data_offset_below_five_or_beyond_the_segment_is_rejected(int dataOffset)
    {
        Expect(DropReason.TcpBadDataOffset, Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2, dataOffset: dataOffset))));
    }

    [Theory]
    [InlineData(new byte[] { 2, 0, 0, 0 })]             // zero-length option
    [InlineData(new byte[] { 8, 1, 0, 0 })]             // one-length option
    [InlineData(new byte[] { 1, 1, 2, 4 })]             // MSS overrunning the header
    [InlineData(new byte[] { 1, 1, 1, 3 })]             // length byte missing
    [InlineData(new byte[] { 8, 10, 0, 0, 0, 0, 0, 0 })] // timestamps overrunning the header
    public void Malformed_tcp_options_are_rejected(byte[] options)
    {
        Expect(DropReason.TcpBadOptions, Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2, options: options, payload: Bytes(8)))));
        Expect(DropReason.TcpBadOptions, Eth(EtherTypes.IPv6, Ipv6(IpProtocol.Tcp, Tcp(1, 2, options: options))));
    }

    // ---- UDP ----
    [Fact]
    public void Truncated_udp_header_is_reported_at_every_length()
    {
        for (int n = 0; n < 8; n++)
        {
            Expect(DropReason.UdpTruncated, Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(1, 2)[..n])), $"v4 udp {n}");
            Expect(DropReason.UdpTruncated, Eth(EtherTypes.IPv6, Ipv6(IpProtocol.Udp, Udp(1, 2)[..n])), $"v6 udp {n}");
        }
    }

    [Theory]
    [InlineData(0)] [InlineData(7)] [InlineData(13)] [InlineData(65535)]
    public void Udp_length_below_eight_or_beyond_the_ip_payload_is_rejected(int length)
    {
        Expect(DropReason.UdpBadLength, Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(1, 2, Bytes(4), length))));
        Expect(DropReason.UdpBadLength, Eth(EtherTypes.IPv6, Ipv6(IpProtocol.Udp, Udp(1, 2, Bytes(4), length))));
    }

    [Fact]
    public void Udp_length_below_eight_is_rejected_even_in_a_first_fragment()
    {
        Expect(DropReason.UdpBadLength, Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(1, 2, Bytes(4), 3), fragField: MF)));
    }

    // ---- ICMP ----
    [Fact]
    public void Truncated_icmp_header_is_reported_at_every_length()
    {
        for (int n = 0; n < 8; n++)
        {
            Expect(DropReason.IcmpTruncated, Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Icmp, Icmp(8, 0)[..n])), $"icmp {n}");
            Expect(DropReason.IcmpTruncated, Eth(EtherTypes.IPv6, Ipv6(IpProtocol.IcmpV6, Icmp(128, 0)[..n])), $"icmpv6 {n}");
        }
    }

    [Fact]
    public void Fragmentation_needed_with_a_quote_cut_short_is_malformed_at_every_length()
    {
        var f = V4FragNeeded();
        int quoteStart = 14 + 20 + 8;
        for (int q = 0; q < 28; q++)
        {
            var cut = f[..(quoteStart + q)].With(14 + 2, Be16(20 + 8 + q)).FixIpv4Checksum();
            Expect(DropReason.IcmpErrorMalformed, cut, $"quote {q}");
        }
    }

    [Fact]
    public void Fragmentation_needed_with_a_bad_quoted_header_is_malformed()
    {
        int q = 14 + 20 + 8;
        Expect(DropReason.IcmpErrorMalformed, V4FragNeeded().With(q, 0x65), "inner version 6");
        Expect(DropReason.IcmpErrorMalformed, V4FragNeeded().With(q, 0x44), "inner IHL 4");
        Expect(DropReason.IcmpErrorMalformed, V4FragNeeded().With(q, 0x4F), "inner IHL beyond the quote");
        Expect(DropReason.IcmpErrorMalformed, V4FragNeeded().With(q, 0x47), "inner IHL leaving no L4 bytes");
    }

    [Fact]
    public void Packet_too_big_with_a_quote_cut_before_the_ports_is_malformed_at_every_length()
    {
        for (int cut = 0; cut < 44; cut++)
            Expect(DropReason.IcmpErrorMalformed, V6TooBig(1280, null, cut), $"quote {cut}");
        // Quoted extension header cut short
        for (int cut = 40; cut < 40 + 16 + 4; cut++)
            Expect(DropReason.IcmpErrorMalformed, V6TooBig(1280, Ext(IpProtocol.Tcp, 1), cut), $"quote with ext {cut}");
    }

    [Fact]
    public void Packet_too_big_quoting_a_non_ipv6_header_is_malformed()
    {
        var f = V6TooBig();
        Expect(DropReason.IcmpErrorMalformed, f.With(14 + 40 + 8, 0x45));
    }

    [Fact]
    public void Short_neighbor_solicitation_is_malformed()
    {
        for (int n = 8; n < 24; n++)
            Expect(DropReason.NdpMalformed, Eth(EtherTypes.IPv6, Ipv6(IpProtocol.IcmpV6, Icmp(135, 0, null, Bytes(16))[..n])), $"ns {n}");
    }
}
