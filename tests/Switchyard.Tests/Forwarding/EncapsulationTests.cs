using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Forwarding;
using Switchyard.Dataplane.Datapath.Parsing;
using static Switchyard.Tests.Forwarding.TestFrames;

namespace Switchyard.Tests.Forwarding;

public unsafe class EncapsulationTests
{
    static readonly Addr128 OuterSrcV4 = Addr128.Parse("10.1.0.9");
    static readonly Addr128 BackendV4 = Addr128.Parse("10.2.0.5");
    static readonly Addr128 OuterSrcV6 = Addr128.Parse("fd00:1::9");
    static readonly Addr128 BackendV6 = Addr128.Parse("fd00:2::5");

    internal static EncapParams Params(ForwardingMode mode, bool v6, bool keepVlan = true, int mtu = 1500, ushort guePort = 6080) => new()
    {
        Mode = mode,
        OuterSource = v6 ? OuterSrcV6 : OuterSrcV4,
        OuterDestination = v6 ? BackendV6 : BackendV4,
        DstMac = BackendMac,
        SrcMac = OurMac,
        GuePort = guePort,
        GueSourcePort = 51234,
        Mtu = mtu,
        KeepVlan = keepVlan,
        FlowLabel = 0xABCDE,
    };

    public static TheoryData<ForwardingMode, bool, bool, bool> Combinations()
    {
        var d = new TheoryData<ForwardingMode, bool, bool, bool>();
        foreach (var mode in new[] { ForwardingMode.Ipip, ForwardingMode.Gue, ForwardingMode.Gre })
            foreach (var v6 in new[] { false, true })
                foreach (var (vlan, keep) in new[] { (false, true), (true, true), (true, false) })
                    d.Add(mode, v6, vlan, keep);
        return d;
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void Encapsulated_frame_has_correct_headers_checksums_and_the_untouched_inner_packet(
        ForwardingMode mode, bool v6, bool vlan, bool keepVlan)
    {
        // Ethernet padding beyond the IP packet must be dropped.
        var (frame, info) = Tcp(v6, vlan, payload: 301, padding: 5);
        var innerOriginal = frame.AsSpan(info.L3Offset, info.L3Length).ToArray();
        using var buf = new FrameBuffer(frame);
        var e = Params(mode, v6, keepVlan);

        var r = Encapsulation.Encapsulate(buf.Frame, buf.Length, buf.Headroom, info, e, out short delta, out ushort newLen);

        Assert.Equal(EncapResult.Ok, r);
        int overhead = Encapsulation.Overhead(mode, v6);
        int l2 = vlan && keepVlan ? 18 : 14;
        Assert.Equal(info.L3Offset - overhead - l2, delta);
        Assert.Equal(l2 + overhead + info.L3Length, newLen);
        var o = buf.Read(delta, newLen);

        // Ethernet (+ tag)
        Assert.Equal(BackendMac, ReadMac(o, 0));
        Assert.Equal(OurMac, ReadMac(o, 6));
        if (l2 == 18)
        {
            Assert.Equal(0x8100, Be16(o, 12));
            Assert.Equal(VlanTci, Be16(o, 14));
        }
        Assert.Equal(v6 ? 0x86DD : 0x0800, Be16(o, l2 - 2));

        int ip = l2;
        byte expectedProto = mode switch { ForwardingMode.Gue => 17, ForwardingMode.Gre => 47, _ => v6 ? (byte)41 : (byte)4 };
        if (!v6)
        {
            Assert.Equal(0x45, o[ip]);
            Assert.Equal(0xB8, o[ip + 1]);                       // TOS copied
            Assert.Equal(overhead + info.L3Length, Be16(o, ip + 2));
            Assert.Equal(0, Be16(o, ip + 4));                    // DF set: ID 0
            Assert.Equal(0x4000, Be16(o, ip + 6));               // DF copied, no fragment offset
            Assert.Equal(64, o[ip + 8]);
            Assert.Equal(expectedProto, o[ip + 9]);
            Assert.Equal(OuterSrcV4, ReadAddr(o, ip + 12, false));
            Assert.Equal(BackendV4, ReadAddr(o, ip + 16, false));
            Assert.True(RefValid(o, ip, 20), "outer IPv4 header checksum");
        }
        else
        {
            uint vtf = Be32(o, ip);
            Assert.Equal(6u, vtf >> 28);
            Assert.Equal(0xB8u, (vtf >> 20) & 0xFF);             // traffic class copied
            Assert.Equal(0xABCDEu, vtf & 0xFFFFF);
            Assert.Equal(overhead - 40 + info.L3Length, Be16(o, ip + 4));
            Assert.Equal(expectedProto, o[ip + 6]);
            Assert.Equal(64, o[ip + 7]);
            Assert.Equal(OuterSrcV6, ReadAddr(o, ip + 8, true));
            Assert.Equal(BackendV6, ReadAddr(o, ip + 24, true));
        }

        int after = ip + (v6 ? 40 : 20);
        if (mode == ForwardingMode.Gue)
        {
            Assert.Equal(51234, Be16(o, after));
            Assert.Equal(6080, Be16(o, after + 2));
            Assert.Equal(8 + info.L3Length, Be16(o, after + 4));
            if (v6)
            {
                Assert.NotEqual(0, Be16(o, after + 6));
                Assert.True(RefValid(o, after, 8 + info.L3Length, RefPseudoSum(o, ip, true, 17, 8 + info.L3Length)), "UDP checksum over IPv6");
            }
            else Assert.Equal(0, Be16(o, after + 6));
            after += 8;
            Assert.Equal(v6 ? 6 : 4, o[after] >> 4);           // GUE variant 1: the IP version nibble follows UDP
        }
        else if (mode == ForwardingMode.Gre)
        {
            Assert.Equal(0, Be16(o, after));
            Assert.Equal(v6 ? 0x86DD : 0x0800, Be16(o, after + 2));
            after += 4;
        }

        Assert.Equal(innerOriginal, o.AsSpan(after).ToArray());
        int innerIpHdr = v6 ? 40 : 20;
        Assert.True(RefValid(o, after + innerIpHdr, info.L4Length, RefPseudoSum(o, after, v6, 6, info.L4Length)), "inner TCP checksum");
    }

    [Fact]
    public void Ipv4_inner_without_DF_keeps_its_identification_and_leaves_DF_clear()
    {
        var (frame, info) = Tcp(false, df: false, ipId: 0xBEEF);
        using var buf = new FrameBuffer(frame);
        Encapsulation.Encapsulate(buf.Frame, buf.Length, buf.Headroom, info, Params(ForwardingMode.Ipip, false), out short delta, out ushort newLen);
        var o = buf.Read(delta, newLen);
        Assert.Equal(0xBEEF, Be16(o, 14 + 4));
        Assert.Equal(0, Be16(o, 14 + 6));
        Assert.True(RefValid(o, 14, 20));
    }

    [Theory]
    [InlineData(ForwardingMode.Ipip, false, 20)]
    [InlineData(ForwardingMode.Ipip, true, 40)]
    [InlineData(ForwardingMode.Gue, false, 28)]
    [InlineData(ForwardingMode.Gue, true, 48)]
    [InlineData(ForwardingMode.Gre, false, 24)]
    [InlineData(ForwardingMode.Gre, true, 44)]
    [InlineData(ForwardingMode.L2Dsr, false, 0)]
    public void Overhead_is_the_size_of_the_outer_headers(ForwardingMode mode, bool v6, int expected)
        => Assert.Equal(expected, Encapsulation.Overhead(mode, v6));

    [Theory]
    [InlineData(ForwardingMode.Ipip, false)]
    [InlineData(ForwardingMode.Gue, true)]
    [InlineData(ForwardingMode.Gre, false)]
    public void Packet_that_exactly_fills_the_MTU_is_encapsulated_and_one_byte_more_is_too_big(ForwardingMode mode, bool v6)
    {
        int overhead = Encapsulation.Overhead(mode, v6);
        int ipHdr = v6 ? 40 : 20;
        var (fits, fitsInfo) = Tcp(v6, payload: 1500 - overhead - ipHdr - 20);
        Assert.Equal(1500 - overhead, fitsInfo.L3Length);
        using (var buf = new FrameBuffer(fits))
        {
            var r = Encapsulation.Encapsulate(buf.Frame, buf.Length, buf.Headroom, fitsInfo, Params(mode, v6), out _, out ushort newLen);
            Assert.Equal(EncapResult.Ok, r);
            Assert.Equal(14 + 1500, newLen);
        }

        var (big, bigInfo) = Tcp(v6, payload: 1500 - overhead - ipHdr - 20 + 1);
        using (var buf = new FrameBuffer(big))
        {
            var e = Params(mode, v6);
            var r = Encapsulation.Encapsulate(buf.Frame, buf.Length, buf.Headroom, bigInfo, e, out short delta, out ushort newLen);
            Assert.Equal(EncapResult.TooBig, r);
            Assert.Equal(0, delta);
            Assert.Equal(0, newLen);
            Assert.Equal(big, buf.Read(0, big.Length));           // untouched
            Assert.Equal(1500 - overhead, Encapsulation.InnerMtu(e, v6));
            Assert.True(new Span<byte>(buf.Base, buf.Headroom).IndexOfAnyExcept((byte)0) < 0, "headroom written");
        }
    }

    [Theory]
    [InlineData(false, true, true)]
    [InlineData(false, false, false)]
    [InlineData(true, false, true)]
    public void Too_big_is_answered_with_ICMP_for_IPv6_and_for_IPv4_with_DF_only(bool v6, bool df, bool answers)
    {
        var (_, info) = Tcp(v6, df: df);
        Assert.Equal(answers, Encapsulation.AnswersTooBig(info));
    }

    [Theory]
    [InlineData(ForwardingMode.Ipip, false, false)]
    [InlineData(ForwardingMode.Gue, true, true)]
    [InlineData(ForwardingMode.Gre, false, true)]
    public void Headroom_one_byte_short_of_the_overhead_is_NoHeadroom_and_leaves_the_frame_alone(ForwardingMode mode, bool v6, bool vlan)
    {
        var (frame, info) = Tcp(v6, vlan);
        int l2 = vlan ? 18 : 14;
        int needed = Encapsulation.Overhead(mode, v6) + l2 - info.L3Offset;
        using (var tight = new FrameBuffer(frame, headroom: needed))
        {
            Assert.Equal(EncapResult.Ok, Encapsulation.Encapsulate(tight.Frame, tight.Length, tight.Headroom, info, Params(mode, v6), out short delta, out _));
            Assert.Equal(-needed, delta);
        }
        using var buf = new FrameBuffer(frame, headroom: needed - 1);
        var r = Encapsulation.Encapsulate(buf.Frame, buf.Length, buf.Headroom, info, Params(mode, v6), out _, out _);
        Assert.Equal(EncapResult.NoHeadroom, r);
        Assert.Equal(frame, buf.Read(0, frame.Length));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void L2_rewrite_changes_only_the_two_MAC_addresses(bool vlan)
    {
        var (frame, info) = Tcp(false, vlan, padding: 3);
        using var buf = new FrameBuffer(frame);
        Encapsulation.L2Rewrite(buf.Frame, BackendMac, OurMac);
        var o = buf.Read(0, frame.Length);
        Assert.Equal(BackendMac, ReadMac(o, 0));
        Assert.Equal(OurMac, ReadMac(o, 6));
        Assert.Equal(frame.AsSpan(12).ToArray(), o.AsSpan(12).ToArray());

        // The mode dispatcher does the same for L2 DSR and keeps frame start and length.
        using var buf2 = new FrameBuffer(frame);
        var r = Encapsulation.Encapsulate(buf2.Frame, buf2.Length, buf2.Headroom, info, Params(ForwardingMode.L2Dsr, false), out short delta, out ushort newLen);
        Assert.Equal(EncapResult.Ok, r);
        Assert.Equal(0, delta);
        Assert.Equal(frame.Length, newLen);
        Assert.Equal(o, buf2.Read(0, frame.Length));
    }

    [Fact]
    public void Outer_source_takes_only_the_host_bits_from_the_flow_hash()
    {
        var baseV4 = Addr128.Parse("10.1.0.0");
        ulong hash = 0x1234_5678_9ABC_DEF0;
        var a = Encapsulation.OuterSource(baseV4, 0xFF, hash, ipv6: false);
        Assert.True(a.IsV4);
        Assert.Equal(Addr128.Parse("10.1.0.120"), a);            // 0x78: low byte of the high half
        // A mask wider than 32 bits must not damage the IPv4-mapped form.
        Assert.True(Encapsulation.OuterSource(baseV4, ulong.MaxValue, hash, false).IsV4);

        var baseV6 = Addr128.Parse("fd00:1::");
        var b = Encapsulation.OuterSource(baseV6, 0xFFFF, hash, ipv6: true);
        Assert.Equal(Addr128.Parse("fd00:1::5678"), b);

        // Different flows spread over the range; the same flow always gets the same address.
        var pool = new PoolEntry
        {
            Name = "p", Mode = ForwardingMode.Gue, Fragments = FragmentPolicy.HashThreeTuple, Maglev = [],
            EncapSourceV4 = baseV4, EncapSourceV4HostMask = 0xF,
            EncapSourceV6 = baseV6, EncapSourceV6HostMask = 0xF,
        };
        var seen = new HashSet<Addr128>();
        for (ulong h = 0; h < 64; h++) seen.Add(Encapsulation.OuterSource(pool, h << 32, false));
        Assert.Equal(16, seen.Count);
        Assert.Equal(Encapsulation.OuterSource(pool, hash, true), Encapsulation.OuterSource(pool, hash, true));
    }

    [Fact]
    public void Ten_thousand_encapsulations_allocate_nothing()
    {
        var (frame4, info4) = Tcp(false, vlan: true);
        var (frame6, info6) = Tcp(true);
        using var b4 = new FrameBuffer(frame4);
        using var b6 = new FrameBuffer(frame6);
        var modes = new[] { Params(ForwardingMode.Gue, false), Params(ForwardingMode.Gue, true), Params(ForwardingMode.Gre, true), Params(ForwardingMode.Ipip, false) };

        void Run(int n)
        {
            for (int i = 0; i < n; i++)
            {
                var e = modes[i & 3];
                bool v6 = e.OuterSource.IsV4 == false;
                var b = v6 ? b6 : b4;
                var info = v6 ? info6 : info4;
                // The inner packet stays in place, so the same frame can be encapsulated again and again.
                Encapsulation.Encapsulate(b.Frame, b.Length, b.Headroom, info, e, out _, out _);
                Checksum.Compute(b.Frame, b.Length);
            }
        }

        Run(100);                                                   // JIT and tiering out of the measurement
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(10_000);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, after - before);
    }
}
