using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Parsing;
using static Switchyard.Tests.Parsing.Frames;

namespace Switchyard.Tests.Parsing;

/// <summary>
/// Differential fuzzing: every input is parsed by <see cref="PacketParser"/> from guarded memory
/// (an out-of-bounds read faults) and by <see cref="ReferenceParser"/>, and the verdicts must agree.
/// Fixed seeds and bounded counts keep the run deterministic and quick.
/// </summary>
public class PacketParserFuzzTests
{
    static byte[][] Seeds() =>
    [
        V4Tcp(Bytes(9)),
        V4Udp(),
        V6Tcp(),
        V6Udp(),
        Cat(Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(7, 9, Bytes(2)))), new byte[16]),
        EthVlan(0x0064, EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2, TcpFlag.Syn, [1, 1, 2, 4, 5, 0xB4, 0, 0]))),
        EthQinQ(7, 8, EtherTypes.IPv6, Ipv6(IpProtocol.Udp, Udp(1, 2, Bytes(3)))),
        EthQinQ(7, 8, EtherTypes.Arp, Arp(1, "10.0.0.1", "10.0.0.2")),
        Eth(EtherTypes.Arp, Arp(2, "10.0.0.1", "10.0.0.2")),
        Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2), options: [1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0])),
        Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(5000, 6000, Bytes(24), length: 3000), fragField: MF)),
        Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Bytes(16, 0), fragField: 185)),
        Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(3, 4, TcpFlag.Ack, null, Bytes(4)), fragField: DF)),
        Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Gre, Bytes(12))),
        Eth(EtherTypes.IPv6, Ipv6(0, Cat(Ext(43, 1), Ext(51, 0), AhHeader(60, 4), Ext(IpProtocol.Tcp, 0), Tcp(9, 10)))),
        Eth(EtherTypes.IPv6, Ipv6(44, Cat(FragHeader(IpProtocol.Udp, 0, true, 0xCAFEBABE), Udp(1, 2, Bytes(16), length: 4000)))),
        Eth(EtherTypes.IPv6, Ipv6(44, Cat(FragHeader(IpProtocol.Tcp, 100, false, 7), Bytes(24, 0)))),
        Eth(EtherTypes.IPv6, Ipv6(60, Cat(Ext(59), Bytes(5)))),
        Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Icmp, Icmp(8, 0, Be32(0x00010002), Bytes(16)))),
        V4FragNeeded(1400),
        V4FragNeeded(576, [1, 1, 1, 0]),
        V6TooBig(1280),
        V6TooBig(1400, Ext(IpProtocol.Tcp, 1)),
        V6TooBig(1280, null, 44),
        V6NeighborSolicitation(),
        Eth(EtherTypes.IPv6, Ipv6(IpProtocol.IcmpV6, Icmp(128, 0, null, Bytes(8)))),
    ];

    static readonly byte[] Interesting =
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x14, 0x2B, 0x2C, 0x33, 0x3A, 0x3B, 0x3C, 0x40, 0x45, 0x4F, 0x50, 0x60, 0x7F, 0x80, 0x81, 0x86, 0x88, 0xA8, 0xDD, 0xFF];

    /// <summary>Parses at both ends of guarded memory and compares with the reference; returns the reason.</summary>
    static unsafe DropReason CheckOne(GuardedBuffer mem, byte[] frame, string what)
    {
        var expected = ReferenceParser.Check(frame);
        var info = new PacketInfo();
        var atEnd = PacketParser.Parse(mem.PlaceAtEnd(frame), frame.Length, ref info);
        Compare(expected, atEnd, info, frame, what);
        var info2 = new PacketInfo();
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(new Span<PacketInfo>(ref info2)).Fill(0xA5); // stale contents must be reset
        var atStart = PacketParser.Parse(mem.PlaceAtStart(frame), frame.Length, ref info2);
        Assert.True(atEnd == atStart, $"{what}: placement changed the verdict");
        if (atStart == DropReason.None) Compare(expected, atStart, info2, frame, what);
        // Parse takes the common frame through its straight pass (TryParseCommon): it must give what the general
        // parser gives, verdict and every byte of the result.
        var general = new PacketInfo { Flags = PacketFlags.IPv6, DstPort = 7 };
        var atEndGeneral = PacketParser.ParseGeneral(mem.PlaceAtEnd(frame), frame.Length, ref general);
        Assert.True(atEnd == atEndGeneral, $"{what}: Parse {atEnd}, ParseGeneral {atEndGeneral}; frame {Convert.ToHexString(frame)}");
        if (atEnd == DropReason.None)
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.AsBytes(new ReadOnlySpan<PacketInfo>(in info))
                    .SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(new ReadOnlySpan<PacketInfo>(in general))),
                $"{what}: Parse and ParseGeneral differ; frame {Convert.ToHexString(frame)}");
        return atEnd;
    }

    static void Compare(RefVerdict e, DropReason got, in PacketInfo i, byte[] frame, string what)
    {
        string Ctx() => $"{what}: frame {Convert.ToHexString(frame)}";
        Assert.True(e.Reason == got, $"reason: reference {e.Reason}, parser {got}; {Ctx()}");
        if (got != DropReason.None) return;
        void Eq<T>(T exp, T act, string field)
        {
            if (!EqualityComparer<T>.Default.Equals(exp, act)) Assert.Fail($"{field}: reference {exp}, parser {act}; {Ctx()}");
        }
        Eq(e.Flags, i.Flags, nameof(i.Flags));
        Eq(e.EtherType, (int)i.EtherType, nameof(i.EtherType));
        Eq(e.VlanTci, (int)i.VlanTci, nameof(i.VlanTci));
        Eq(e.L3Offset, (int)i.L3Offset, nameof(i.L3Offset));
        Eq(e.L3Length, (int)i.L3Length, nameof(i.L3Length));
        Eq(e.L4Offset, (int)i.L4Offset, nameof(i.L4Offset));
        Eq(e.L4Length, (int)i.L4Length, nameof(i.L4Length));
        Eq(e.Protocol, (int)i.Protocol, nameof(i.Protocol));
        Eq(e.TcpFlags, (int)i.TcpFlags, nameof(i.TcpFlags));
        Eq(e.HopLimit, (int)i.HopLimit, nameof(i.HopLimit));
        Eq(e.Src, i.Src, nameof(i.Src));
        Eq(e.Dst, i.Dst, nameof(i.Dst));
        Eq(e.SrcPort, (int)i.SrcPort, nameof(i.SrcPort));
        Eq(e.DstPort, (int)i.DstPort, nameof(i.DstPort));
        Eq(e.TcpOptionsOffset, (int)i.TcpOptionsOffset, nameof(i.TcpOptionsOffset));
        Eq(e.TcpOptionsLength, (int)i.TcpOptionsLength, nameof(i.TcpOptionsLength));
        Eq(e.PayloadOffset, (int)i.PayloadOffset, nameof(i.PayloadOffset));
        Eq(e.PayloadLength, (int)i.PayloadLength, nameof(i.PayloadLength));
        Eq(e.FragmentId, i.FragmentId, nameof(i.FragmentId));
        Eq(e.IcmpType, (int)i.IcmpType, nameof(i.IcmpType));
        Eq(e.IcmpCode, (int)i.IcmpCode, nameof(i.IcmpCode));
        Eq(e.IcmpMtu, i.IcmpMtu, nameof(i.IcmpMtu));
        Eq(e.InnerSrc, i.InnerSrc, nameof(i.InnerSrc));
        Eq(e.InnerDst, i.InnerDst, nameof(i.InnerDst));
        Eq(e.InnerSrcPort, (int)i.InnerSrcPort, nameof(i.InnerSrcPort));
        Eq(e.InnerDstPort, (int)i.InnerDstPort, nameof(i.InnerDstPort));
        Eq(e.InnerProtocol, (int)i.InnerProtocol, nameof(i.InnerProtocol));
        Eq(e.ArpOperation, (int)i.ArpOperation, nameof(i.ArpOperation));
        Eq(e.ArpSenderIp, i.ArpSenderIp, nameof(i.ArpSenderIp));
        Eq(e.ArpTargetIp, i.ArpTargetIp, nameof(i.ArpTargetIp));
        Eq(e.NdTarget, i.NdTarget, nameof(i.NdTarget));
        // Offsets stay inside the frame.
        Assert.True(i.L4Offset + i.L4Length <= frame.Length || i.L4Offset == 0, $"L4 beyond frame; {Ctx()}");
        Assert.True(i.PayloadOffset + i.PayloadLength <= frame.Length, $"payload beyond frame; {Ctx()}");
    }

    /// <summary>Where the IPv4 header starts if the frame is IPv4 (after 0-2 tags), else -1.</summary>
    static int Ipv4Offset(byte[] f)
    {
        if (f.Length < 14) return -1;
        int t = f[12] << 8 | f[13], l3 = 14;
        if (t == 0x88A8 && f.Length >= 22 && (f[16] << 8 | f[17]) == 0x8100) { t = f[20] << 8 | f[21]; l3 = 22; }
        else if (t == 0x8100 && f.Length >= 18) { t = f[16] << 8 | f[17]; l3 = 18; }
        if (t != 0x0800 || f.Length < l3 + 20) return -1;
        int hl = (f[l3] & 0xF) * 4;
        return hl >= 20 && f.Length >= l3 + hl ? l3 : -1;
    }

    /// <summary>Mutations would almost always just break the IPv4 checksum; usually repair it so the
    /// fuzzer gets past that gate into the deeper layers.</summary>
    static byte[] MaybeFixChecksum(byte[] f, Random rng)
    {
        int l3 = Ipv4Offset(f);
        return l3 >= 0 && rng.Next(10) < 8 ? f.FixIpv4Checksum(l3) : f;
    }

    [Fact]
    public unsafe void The_straight_pass_takes_the_common_frames_and_leaves_the_rest_to_the_general_parser()
    {
        static bool Common(byte[] f)
        {
            var info = new PacketInfo();
            fixed (byte* p = f) return PacketParser.TryParseCommon(p, f.Length, ref info);
        }
        Assert.True(Common(V4Tcp(Bytes(9))));
        Assert.True(Common(V4Udp()));
        Assert.True(Common(V6Tcp()));
        Assert.True(Common(V6Udp()));
        Assert.True(Common(Cat(Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(7, 9, Bytes(2)))), new byte[16])));  // Ethernet padding
        Assert.True(Common(Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2, TcpFlag.Syn, [1, 1, 2, 4, 5, 0xB4, 0, 0])))));
        Assert.True(Common(Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(3, 4, TcpFlag.Ack, null, Bytes(4)), fragField: DF))));
        Assert.False(Common(EthVlan(0x0064, EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2)))));
        Assert.False(Common(Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(1, 2), options: [1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0]))));
        Assert.False(Common(Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(5000, 6000, Bytes(24), length: 3000), fragField: MF))));
        Assert.False(Common(Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Icmp, Icmp(8, 0, Be32(0x00010002), Bytes(16))))));
        Assert.False(Common(Eth(EtherTypes.IPv6, Ipv6(60, Cat(Ext(IpProtocol.Tcp, 0), Tcp(9, 10))))));
        Assert.False(Common(Eth(EtherTypes.Arp, Arp(2, "10.0.0.1", "10.0.0.2"))));
        var badChecksum = V4Tcp(Bytes(9));
        badChecksum[14 + 10] ^= 0xFF;
        Assert.False(Common(badChecksum));
        var truncated = V4Tcp(Bytes(9));
        Assert.False(Common(truncated[..^1]));  // the IPv4 total length runs past the frame
    }

    [Fact]
    public void Every_prefix_of_every_seed_frame_agrees_with_the_reference_without_reading_out_of_bounds()
    {
        using var mem = new GuardedBuffer(4);
        foreach (var seed in Seeds())
        {
            Assert.Equal(DropReason.None, CheckOne(mem, seed, "seed"));
            for (int n = 0; n <= seed.Length; n++)
                CheckOne(mem, seed[..n], $"prefix {n}");
        }
    }

    [Fact]
    public void Every_single_byte_set_to_an_interesting_value_agrees_with_the_reference()
    {
        using var mem = new GuardedBuffer(4);
        var rng = new Random(7);
        int accepted = 0, total = 0;
        foreach (var seed in Seeds())
            for (int pos = 0; pos < seed.Length; pos++)
                foreach (byte b in Interesting)
                {
                    var f = MaybeFixChecksum(seed.With(pos, b), rng);
                    if (CheckOne(mem, f, $"byte {pos} = {b:X2}") == DropReason.None) accepted++;
                    total++;
                }
        // Sanity: the corpus exercises both verdicts.
        Assert.InRange(accepted, total / 10, total - total / 10);
    }

    [Fact]
    public void Random_mutations_and_truncations_agree_with_the_reference_without_reading_out_of_bounds()
    {
        using var mem = new GuardedBuffer(4);
        var seeds = Seeds();
        var rng = new Random(20261122);
        var reasons = new HashSet<DropReason>();
        const int Iterations = 30_000;
        for (int it = 0; it < Iterations; it++)
        {
            byte[] f = (byte[])seeds[rng.Next(seeds.Length)].Clone();
            int ops = 1 + rng.Next(4);
            for (int k = 0; k < ops && f.Length > 0; k++)
            {
                switch (rng.Next(6))
                {
                    case 0: f[rng.Next(f.Length)] = (byte)rng.Next(256); break;
                    case 1: f[rng.Next(f.Length)] = Interesting[rng.Next(Interesting.Length)]; break;
                    case 2: f = f[..rng.Next(f.Length + 1)]; break;
                    case 3: f = Cat(f, Bytes(rng.Next(1, 24), (byte)rng.Next(256))); break;
                    case 4: // a 16-bit field (length, port, ethertype...) set to a small or boundary value
                        if (f.Length >= 2)
                        {
                            int pos = rng.Next(f.Length - 1);
                            int v = rng.Next(3) switch { 0 => rng.Next(64), 1 => f.Length - pos + rng.Next(-8, 9), _ => rng.Next(65536) };
                            f[pos] = (byte)(v >> 8); f[pos + 1] = (byte)v;
                        }
                        break;
                    default: f[rng.Next(f.Length)] ^= (byte)(1 << rng.Next(8)); break;
                }
            }
            f = MaybeFixChecksum(f, rng);
            reasons.Add(CheckOne(mem, f, $"iteration {it}"));
        }
        // The fuzzer reaches most of the parser's verdicts (not a strict coverage gate, a sanity check).
        Assert.True(reasons.Count >= 20, $"only {reasons.Count} distinct verdicts: {string.Join(", ", reasons)}");
    }

    [Fact]
    public unsafe void Frames_longer_than_65535_bytes_are_parsed_as_if_cut_there()
    {
        var big = Cat(V4Udp(), new byte[70_000]);
        using var mem = new GuardedBuffer((big.Length + Environment.SystemPageSize - 1) / Environment.SystemPageSize);
        var info = new PacketInfo();
        Assert.Equal(DropReason.None, PacketParser.Parse(mem.PlaceAtEnd(big), big.Length, ref info));
        Assert.Equal(DropReason.None, CheckOne(mem, big, "big"));
    }

    [Fact]
    public unsafe void Parse_allocates_nothing()
    {
        var frames = Seeds().Concat([V4Tcp()[..30], V6TooBig(1280, null, 10), V4FragNeeded().With(42, 0x44)]).ToArray();
        var info = new PacketInfo();
        var handles = frames.Select(f => System.Runtime.InteropServices.GCHandle.Alloc(f, System.Runtime.InteropServices.GCHandleType.Pinned)).ToArray();
        try
        {
            var ptrs = handles.Select(h => (nint)h.AddrOfPinnedObject()).ToArray();
            var lens = frames.Select(f => f.Length).ToArray();
            int sink = 0;
            for (int i = 0; i < 10_000; i++) // warm up (tiered JIT) before measuring
                sink += (int)PacketParser.Parse((byte*)ptrs[i % ptrs.Length], lens[i % lens.Length], ref info);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10_000; i++)
                sink += (int)PacketParser.Parse((byte*)ptrs[i % ptrs.Length], lens[i % lens.Length], ref info);
            long after = GC.GetAllocatedBytesForCurrentThread();
            Assert.Equal(0, after - before);
            Assert.NotEqual(-1, sink);
        }
        finally
        {
            foreach (var h in handles) h.Free();
        }
    }
}
