using System.Net;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Parsing;

namespace Switchyard.Tests.Parsing;

/// <summary>
/// Test-side frame construction, written independently of the parser: plain byte arrays,
/// big-endian by hand, IPv4 header checksum computed here by the textbook 16-bit word sum.
/// </summary>
static class Frames
{
    public static readonly byte[] DstMac = [0x02, 0, 0, 0, 0, 1];
    public static readonly byte[] SrcMac = [0x02, 0, 0, 0, 0, 2];

    public static byte[] Cat(params byte[][] parts)
    {
        var r = new byte[parts.Sum(p => p.Length)];
        int o = 0;
        foreach (var p in parts) { p.CopyTo(r, o); o += p.Length; }
        return r;
    }

    public static byte[] Be16(int v) => [(byte)(v >> 8), (byte)v];
    public static byte[] Be32(uint v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];
    public static byte[] Ip(string a) => IPAddress.Parse(a).GetAddressBytes();
    public static byte[] Bytes(int n, byte fill = 0xAB) => Enumerable.Repeat(fill, n).ToArray();

    // ---- Layer 2 ----
    public static byte[] Eth(ushort etherType, byte[] l3) => Cat(DstMac, SrcMac, Be16(etherType), l3);

    public static byte[] EthVlan(ushort tci, ushort etherType, byte[] l3) =>
        Cat(DstMac, SrcMac, Be16(0x8100), Be16(tci), Be16(etherType), l3);

    public static byte[] EthQinQ(ushort outerTci, ushort innerTci, ushort etherType, byte[] l3) =>
        Cat(DstMac, SrcMac, Be16(0x88A8), Be16(outerTci), Be16(0x8100), Be16(innerTci), Be16(etherType), l3);

    public static byte[] Arp(ushort op, string sender, string target, int htype = 1, int ptype = 0x0800, byte hlen = 6, byte plen = 4) =>
        Cat(Be16(htype), Be16(ptype), [hlen, plen], Be16(op), SrcMac, Ip(sender), new byte[6], Ip(target));

    // ---- IPv4 ----
    public const ushort DF = 0x4000, MF = 0x2000;

    /// <summary>IPv4 header + payload. <paramref name="fragField"/> is the flags/offset word (offset in 8-byte units).</summary>
    public static byte[] Ipv4(byte proto, byte[] payload, string src = "10.0.0.1", string dst = "10.0.0.2",
        byte[]? options = null, ushort fragField = 0, ushort id = 0x1234, byte ttl = 64,
        int? totalLength = null, int? ihl = null, int version = 4, bool badChecksum = false)
    {
        options ??= [];
        if (options.Length % 4 != 0) throw new ArgumentException("options must be padded to 4 bytes");
        int hl = 20 + options.Length;
        var h = Cat([(byte)(version << 4 | (ihl ?? hl / 4)), 0], Be16(totalLength ?? hl + payload.Length), Be16(id),
            Be16(fragField), [ttl, proto, 0, 0], Ip(src), Ip(dst), options);
        ushort c = Checksum(h);
        if (badChecksum) c ^= 0x0101;
        h[10] = (byte)(c >> 8); h[11] = (byte)c;
        return Cat(h, payload);
    }

    /// <summary>RFC 1071 checksum: ones'-complement of the ones'-complement sum of 16-bit words.</summary>
    public static ushort Checksum(byte[] data, int start = 0, int count = -1)
    {
        if (count < 0) count = data.Length - start;
        uint sum = 0;
        for (int i = 0; i < count; i += 2)
        {
            int hi = data[start + i];
            int lo = i + 1 < count ? data[start + i + 1] : 0;
            sum += (uint)(hi << 8 | lo);
            while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)~sum;
    }

    // ---- IPv6 ----
    public static byte[] Ipv6(byte nextHeader, byte[] payload, string src = "2001:db8::1", string dst = "2001:db8::2",
        byte hopLimit = 64, int? payloadLength = null, int version = 6) =>
        Cat([(byte)(version << 4), 0, 0, 0], Be16(payloadLength ?? payload.Length), [nextHeader, hopLimit], Ip(src), Ip(dst), payload);

    /// <summary>Hop-by-hop / routing / destination options: (extLen+1)*8 bytes.</summary>
    public static byte[] Ext(byte nextHeader, int extLen = 0)
    {
        var h = new byte[(extLen + 1) * 8];
        h[0] = nextHeader; h[1] = (byte)extLen;
        for (int i = 2; i < h.Length; i++) h[i] = 1; // PadN-free filler: Pad1-ish bytes; the parser does not walk them
        return h;
    }

    /// <summary>Authentication header: (len+2)*4 bytes.</summary>
    public static byte[] AhHeader(byte nextHeader, int len = 4)
    {
        var h = new byte[(len + 2) * 4];
        h[0] = nextHeader; h[1] = (byte)len;
        return h;
    }

    public static byte[] FragHeader(byte nextHeader, int offsetUnits, bool more, uint id) =>
        Cat([nextHeader, 0], Be16(offsetUnits << 3 | (more ? 1 : 0)), Be32(id));

