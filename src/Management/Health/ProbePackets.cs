using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Switchyard.Dataplane.Control;

namespace Switchyard.Management.Health;

/// <summary>TCP segments of the encapsulated probe: built and parsed on plain byte arrays (the management thread's
/// business, not the packet path's), with their own Internet checksums.</summary>
public static class ProbePackets
{
    public const byte TcpFin = 0x01, TcpSyn = 0x02, TcpRst = 0x04, TcpPsh = 0x08, TcpAck = 0x10;
    const int Ipv4Header = 20, Ipv6Header = 40, TcpHeader = 20;

    /// <summary>An inner IPv4/IPv6 packet carrying one TCP segment (SYN with an MSS option, or a bare RST/ACK),
    /// as the client-side kernel would send it: TTL/hop limit 64, DF set on IPv4, valid checksums.</summary>
    public static byte[] Tcp(IPAddress src, IPAddress dst, ushort srcPort, ushort dstPort, uint seq, uint ack, byte flags,
        ushort window = 64240, ushort mss = 0)
    {
        bool v6 = src.AddressFamily == AddressFamily.InterNetworkV6;
        if (v6 != (dst.AddressFamily == AddressFamily.InterNetworkV6)) throw new ArgumentException("source and destination differ in family");
        int ip = v6 ? Ipv6Header : Ipv4Header;
        int tcpLen = TcpHeader + (mss != 0 ? 4 : 0);
        var p = new byte[ip + tcpLen];
        var t = p.AsSpan(ip);
        BinaryPrimitives.WriteUInt16BigEndian(t, srcPort);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], dstPort);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(t[8..], ack);
        t[12] = (byte)(tcpLen / 4 << 4);
        t[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(t[14..], window);
        if (mss != 0) { t[20] = 2; t[21] = 4; BinaryPrimitives.WriteUInt16BigEndian(t[22..], mss); }
        if (!v6)
        {
            p[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)Random.Shared.Next(0x10000));
            p[6] = 0x40;                       // DF
            p[8] = 64;
            p[9] = 6;
            src.TryWriteBytes(p.AsSpan(12, 4), out _);
            dst.TryWriteBytes(p.AsSpan(16, 4), out _);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), Fold(Sum(p.AsSpan(0, Ipv4Header))));
        }
        else
        {
            p[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)tcpLen);
            p[6] = 6;
            p[7] = 64;
            src.TryWriteBytes(p.AsSpan(8, 16), out _);
            dst.TryWriteBytes(p.AsSpan(24, 16), out _);
        }
        BinaryPrimitives.WriteUInt16BigEndian(t[16..], TcpChecksum(src, dst, t));
        return p;
    }

    /// <summary>The TCP checksum of a segment whose checksum field is zero or already set (a valid one then sums to 0).</summary>
    public static ushort TcpChecksum(IPAddress src, IPAddress dst, ReadOnlySpan<byte> segment)
    {
        Span<byte> a = stackalloc byte[16];
        ulong sum = 0;
        src.TryWriteBytes(a, out int n); sum += Sum(a[..n]);
        dst.TryWriteBytes(a, out n); sum += Sum(a[..n]);
        sum += 6u + (uint)segment.Length;
        sum += Sum(segment);
        return Fold(sum);
    }

    static ulong Sum(ReadOnlySpan<byte> b)
    {
        ulong s = 0;
        int i = 0;
        for (; i + 1 < b.Length; i += 2) s += (uint)(b[i] << 8 | b[i + 1]);
        if (i < b.Length) s += (uint)(b[i] << 8);
        return s;
    }

    static ushort Fold(ulong s)
    {
        while (s >> 16 != 0) s = (s & 0xFFFF) + (s >> 16);
        return (ushort)~s;
    }

    /// <summary>The bytes an encapsulating socket sends for <paramref name="inner"/>: the inner packet itself for IPIP
    /// (the kernel's raw socket adds the outer IP header with protocol 4/41) and GUE variant 1 (the UDP payload is the
    /// inner packet), a 4-byte GRE header (no flags, version 0, EtherType of the inner family) plus the packet for GRE.</summary>
    public static byte[] TunnelPayload(ForwardingMode mode, byte[] inner, bool v6)
    {
        if (mode != ForwardingMode.Gre) return inner;
        var g = new byte[4 + inner.Length];
        BinaryPrimitives.WriteUInt16BigEndian(g.AsSpan(2), v6 ? (ushort)0x86DD : (ushort)0x0800);
        inner.CopyTo(g, 4);
        return g;
    }

    /// <summary>A TCP header read from a raw socket (IPv4 raw sockets deliver the IP header too, IPv6 ones do not).</summary>
    public readonly record struct TcpView(ushort SrcPort, ushort DstPort, uint Seq, uint Ack, byte Flags);

    public static bool TryParseTcp(ReadOnlySpan<byte> b, bool withIpv4Header, out TcpView tcp, out IPAddress? ipv4Source)
    {
        tcp = default; ipv4Source = null;
        if (withIpv4Header)
        {
            if (b.Length < Ipv4Header || b[0] >> 4 != 4 || b[9] != 6) return false;
            int ihl = (b[0] & 0x0F) * 4;
            if (ihl < Ipv4Header || b.Length < ihl + TcpHeader) return false;
            ipv4Source = new IPAddress(b.Slice(12, 4));
            b = b[ihl..];
        }
        if (b.Length < TcpHeader) return false;
        tcp = new TcpView(BinaryPrimitives.ReadUInt16BigEndian(b), BinaryPrimitives.ReadUInt16BigEndian(b[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(b[4..]), BinaryPrimitives.ReadUInt32BigEndian(b[8..]), b[13]);
        return true;
    }
}
