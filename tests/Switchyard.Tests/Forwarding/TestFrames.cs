using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Parsing;

namespace Switchyard.Tests.Forwarding;

/// <summary>
/// A frame in native memory with free headroom in front and tailroom behind, like an mbuf.
/// </summary>
sealed unsafe class FrameBuffer : IDisposable
{
    public const int DefaultHeadroom = 128;
    public readonly byte* Base;
    public readonly int Capacity;
    public readonly int Headroom;
    public int Length;

    public FrameBuffer(byte[] frame, int headroom = DefaultHeadroom, int tailroom = 2048)
    {
        Headroom = headroom;
        Capacity = headroom + frame.Length + tailroom;
        Base = (byte*)NativeMemory.AllocZeroed((nuint)Math.Max(Capacity, 1));
        frame.CopyTo(new Span<byte>(Base + headroom, frame.Length));
        Length = frame.Length;
    }

    public byte* Frame => Base + Headroom;
    public int Tailroom => Capacity - Headroom - Length;

    /// <summary>Copy of the frame that starts delta bytes from the original start.</summary>
    public byte[] Read(int delta, int length) => new Span<byte>(Frame + delta, length).ToArray();

    public void Dispose() => NativeMemory.Free(Base);
}

/// <summary>Test-side frame builder and plain reference checksums, independent of the code under test.</summary>
static class TestFrames
{
    public const ulong ClientMac = 0x02_11_22_33_44_55;
    public const ulong OurMac = 0x02_AA_BB_CC_DD_EE;
    public const ulong BackendMac = 0x02_01_02_03_04_05;
    public const ushort VlanTci = 0x2064;   // PCP 1, VID 100

    public static readonly Addr128 ClientV4 = Addr128.Parse("198.51.100.7");
    public static readonly Addr128 VipV4 = Addr128.Parse("203.0.113.10");
    public static readonly Addr128 ClientV6 = Addr128.Parse("2001:db8:c::7");
    public static readonly Addr128 VipV6 = Addr128.Parse("2001:db8:f::10");

