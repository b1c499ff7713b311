using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Forwarding;
using static Switchyard.Tests.Forwarding.TestFrames;

namespace Switchyard.Tests.Forwarding;

public unsafe class IcmpTooBigTests
{
    static readonly Addr128 OurV4 = Addr128.Parse("192.0.2.1");
    static readonly Addr128 OurV6 = Addr128.Parse("2001:db8:1::1");

    [Theory]
    [InlineData(false, false, 100)]
    [InlineData(false, true, 1452)]
    [InlineData(true, false, 100)]
    [InlineData(true, true, 1432)]
    public void Too_big_answer_goes_back_to_the_client_quoting_its_packet_within_the_size_cap(bool v6, bool vlan, int payload)
    {
        var (frame, info) = Tcp(v6, vlan, payload: payload, padding: 2);
        var original = frame.AsSpan(info.L3Offset, info.L3Length).ToArray();
        using var buf = new FrameBuffer(frame);
        int mtu = v6 ? 1452 : 1472;

        var r = IcmpTooBig.Build(buf.Frame, buf.Length, buf.Headroom, info, OurMac, v6 ? OurV6 : OurV4, mtu, out short delta, out ushort newLen);

        Assert.Equal(DropReason.None, r);
        int l2 = vlan ? 18 : 14;
        int ipHdr = v6 ? 40 : 20;
        Assert.Equal(info.L3Offset - l2 - ipHdr - 8, delta);
        Assert.Equal(-delta, IcmpTooBig.HeadroomNeeded(info));
        int cap = v6 ? 1280 : 576;
        int quoted = Math.Min(info.L3Length, cap - ipHdr - 8);
        Assert.Equal(l2 + ipHdr + 8 + quoted, newLen);
        if (info.L3Length > cap) Assert.Equal(cap, newLen - l2);
        var o = buf.Read(delta, newLen);

        Assert.Equal(ClientMac, ReadMac(o, 0));
        Assert.Equal(OurMac, ReadMac(o, 6));
        if (vlan) { Assert.Equal(0x8100, Be16(o, 12)); Assert.Equal(VlanTci, Be16(o, 14)); }
        Assert.Equal(v6 ? 0x86DD : 0x0800, Be16(o, l2 - 2));

        int ip = l2, icmp = l2 + ipHdr;
        int icmpLen = 8 + quoted;
        if (!v6)
        {
            Assert.Equal(0x45, o[ip]);
            Assert.Equal(ipHdr + icmpLen, Be16(o, ip + 2));
            Assert.Equal(1, o[ip + 9]);
            Assert.Equal(64, o[ip + 8]);
            Assert.Equal(OurV4, ReadAddr(o, ip + 12, false));
            Assert.Equal(ClientV4, ReadAddr(o, ip + 16, false));
            Assert.True(RefValid(o, ip, 20), "IPv4 header checksum");
            Assert.Equal(3, o[icmp]);
            Assert.Equal(4, o[icmp + 1]);
            Assert.Equal(0, Be16(o, icmp + 4));
            Assert.Equal(mtu, Be16(o, icmp + 6));
            Assert.True(RefValid(o, icmp, icmpLen), "ICMP checksum");
        }
        else
        {
            Assert.Equal(6u, Be32(o, ip) >> 28);
            Assert.Equal(icmpLen, Be16(o, ip + 4));
            Assert.Equal(58, o[ip + 6]);
            Assert.Equal(OurV6, ReadAddr(o, ip + 8, true));
            Assert.Equal(ClientV6, ReadAddr(o, ip + 24, true));
            Assert.Equal(2, o[icmp]);
            Assert.Equal(0, o[icmp + 1]);
            Assert.Equal((uint)mtu, Be32(o, icmp + 4));
            Assert.True(RefValid(o, icmp, icmpLen, RefPseudoSum(o, ip, true, 58, icmpLen)), "ICMPv6 checksum");
        }
        Assert.Equal(original.AsSpan(0, quoted).ToArray(), o.AsSpan(icmp + 8).ToArray());
    }

