using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Parsing;
using static Switchyard.Tests.Parsing.Frames;

namespace Switchyard.Tests.Parsing;

public class PacketParserValidTests
{
    /// <summary>The straight pass's checksum test (a residue modulo 0xFFFF) against the folding one, on headers with the
    /// right checksum, with either ones'-complement zero in the field (0x0000 and 0xFFFF), off by one, and random.</summary>
    [Fact]
    public unsafe void The_unrolled_ipv4_checksum_test_agrees_with_the_folding_one()
    {
        var rng = new Random(791);
        var h = new byte[20];
        int valid = 0, invalid = 0;
        for (int n = 0; n < 300_000; n++)
        {
            rng.NextBytes(h);
            if (n % 7 == 0) Array.Clear(h, 0, 20);                    // sparse headers: sums near multiples of 0xFFFF
            if (n % 5 == 0) for (int k = 0; k < 20; k++) h[k] = (byte)(rng.Next(4) == 0 ? 0xFF : h[k]);
            h[10] = h[11] = 0;
            uint sum = 0;
            for (int k = 0; k < 20; k += 2) sum += (uint)(h[k] << 8 | h[k + 1]);
            while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
            ushort ck = (ushort)~sum;
            switch (n % 4)
            {
                case 0: break;                                            // the right checksum
                case 1: if (ck == 0xFFFF) ck = 0; else if (ck == 0) ck = 0xFFFF; else ck ^= 1; break; // other zero, or off by one
                case 2: ck = (ushort)(ck + 1); break;
                default: ck = (ushort)rng.Next(65536); break;
            }
            h[10] = (byte)(ck >> 8);
            h[11] = (byte)ck;
            fixed (byte* p = h)
            {
                bool folded = PacketParser.Ipv4ChecksumOk(p, 20);
                Assert.True(folded == PacketParser.Ipv4ChecksumOk20(p), Convert.ToHexString(h));
                if (folded) valid++; else invalid++;
            }
        }
        Assert.True(valid > 70_000 && invalid > 70_000, $"{valid} valid, {invalid} invalid");
    }