    /// <summary>
    /// Ethernet (+ 802.1Q) + IPv4/IPv6 + TCP with <paramref name="payload"/> bytes of payload, all
    /// checksums valid, padded with <paramref name="padding"/> extra bytes after the IP packet.
    /// Returns the frame and the PacketInfo the parser would produce.
    /// </summary>
    public static (byte[] Frame, PacketInfo Info) Tcp(bool v6, bool vlan = false, int payload = 100, bool df = true,
        ushort ipId = 0x1234, byte tos = 0xB8, int padding = 0, ushort sport = 40000, ushort dport = 443)
    {
        int l2 = vlan ? 18 : 14;
        int ipHdr = v6 ? 40 : 20;
        int tcpLen = 20 + payload;
        int l3Len = ipHdr + tcpLen;
        var f = new byte[l2 + l3Len + padding];
        WriteMac(f, 0, OurMac);
        WriteMac(f, 6, ClientMac);
        if (vlan)
        {
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x8100);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(14), VlanTci);
        }
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(l2 - 2), v6 ? (ushort)0x86DD : (ushort)0x0800);
        var (src, dst) = v6 ? (ClientV6, VipV6) : (ClientV4, VipV4);
        int ip = l2;
        if (!v6)
        {
            f[ip] = 0x45; f[ip + 1] = tos;
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(ip + 2), (ushort)l3Len);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(ip + 4), ipId);
            f[ip + 6] = df ? (byte)0x40 : (byte)0;
            f[ip + 8] = 57; f[ip + 9] = 6;
            WriteAddr(f, ip + 12, src, false);
            WriteAddr(f, ip + 16, dst, false);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(ip + 10), RefChecksum(f, ip, 20));
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(ip), 0x6000_0000u | (uint)tos << 20 | 0x12345);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(ip + 4), (ushort)tcpLen);
            f[ip + 6] = 6; f[ip + 7] = 57;
            WriteAddr(f, ip + 8, src, true);
            WriteAddr(f, ip + 24, dst, true);
        }
        int tcp = ip + ipHdr;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(tcp), sport);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(tcp + 2), dport);
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(tcp + 4), 0x01020304);
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(tcp + 8), 0x0A0B0C0D);
        f[tcp + 12] = 0x50; f[tcp + 13] = 0x18;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(tcp + 14), 64240);
        for (int i = 0; i < payload; i++) f[tcp + 20 + i] = (byte)(i * 7 + 3);
        for (int i = 0; i < padding; i++) f[ip + l3Len + i] = 0xEE;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(tcp + 16), RefL4Checksum(f, ip, v6, 6, tcp, tcpLen));

        var info = new PacketInfo
        {
            Flags = (v6 ? PacketFlags.IPv6 : PacketFlags.IPv4) | PacketFlags.HasPorts
                    | (vlan ? PacketFlags.HasVlan : 0) | (!v6 && df ? PacketFlags.DontFragment : 0),
            EtherType = v6 ? (ushort)0x86DD : (ushort)0x0800,
            VlanTci = vlan ? VlanTci : (ushort)0,
            L3Offset = (ushort)l2,
            L3Length = (ushort)l3Len,
            L4Offset = (ushort)tcp,
            L4Length = (ushort)tcpLen,
            Protocol = 6,
            TcpFlags = 0x18,
            HopLimit = 57,
            Src = src,
            Dst = dst,
            SrcPort = sport,
            DstPort = dport,
            PayloadOffset = (ushort)(tcp + 20),
            PayloadLength = (ushort)payload,
            FragmentId = v6 ? 0u : ipId,
        };
        return (f, info);
    }

    /// <summary>ARP request "who has <paramref name="target"/>" from the client, padded to 60 bytes.</summary>
    public static (byte[] Frame, PacketInfo Info) ArpRequest(uint target, bool vlan = false)
    {
        int l2 = vlan ? 18 : 14;
        var f = new byte[Math.Max(60, l2 + 28)];
        WriteMac(f, 0, 0xFFFF_FFFF_FFFF);
        WriteMac(f, 6, ClientMac);
        if (vlan)
        {
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x8100);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(14), VlanTci);
        }
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(l2 - 2), 0x0806);
        int a = l2;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(a), 1);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(a + 2), 0x0800);
        f[a + 4] = 6; f[a + 5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(a + 6), 1);
        WriteMac(f, a + 8, ClientMac);
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(a + 14), ClientV4.V4);
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(a + 24), target);
        var info = new PacketInfo
        {
            Flags = PacketFlags.Arp | (vlan ? PacketFlags.HasVlan : 0),
            EtherType = 0x0806,
            L3Offset = (ushort)l2,
            ArpOperation = 1,
            ArpSenderIp = ClientV4.V4,
            ArpTargetIp = target,
        };
        return (f, info);
    }

    /// <summary>Neighbor solicitation for <paramref name="target"/>, with a source link-layer option unless from ::.</summary>
    public static (byte[] Frame, PacketInfo Info) NeighborSolicitation(Addr128 target, Addr128 source, bool vlan = false)
    {
        bool dad = source.IsZero;
        int l2 = vlan ? 18 : 14;
        int icmpLen = dad ? 24 : 32;
        var f = new byte[l2 + 40 + icmpLen];
        // Solicited-node multicast ff02::1:ffXX:XXXX and its MAC 33:33:ff:XX:XX:XX
        var snm = new Addr128(0xFF02_0000_0000_0000UL, 0x0000_0001_FF00_0000UL | (target.Lo & 0xFF_FFFF));
        WriteMac(f, 0, 0x3333_FF00_0000UL | (target.Lo & 0xFF_FFFF));
        WriteMac(f, 6, ClientMac);
        if (vlan)
        {
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x8100);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(14), VlanTci);
        }
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(l2 - 2), 0x86DD);
        int ip = l2;
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(ip), 0x6000_0000u);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(ip + 4), (ushort)icmpLen);
        f[ip + 6] = 58; f[ip + 7] = 255;
        WriteAddr(f, ip + 8, source, true);
        WriteAddr(f, ip + 24, snm, true);
        int icmp = ip + 40;
        f[icmp] = 135;
        WriteAddr(f, icmp + 8, target, true);
        if (!dad) { f[icmp + 24] = 1; f[icmp + 25] = 1; WriteMac(f, icmp + 26, ClientMac); }
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(icmp + 2), RefL4Checksum(f, ip, true, 58, icmp, icmpLen));
        var info = new PacketInfo
        {
            Flags = PacketFlags.IPv6 | PacketFlags.NeighborSolicitation | (vlan ? PacketFlags.HasVlan : 0),
            EtherType = 0x86DD,
            L3Offset = (ushort)l2,
            L3Length = (ushort)(40 + icmpLen),
            L4Offset = (ushort)icmp,
            L4Length = (ushort)icmpLen,
            Protocol = 58,
            HopLimit = 255,
            Src = source,
            Dst = snm,
            IcmpType = 135,
            NdTarget = target,
        };
        return (f, info);
    }

    public static void WriteMac(byte[] f, int at, ulong mac)
    {
        for (int i = 0; i < 6; i++) f[at + i] = (byte)(mac >> (40 - 8 * i));
    }

    public static ulong ReadMac(byte[] f, int at)
    {
        ulong m = 0;
        for (int i = 0; i < 6; i++) m = m << 8 | f[at + i];
        return m;
    }

    public static void WriteAddr(byte[] f, int at, Addr128 a, bool v6)
    {
        var bytes = a.ToIPAddress().GetAddressBytes();
        Assert.Equal(v6 ? 16 : 4, bytes.Length);
        bytes.CopyTo(f, at);
    }

    public static Addr128 ReadAddr(byte[] f, int at, bool v6)
        => Addr128.FromIPAddress(new System.Net.IPAddress(f.AsSpan(at, v6 ? 16 : 4)));

    public static ushort Be16(byte[] f, int at) => (ushort)(f[at] << 8 | f[at + 1]);
    public static uint Be32(byte[] f, int at) => (uint)(f[at] << 24 | f[at + 1] << 16 | f[at + 2] << 8 | f[at + 3]);

    /// <summary>Reference Internet checksum: a plain loop over big-endian 16-bit words.</summary>
    public static ushort RefChecksum(byte[] data, int offset, int length, uint initial = 0)
    {
        uint sum = initial;
        for (int i = 0; i < length; i += 2)
        {
            int hi = data[offset + i];
            int lo = i + 1 < length ? data[offset + i + 1] : 0;
            sum += (uint)(hi << 8 | lo);
        }
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    /// <summary>Reference sum of the pseudo-header (not folded, not complemented).</summary>
    public static uint RefPseudoSum(byte[] f, int ip, bool v6, byte proto, int l4Length)
    {
        uint sum = 0;
        int addrOff = v6 ? ip + 8 : ip + 12;
        int addrLen = v6 ? 32 : 8;
        for (int i = 0; i < addrLen; i += 2) sum += (uint)(f[addrOff + i] << 8 | f[addrOff + i + 1]);
        sum += proto;
        sum += (uint)(l4Length >> 16) + (uint)(l4Length & 0xFFFF);
        return sum;
    }

    /// <summary>Reference upper-layer checksum with the checksum field treated as already in place (0 to compute).</summary>
    public static ushort RefL4Checksum(byte[] f, int ip, bool v6, byte proto, int l4, int l4Length)
        => RefChecksum(f, l4, l4Length, RefPseudoSum(f, ip, v6, proto, l4Length));

    /// <summary>True when a region with its embedded checksum sums to all-ones.</summary>
    public static bool RefValid(byte[] f, int offset, int length, uint initial = 0) => RefChecksum(f, offset, length, initial) == 0;
}