    [Fact]
    public void Too_big_answer_without_enough_headroom_is_NoHeadroom_and_leaves_the_frame_alone()
    {
        var (frame, info) = Tcp(true);
        using var buf = new FrameBuffer(frame, headroom: IcmpTooBig.HeadroomNeeded(info) - 1);
        var r = IcmpTooBig.Build(buf.Frame, buf.Length, buf.Headroom, info, OurMac, OurV6, 1400, out short delta, out ushort newLen);
        Assert.Equal(DropReason.NoHeadroom, r);
        Assert.Equal((0, 0), (delta, (int)newLen));
        Assert.Equal(frame, buf.Read(0, frame.Length));
    }
}

public unsafe class NeighborTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Arp_request_for_our_address_becomes_the_reply_with_our_MAC(bool vlan)
    {
        uint target = VipV4.V4;
        var (frame, info) = ArpRequest(target, vlan);
        using var buf = new FrameBuffer(frame);
        Neighbor.ArpReply(buf.Frame, info, OurMac);
        var o = buf.Read(0, frame.Length);
        int a = info.L3Offset;

        Assert.Equal(ClientMac, ReadMac(o, 0));
        Assert.Equal(OurMac, ReadMac(o, 6));
        Assert.Equal(frame.AsSpan(12, a - 12).ToArray(), o.AsSpan(12, a - 12).ToArray());   // tag + EtherType kept
        Assert.Equal(frame.AsSpan(a, 6).ToArray(), o.AsSpan(a, 6).ToArray());               // htype, ptype, sizes
        Assert.Equal(2, Be16(o, a + 6));
        Assert.Equal(OurMac, ReadMac(o, a + 8));
        Assert.Equal(target, Be32(o, a + 14));
        Assert.Equal(ClientMac, ReadMac(o, a + 18));
        Assert.Equal(ClientV4.V4, Be32(o, a + 24));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Neighbor_solicitation_becomes_the_advertisement_with_our_MAC(bool vlan, bool fromUnspecified)
    {
        var source = fromUnspecified ? new Addr128(0, 0) : ClientV6;
        var (frame, info) = NeighborSolicitation(VipV6, source, vlan);
        using var buf = new FrameBuffer(frame);

        var r = Neighbor.NdpAdvertise(buf.Frame, buf.Length, buf.Tailroom, info, OurMac, out ushort newLen);

        Assert.Equal(DropReason.None, r);
        int ip = info.L3Offset, icmp = ip + 40;
        Assert.Equal(ip + 40 + 32, newLen);
        var o = buf.Read(0, newLen);
        Assert.Equal(fromUnspecified ? 0x3333_0000_0001UL : ClientMac, ReadMac(o, 0));
        Assert.Equal(OurMac, ReadMac(o, 6));
        Assert.Equal(frame.AsSpan(12, ip - 12).ToArray(), o.AsSpan(12, ip - 12).ToArray());

        Assert.Equal(0x6000_0000u, Be32(o, ip));
        Assert.Equal(32, Be16(o, ip + 4));
        Assert.Equal(58, o[ip + 6]);
        Assert.Equal(255, o[ip + 7]);
        Assert.Equal(VipV6, ReadAddr(o, ip + 8, true));
        Assert.Equal(fromUnspecified ? Addr128.Parse("ff02::1") : ClientV6, ReadAddr(o, ip + 24, true));

        Assert.Equal(136, o[icmp]);
        Assert.Equal(0, o[icmp + 1]);
        Assert.Equal(fromUnspecified ? 0x20u : 0x60u, Be32(o, icmp + 4) >> 24);   // (S) + O, R clear
        Assert.Equal(0u, Be32(o, icmp + 4) & 0xFF_FFFF);
        Assert.Equal(VipV6, ReadAddr(o, icmp + 8, true));
        Assert.Equal(2, o[icmp + 24]);
        Assert.Equal(1, o[icmp + 25]);
        Assert.Equal(OurMac, ReadMac(o, icmp + 26));
        Assert.True(RefValid(o, icmp, 32, RefPseudoSum(o, ip, true, 58, 32)), "ICMPv6 checksum");
    }

    [Fact]
    public void Neighbor_advertisement_that_does_not_fit_the_buffer_is_refused()
    {
        var (frame, info) = NeighborSolicitation(VipV6, new Addr128(0, 0));   // 24-byte NS: the NA needs 8 more
        using var buf = new FrameBuffer(frame, tailroom: 7);
        var r = Neighbor.NdpAdvertise(buf.Frame, buf.Length, buf.Tailroom, info, OurMac, out ushort newLen);
        Assert.Equal(DropReason.NoHeadroom, r);
        Assert.Equal(0, newLen);
        Assert.Equal(frame, buf.Read(0, frame.Length));
    }
}