    [Fact]
    public void Ipv4_tcp_syn_yields_tuple_flags_options_and_payload_offsets()
    {
        var f = V4Tcp(Bytes(7));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.IPv4 | PacketFlags.HasPorts, i.Flags);
        Assert.Equal(EtherTypes.IPv4, i.EtherType);
        Assert.Equal(14, i.L3Offset);
        Assert.Equal(20 + 40 + 7, i.L3Length);
        Assert.Equal(34, i.L4Offset);
        Assert.Equal(40 + 7, i.L4Length);
        Assert.Equal(IpProtocol.Tcp, i.Protocol);
        Assert.Equal(TcpFlag.Syn, i.TcpFlags);
        Assert.Equal(64, i.HopLimit);
        Assert.Equal(Addr128.Parse("10.0.0.1"), i.Src);
        Assert.Equal(Addr128.Parse("10.0.0.2"), i.Dst);
        Assert.Equal(40000, i.SrcPort);
        Assert.Equal(80, i.DstPort);
        Assert.Equal(34 + 20, i.TcpOptionsOffset);
        Assert.Equal(20, i.TcpOptionsLength);
        Assert.Equal(34 + 40, i.PayloadOffset);
        Assert.Equal(7, i.PayloadLength);
        Assert.Equal(0x1234u, i.FragmentId);
    }

    [Fact]
    public void Tcp_without_options_reports_zero_options_offset()
    {
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2, TcpFlag.Ack | TcpFlag.Psh, null, Bytes(3))));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(0, i.TcpOptionsOffset);
        Assert.Equal(0, i.TcpOptionsLength);
        Assert.Equal(TcpFlag.Ack | TcpFlag.Psh, i.TcpFlags);
        Assert.Equal(54, i.PayloadOffset);
        Assert.Equal(3, i.PayloadLength);
    }

    [Fact]
    public void Tcp_options_with_nops_and_end_of_list_are_accepted()
    {
        byte[] opts = [1, 1, 2, 4, 5, 0xB4, 0, 0x77]; // NOP NOP MSS EOL (garbage after EOL is ignored)
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2, TcpFlag.Syn, opts)));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(8, i.TcpOptionsLength);
    }

    [Fact]
    public void Ethernet_padding_beyond_ipv4_total_length_is_ignored()
    {
        var f = Cat(Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(7, 9, Bytes(2)))), new byte[16]);
        Assert.Equal(60, f.Length);
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(30, i.L3Length);
        Assert.Equal(10, i.L4Length);
        Assert.Equal(2, i.PayloadLength);
        Assert.Equal(PacketFlags.IPv4 | PacketFlags.HasPorts, i.Flags);
        Assert.Equal(7, i.SrcPort);
        Assert.Equal(9, i.DstPort);
    }

    [Fact]
    public void Udp_length_shorter_than_ip_payload_bounds_the_udp_payload()
    {
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(7, 9, Bytes(10), length: 12)));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(4, i.PayloadLength);
        Assert.Equal(42, i.PayloadOffset);
    }

    [Fact]
    public void Vlan_tag_is_recorded_and_shifts_the_l3_offset()
    {
        var f = EthVlan(0x2064, EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(1, 2)));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.True(i.Has(PacketFlags.HasVlan));
        Assert.Equal(0x2064, i.VlanTci);
        Assert.Equal(EtherTypes.IPv4, i.EtherType);
        Assert.Equal(18, i.L3Offset);
        Assert.Equal(38, i.L4Offset);
    }

    [Fact]
    public void Qinq_records_the_inner_tci()
    {
        var f = EthQinQ(0x0FFF, 0x0123, EtherTypes.IPv6, Ipv6(IpProtocol.Udp, Udp(1, 2)));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.True(i.Has(PacketFlags.HasVlan));
        Assert.Equal(0x0123, i.VlanTci);
        Assert.Equal(22, i.L3Offset);
        Assert.Equal(62, i.L4Offset);
        Assert.True(i.IsIPv6);
    }

    [Fact]
    public void Arp_request_yields_operation_and_addresses_in_host_order()
    {
        var f = Eth(EtherTypes.Arp, Arp(1, "192.0.2.1", "192.0.2.200"));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.Arp, i.Flags);
        Assert.Equal(1, i.ArpOperation);
        Assert.Equal(0xC0000201u, i.ArpSenderIp);
        Assert.Equal(0xC00002C8u, i.ArpTargetIp);
        Assert.Equal(14, i.L3Offset);
        Assert.Equal(28, i.L3Length);
    }

    [Fact]
    public void Arp_reply_behind_a_vlan_is_parsed()
    {
        var f = EthVlan(5, EtherTypes.Arp, Cat(Arp(2, "10.1.1.1", "10.1.1.2"), new byte[18]));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.Arp | PacketFlags.HasVlan, i.Flags);
        Assert.Equal(2, i.ArpOperation);
    }

    [Fact]
    public void Ipv4_options_are_walked_and_flagged()
    {
        byte[] opts = [1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0]; // NOP NOP RR(len 7, pointer 4) EOL pad
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2), options: opts));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.True(i.Has(PacketFlags.HasIpOptions));
        Assert.Equal(14 + 32, i.L4Offset);
        Assert.Equal(20, i.L4Length);
        Assert.True(i.Has(PacketFlags.HasPorts));
    }

    [Fact]
    public void Ipv4_option_filling_the_header_exactly_is_accepted()
    {
        byte[] opts = [0x94, 4, 0, 0]; // Router Alert, length 4
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(1, 2), options: opts));
        Assert.Equal(DropReason.None, Parse(f, out _));
    }

    [Fact]
    public void Dont_fragment_bit_is_reported()
    {
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2), fragField: DF));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.IPv4 | PacketFlags.HasPorts | PacketFlags.DontFragment, i.Flags);
    }

    [Fact]
    public void Ipv4_first_fragment_parses_ports_although_udp_length_spans_the_whole_datagram()
    {
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(5000, 6000, Bytes(24), length: 3000), fragField: MF, id: 77));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.IPv4 | PacketFlags.Fragment | PacketFlags.FirstFragment | PacketFlags.HasPorts, i.Flags);
        Assert.Equal(5000, i.SrcPort);
        Assert.Equal(6000, i.DstPort);
        Assert.Equal(77u, i.FragmentId);
        Assert.Equal(24, i.PayloadLength);
    }

    [Fact]
    public void Ipv4_non_first_fragment_has_no_ports()
    {
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Bytes(16, 0), fragField: 185)); // offset 1480, last fragment
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.IPv4 | PacketFlags.Fragment, i.Flags);
        Assert.Equal(IpProtocol.Tcp, i.Protocol);
        Assert.Equal(34, i.L4Offset);
        Assert.Equal(16, i.L4Length);
        Assert.Equal(0, i.SrcPort);
        Assert.Equal(0, i.PayloadOffset);
    }

    [Fact]
    public void Ipv4_first_fragment_too_short_for_the_tcp_header_is_accepted_without_ports()
    {
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Bytes(8, 0), fragField: MF));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.IPv4 | PacketFlags.Fragment | PacketFlags.FirstFragment, i.Flags);
    }

    [Fact]
    public void Unknown_ip_protocol_gets_l4_offset_and_length_only()
    {
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Gre, Bytes(12)));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(IpProtocol.Gre, i.Protocol);
        Assert.Equal(34, i.L4Offset);
        Assert.Equal(12, i.L4Length);
        Assert.Equal(PacketFlags.IPv4, i.Flags);
    }

    [Fact]
    public void Ipv6_tcp_yields_tuple_and_offsets()
    {
        var f = V6Tcp();
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.IPv6 | PacketFlags.HasPorts, i.Flags);
        Assert.Equal(EtherTypes.IPv6, i.EtherType);
        Assert.Equal(Addr128.Parse("2001:db8::1"), i.Src);
        Assert.Equal(Addr128.Parse("2001:db8::2"), i.Dst);
        Assert.Equal(40 + 30, i.L3Length);
        Assert.Equal(54, i.L4Offset);
        Assert.Equal(30, i.L4Length);
        Assert.Equal(443, i.DstPort);
        Assert.Equal(74, i.PayloadOffset);
        Assert.Equal(10, i.PayloadLength);
        Assert.Equal(64, i.HopLimit);
    }

    [Fact]
    public void Ipv6_udp_yields_ports()
    {
        Assert.Equal(DropReason.None, Parse(V6Udp(), out var i));
        Assert.Equal(IpProtocol.Udp, i.Protocol);
        Assert.Equal(1000, i.SrcPort);
        Assert.Equal(2000, i.DstPort);
        Assert.Equal(5, i.PayloadLength);
    }

    [Fact]
    public void Ipv6_extension_header_chain_is_walked_to_the_upper_layer()
    {
        var chain = Cat(Ext(43, 1), Ext(51, 0), AhHeader(60, 4), Ext(IpProtocol.Tcp, 2)); // HBH->RT->AH->DST->TCP
        var f = Eth(EtherTypes.IPv6, Ipv6(0, Cat(chain, Tcp(9, 10))));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.IPv6 | PacketFlags.HasExtensionHeaders | PacketFlags.HasPorts, i.Flags);
        Assert.Equal(54 + chain.Length, i.L4Offset);
        Assert.Equal(20, i.L4Length);
        Assert.Equal(IpProtocol.Tcp, i.Protocol);
        Assert.Equal(9, i.SrcPort);
    }

    [Fact]
    public void Eight_ipv6_extension_headers_are_accepted()
    {
        var chain = Cat(Enumerable.Range(0, 7).Select(_ => Ext(60)).Append(Ext(IpProtocol.Udp)).ToArray());
        var f = Eth(EtherTypes.IPv6, Ipv6(60, Cat(chain, Udp(1, 2))));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(54 + 64, i.L4Offset);
    }

    [Fact]
    public void Ipv6_first_fragment_has_ports_and_fragment_id()
    {
        var f = Eth(EtherTypes.IPv6, Ipv6(44, Cat(FragHeader(IpProtocol.Udp, 0, true, 0xCAFEBABE), Udp(1, 2, Bytes(16), length: 4000))));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.IPv6 | PacketFlags.HasExtensionHeaders | PacketFlags.Fragment | PacketFlags.FirstFragment | PacketFlags.HasPorts, i.Flags);
        Assert.Equal(0xCAFEBABEu, i.FragmentId);
        Assert.Equal(62, i.L4Offset);
        Assert.Equal(2, i.DstPort);
    }

    [Fact]
    public void Ipv6_atomic_fragment_is_a_whole_datagram_not_a_fragment()
    {
        var ok = Eth(EtherTypes.IPv6, Ipv6(44, Cat(FragHeader(IpProtocol.Udp, 0, false, 9), Udp(1, 2, Bytes(4)))));
        Assert.Equal(DropReason.None, Parse(ok, out var i));
        Assert.False(i.Has(PacketFlags.Fragment) || i.Has(PacketFlags.FirstFragment));
        Assert.True(i.Has(PacketFlags.HasPorts));
        Assert.Equal(2, i.DstPort);
        var bad = Eth(EtherTypes.IPv6, Ipv6(44, Cat(FragHeader(IpProtocol.Udp, 0, false, 9), Udp(1, 2, Bytes(4), length: 100))));
        Assert.Equal(DropReason.UdpBadLength, Parse(bad, out _));
    }

    [Fact]
    public void Ipv6_non_first_fragment_stops_at_the_fragment_data()
    {
        var f = Eth(EtherTypes.IPv6, Ipv6(44, Cat(FragHeader(IpProtocol.Tcp, 100, false, 7), Bytes(24, 0))));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.IPv6 | PacketFlags.HasExtensionHeaders | PacketFlags.Fragment, i.Flags);
        Assert.Equal(IpProtocol.Tcp, i.Protocol);
        Assert.Equal(62, i.L4Offset);
        Assert.Equal(24, i.L4Length);
        Assert.Equal(7u, i.FragmentId);
    }

    [Fact]
    public void Ipv6_no_next_header_is_accepted_without_l4()
    {
        var f = Eth(EtherTypes.IPv6, Ipv6(60, Cat(Ext(59), Bytes(5))));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(59, i.Protocol);
        Assert.Equal(62, i.L4Offset);
        Assert.Equal(5, i.L4Length);
        Assert.Equal(PacketFlags.IPv6 | PacketFlags.HasExtensionHeaders, i.Flags);

        Assert.Equal(DropReason.None, Parse(Eth(EtherTypes.IPv6, Ipv6(59, [])), out i));
        Assert.Equal(0, i.L4Length);
    }

    [Fact]
    public void Icmp_echo_parses_type_and_code_with_no_special_flags()
    {
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Icmp, Icmp(8, 0, Be32(0x00010002), Bytes(32))));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.IPv4, i.Flags);
        Assert.Equal(8, i.IcmpType);
        Assert.Equal(0, i.IcmpCode);
        Assert.Equal(42, i.PayloadOffset);
        Assert.Equal(32, i.PayloadLength);
    }

    [Fact]
    public void Icmp_unreachable_other_than_fragmentation_needed_has_no_inner_tuple()
    {
        var f = Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Icmp, Icmp(3, 1, null, Bytes(3))));
        Assert.Equal(DropReason.None, Parse(f, out var i));
        Assert.Equal(PacketFlags.IPv4, i.Flags);
        Assert.Equal(3, i.IcmpType);
        Assert.Equal(1, i.IcmpCode);
    }

    [Fact]
    public void Icmp_fragmentation_needed_yields_mtu_and_the_quoted_tuple()
    {
        Assert.Equal(DropReason.None, Parse(V4FragNeeded(1400), out var i));
        Assert.Equal(PacketFlags.IPv4 | PacketFlags.IcmpError, i.Flags);
        Assert.Equal(1400u, i.IcmpMtu);
        Assert.Equal(Addr128.Parse("192.0.2.10"), i.InnerSrc);
        Assert.Equal(Addr128.Parse("198.51.100.7"), i.InnerDst);
        Assert.Equal(80, i.InnerSrcPort);
        Assert.Equal(40000, i.InnerDstPort);
        Assert.Equal(IpProtocol.Tcp, i.InnerProtocol);
        Assert.Equal(0, i.SrcPort);
    }

    [Fact]
    public void Icmp_fragmentation_needed_quoting_a_header_with_options_is_parsed()
    {
        Assert.Equal(DropReason.None, Parse(V4FragNeeded(576, [1, 1, 1, 0]), out var i));
        Assert.Equal(80, i.InnerSrcPort);
        Assert.Equal(576u, i.IcmpMtu);
    }

    [Fact]
    public void Icmpv6_packet_too_big_yields_mtu_and_the_quoted_tuple()
    {
        Assert.Equal(DropReason.None, Parse(V6TooBig(1280), out var i));
        Assert.Equal(PacketFlags.IPv6 | PacketFlags.IcmpError, i.Flags);
        Assert.Equal(2, i.IcmpType);
        Assert.Equal(1280u, i.IcmpMtu);
        Assert.Equal(Addr128.Parse("2001:db8::10"), i.InnerSrc);
        Assert.Equal(Addr128.Parse("2001:db8:1::7"), i.InnerDst);
        Assert.Equal(443, i.InnerSrcPort);
        Assert.Equal(40000, i.InnerDstPort);
        Assert.Equal(IpProtocol.Tcp, i.InnerProtocol);
    }

    [Fact]
    public void Icmpv6_packet_too_big_walks_quoted_extension_headers()
    {
        Assert.Equal(DropReason.None, Parse(V6TooBig(1400, Ext(IpProtocol.Tcp, 1)), out var i));
        Assert.Equal(443, i.InnerSrcPort);
        Assert.Equal(IpProtocol.Tcp, i.InnerProtocol);
    }

    [Fact]
    public void Icmpv6_packet_too_big_tolerates_a_quote_cut_right_after_the_ports()
    {
        Assert.Equal(DropReason.None, Parse(V6TooBig(1280, null, 44), out var i));
        Assert.Equal(40000, i.InnerDstPort);
        Assert.True(i.Has(PacketFlags.IcmpError));
    }

    [Fact]
    public void Neighbor_solicitation_yields_the_target()
    {
        Assert.Equal(DropReason.None, Parse(V6NeighborSolicitation("2001:db8::100"), out var i));
        Assert.Equal(PacketFlags.IPv6 | PacketFlags.NeighborSolicitation, i.Flags);
        Assert.Equal(135, i.IcmpType);
        Assert.Equal(Addr128.Parse("2001:db8::100"), i.NdTarget);
        Assert.Equal(255, i.HopLimit);
    }

    [Fact]
    public void A_reused_info_is_reset_between_frames()
    {
        var info = new PacketInfo();
        unsafe
        {
            var tcp = V4Tcp();
            fixed (byte* p = tcp) Assert.Equal(DropReason.None, PacketParser.Parse(p, tcp.Length, ref info));
            var arp = Eth(EtherTypes.Arp, Arp(1, "10.0.0.1", "10.0.0.2"));
            fixed (byte* p = arp) Assert.Equal(DropReason.None, PacketParser.Parse(p, arp.Length, ref info));
        }
        Assert.Equal(PacketFlags.Arp, info.Flags);
        Assert.Equal(0, info.SrcPort);
        Assert.Equal(0, info.L4Offset);
        Assert.True(info.Src.IsZero);
        Assert.Equal(0, info.TcpOptionsLength);
    }
}