    // ---- Layer 4 ----
    public static byte[] Tcp(ushort sport, ushort dport, byte flags = TcpFlag.Syn, byte[]? options = null,
        byte[]? payload = null, int? dataOffset = null)
    {
        options ??= [];
        payload ??= [];
        int hl = 20 + options.Length;
        return Cat(Be16(sport), Be16(dport), Be32(1000), Be32(0), [(byte)((dataOffset ?? hl / 4) << 4), flags],
            Be16(65535), Be16(0), Be16(0), options, payload);
    }

    public static byte[] Udp(ushort sport, ushort dport, byte[]? payload = null, int? length = null)
    {
        payload ??= [];
        return Cat(Be16(sport), Be16(dport), Be16(length ?? 8 + payload.Length), Be16(0), payload);
    }

    public static byte[] Icmp(byte type, byte code, byte[]? rest = null, byte[]? body = null) =>
        Cat([type, code, 0, 0], rest ?? new byte[4], body ?? []);

    /// <summary>Standard TCP SYN options: MSS, SACK permitted, timestamps, NOP, window scale (20 bytes).</summary>
    public static byte[] SynOptions =>
        [2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];

    // ---- Ready-made frames ----
    public static byte[] V4Tcp(byte[]? payload = null) =>
        Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Tcp, Tcp(40000, 80, TcpFlag.Syn, SynOptions, payload)));
    public static byte[] V4Udp(byte[]? payload = null) =>
        Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Udp, Udp(5353, 53, payload ?? Bytes(12))));
    public static byte[] V6Tcp(byte[]? payload = null) =>
        Eth(EtherTypes.IPv6, Ipv6(IpProtocol.Tcp, Tcp(40000, 443, TcpFlag.Ack, null, payload ?? Bytes(10))));
    public static byte[] V6Udp() =>
        Eth(EtherTypes.IPv6, Ipv6(IpProtocol.Udp, Udp(1000, 2000, Bytes(5))));

    public static byte[] V4FragNeeded(ushort mtu = 1400, byte[]? innerOptions = null) =>
        Eth(EtherTypes.IPv4, Ipv4(IpProtocol.Icmp,
            Icmp(3, 4, Cat(Be16(0), Be16(mtu)),
                Ipv4(IpProtocol.Tcp, Tcp(80, 40000, TcpFlag.Ack, null, Bytes(100)), "192.0.2.10", "198.51.100.7", innerOptions)
                    .Take(20 + (innerOptions?.Length ?? 0) + 8).ToArray()),
            "203.0.113.1", "192.0.2.10"));

    public static byte[] V6TooBig(uint mtu = 1280, byte[]? innerExt = null, int quoteCut = -1)
    {
        byte[] innerL4 = Tcp(443, 40000, TcpFlag.Ack, null, Bytes(64));
        byte[] inner = innerExt == null
            ? Ipv6(IpProtocol.Tcp, innerL4, "2001:db8::10", "2001:db8:1::7")
            : Ipv6(60, Cat(innerExt, innerL4), "2001:db8::10", "2001:db8:1::7");
        if (quoteCut >= 0) inner = inner.Take(quoteCut).ToArray();
        return Eth(EtherTypes.IPv6, Ipv6(IpProtocol.IcmpV6, Icmp(2, 0, Be32(mtu), inner), "2001:db8::ff", "2001:db8::10"));
    }

    public static byte[] V6NeighborSolicitation(string target = "2001:db8::100") =>
        Eth(EtherTypes.IPv6, Ipv6(IpProtocol.IcmpV6, Icmp(135, 0, new byte[4], Cat(Ip(target), [1, 1], SrcMac)),
            "fe80::2", "ff02::1:ff00:100", hopLimit: 255));

    /// <summary>Overwrite bytes of a built frame (for length-field and flag mutations).</summary>
    public static byte[] With(this byte[] f, int offset, params byte[] bytes)
    {
        var c = (byte[])f.Clone();
        bytes.CopyTo(c, offset);
        return c;
    }

    /// <summary>Recompute the IPv4 header checksum of a frame whose IPv4 header starts at <paramref name="l3"/>.</summary>
    public static byte[] FixIpv4Checksum(this byte[] f, int l3 = 14)
    {
        var c = (byte[])f.Clone();
        int hl = (c[l3] & 0xF) * 4;
        c[l3 + 10] = 0; c[l3 + 11] = 0;
        ushort s = Checksum(c, l3, hl);
        c[l3 + 10] = (byte)(s >> 8); c[l3 + 11] = (byte)s;
        return c;
    }

    public static unsafe DropReason Parse(byte[] frame, out PacketInfo info)
    {
        info = default;
        fixed (byte* p = frame) return PacketParser.Parse(p, frame.Length, ref info);
    }

    public static unsafe DropReason Parse(byte[] frame, int len, out PacketInfo info)
    {
        info = default;
        fixed (byte* p = frame) return PacketParser.Parse(p, len, ref info);
    }
}