public unsafe class ChecksumTests
{
    /// <summary>The 20-byte header form (built in registers by the encapsulation) equals RFC 1071 over the bytes, also
    /// for headers whose sum folds to all ones or carries through every word.</summary>
    [Fact]
    public void Ipv4_header_of_three_words_equals_rfc_1071_over_its_bytes()
    {
        var rng = new Random(3);
        var h = new byte[20];
        for (int k = 0; k < 200_000; k++)
        {
            if (k % 3 == 0) Array.Fill(h, (byte)0xFF); else rng.NextBytes(h);
            if (k % 5 == 0) h.AsSpan(0, 10).Clear();
            h[10] = 0; h[11] = 0;
            ulong w0 = BitConverter.ToUInt64(h, 0), w1 = BitConverter.ToUInt64(h, 8);
            uint w2 = BitConverter.ToUInt32(h, 16);
            uint sum = 0;
            for (int b = 0; b < 20; b += 2) sum += (uint)(h[b] << 8 | h[b + 1]);
            while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
            ushort expected = (ushort)~sum;   // big-endian value
            ushort got = Checksum.Ipv4Header20(w0, w1, w2);   // memory order, as stored little-endian
            Assert.Equal(expected, (ushort)(got >> 8 | got << 8));
        }
    }

    [Fact]
    public void Checksum_matches_a_plain_byte_loop_for_every_length_and_start()
    {
        var rng = new Random(7);
        var data = new byte[300];
        byte* stored = stackalloc byte[2];
        for (int round = 0; round < 20; round++)
        {
            rng.NextBytes(data);
            if (round == 0) Array.Fill(data, (byte)0xFF);            // maximal carries
            fixed (byte* p = data)
            {
                for (int start = 0; start < 3; start++)
                    for (int len = 0; len <= 260; len++)
                    {
                        // Stored as the wire carries it, then read big-endian like the reference.
                        Checksum.Store(stored, Checksum.Compute(p + start, len));
                        Assert.Equal(RefChecksum(data, start, len), BigEndian.ReadU16(stored));
                    }
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Pseudo_header_sum_matches_the_reference(bool v6)
    {
        var (f, info) = Tcp(v6, payload: 77);
        fixed (byte* p = f)
        {
            byte* ip = p + info.L3Offset;
            ulong pseudo = v6 ? Checksum.PseudoHeaderV6(ip, 6, info.L4Length) : Checksum.PseudoHeaderV4(ip, 6, info.L4Length);
            // The builder's TCP checksum is valid, so summing the segment onto the pseudo-header gives all-ones.
            Assert.Equal(0xFFFF, Checksum.Fold(Checksum.Add(p + info.L4Offset, info.L4Length, pseudo)));
            Checksum.SetUpperLayer(p + info.L4Offset, info.L4Length, 16, pseudo, isUdp: false);
        }
        Assert.True(RefValid(f, info.L4Offset, info.L4Length, RefPseudoSum(f, info.L3Offset, v6, 6, info.L4Length)));
    }

    [Fact]
    public void Incremental_update_equals_recomputing_the_header_checksum()
    {
        var (f, _) = Tcp(false);
        fixed (byte* p = f)
        {
            byte* ip = p + 14;
            ushort old = BigEndian.ReadU16(ip + 10);
            // TTL 57 -> 56: the 16-bit word TTL|protocol changes.
            ushort oldWord = BigEndian.ReadU16(ip + 8);
            ip[8]--;
            ushort updated = Checksum.Update16(old, oldWord, BigEndian.ReadU16(ip + 8));
            // New destination address: a 32-bit field.
            uint oldDst = BigEndian.ReadU32(ip + 16);
            BigEndian.WriteU32(ip + 16, 0x0A000001);
            updated = Checksum.Update32(updated, oldDst, 0x0A000001);
            Checksum.SetIpv4Header(ip);
            Assert.Equal(BigEndian.ReadU16(ip + 10), updated);
        }
        Assert.True(RefValid(f, 14, 20));
    }
}
