using System.Runtime.CompilerServices;

namespace Switchyard.Dataplane.Datapath.Parsing;

/// <summary>
/// One-pass parser from an Ethernet frame to <see cref="PacketInfo"/>.
/// Design (layout, bounds, memory ordering, costs): docs/internals.md, "The packet parser".
/// </summary>
public static unsafe class PacketParser
{
    public const int MaxExtensionHeaders = 8;   // IPv6 extension headers walked before giving up
    const int MaxFrame = 0xFFFF;                // bytes; offsets in PacketInfo are 16-bit
    const int EthHeader = 14, VlanTag = 4;      // bytes
    const int ArpIpv4Length = 28;               // bytes: Ethernet/IPv4 ARP body
    const int Ipv4MinHeader = 20, Ipv6Header = 40, TcpMinHeader = 20, UdpHeader = 8, IcmpHeader = 8;
    const int NsMinLength = 24;                 // ICMPv6 header (8) + target address (16)

    // IPv6 next-header values that are extension headers we walk.
    const byte HopByHop = 0, Routing = 43, FragmentHdr = 44, Ah = 51, NoNextHeader = 59, DestOptions = 60;

    /// <summary>
    /// Parses one frame. Returns <see cref="DropReason.None"/> when the frame is well formed as far
    /// as the parser looks; <paramref name="info"/> is reset first (callers reuse one struct).
    /// </summary>
    public static DropReason Parse(byte* frame, int len, ref PacketInfo info)
        => TryParseCommon(frame, len, ref info) ? DropReason.None : ParseGeneral(frame, len, ref info);

    /// <summary>
    /// The common frame in one straight pass (issue 14): untagged Ethernet, IPv4 with a 20-byte header that is not a
    /// fragment or IPv6 without extension headers, carrying TCP or UDP, all of it well formed. Fills
    /// <paramref name="info"/> exactly as <see cref="ParseGeneral"/> does (PacketParserFuzzTests compares the two
    /// on every input). Anything else, well formed or not, returns false with <paramref name="info"/> untouched or
    /// partly written: the caller parses it again with <see cref="ParseGeneral"/>, which also names the drop reason.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryParseCommon(byte* frame, int len, ref PacketInfo info)
    {
        if (len < EthHeader + Ipv4MinHeader + UdpHeader || len > MaxFrame) return false;
        ushort type = BigEndian.ReadU16(frame + 12);
        byte* ip = frame + EthHeader;
        // Each field is written as soon as it is known (a frame that fails later leaves info partly written, which the
        // caller's ParseGeneral resets): few values live across the checks, so the JIT keeps them in registers.
        info = default;
        info.EtherType = type;
        info.L3Offset = EthHeader;
        int l4Len;
        byte* p;
        if (type == EtherTypes.IPv4)
        {
            if (ip[0] != 0x45) return false;                    // version 4, no options
            int frag = BigEndian.ReadU16(ip + 6);
            if ((frag & 0x3FFF) != 0) return false;             // MF or an offset: a fragment
            int l3Len = BigEndian.ReadU16(ip + 2);
            if (l3Len < Ipv4MinHeader || l3Len > len - EthHeader || !Ipv4ChecksumOk20(ip)) return false;
            info.Flags = (frag & 0x4000) != 0 ? PacketFlags.IPv4 | PacketFlags.DontFragment | PacketFlags.HasPorts
                                              : PacketFlags.IPv4 | PacketFlags.HasPorts;
            info.L3Length = (ushort)l3Len;
            info.Protocol = ip[9];
            info.FragmentId = BigEndian.ReadU16(ip + 4);
            info.HopLimit = ip[8];
            info.Src = Addr128.ReadV4(ip + 12);
            info.Dst = Addr128.ReadV4(ip + 16);
            l4Len = l3Len - Ipv4MinHeader;
            p = ip + Ipv4MinHeader;
        }
        else if (type == EtherTypes.IPv6)
        {
            if (len < EthHeader + Ipv6Header || ip[0] >> 4 != 6) return false;
            l4Len = BigEndian.ReadU16(ip + 4);
            if (l4Len > len - EthHeader - Ipv6Header) return false;
            info.Flags = PacketFlags.IPv6 | PacketFlags.HasPorts;
            info.L3Length = (ushort)(Ipv6Header + l4Len);
            info.Protocol = ip[6];
            info.HopLimit = ip[7];
            Addr128.ReadV6Into(ip + 8, ref info.Src);
            Addr128.ReadV6Into(ip + 24, ref info.Dst);
            p = ip + Ipv6Header;
        }
        else return false;

        int l4 = (int)(p - frame);
        info.L4Offset = (ushort)l4;
        info.L4Length = (ushort)l4Len;
        if (info.Protocol == IpProtocol.Tcp)
        {
            if (l4Len < TcpMinHeader) return false;
            int hl = (p[12] >> 4) * 4;
            if (hl < TcpMinHeader || hl > l4Len) return false;
            if (hl > TcpMinHeader)
            {
                if (!TcpOptionsOk(p, hl)) return false;
                info.TcpOptionsOffset = (ushort)(l4 + TcpMinHeader);
                info.TcpOptionsLength = (ushort)(hl - TcpMinHeader);
            }
            info.TcpFlags = p[13];
            info.PayloadOffset = (ushort)(l4 + hl);
            info.PayloadLength = (ushort)(l4Len - hl);
        }
        else if (info.Protocol == IpProtocol.Udp)
        {
            if (l4Len < UdpHeader) return false;
            int ulen = BigEndian.ReadU16(p + 4);
            if (ulen < UdpHeader || ulen > l4Len) return false;
            info.PayloadOffset = (ushort)(l4 + UdpHeader);
            info.PayloadLength = (ushort)(ulen - UdpHeader);
        }
        else return false;
        info.SrcPort = BigEndian.ReadU16(p);
        info.DstPort = BigEndian.ReadU16(p + 2);
        return true;
    }

    /// <summary><see cref="Ipv4ChecksumOk"/> for a 20-byte header, unrolled, without the folds (PacketParserValidTests
    /// compares the two).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Ipv4ChecksumOk20(byte* ip)
    {
        ulong sum = (ulong)Unsafe.ReadUnaligned<uint>(ip) + Unsafe.ReadUnaligned<uint>(ip + 4) + Unsafe.ReadUnaligned<uint>(ip + 8)
                  + Unsafe.ReadUnaligned<uint>(ip + 12) + Unsafe.ReadUnaligned<uint>(ip + 16);
        // The ones'-complement sum folds to 0xFFFF exactly when the plain sum is a nonzero multiple of 0xFFFF: 2^16 is 1
        // modulo 0xFFFF, so folding keeps the residue, and only zero folds to zero. (The 32-bit words are byte-swapped
        // 16-bit pairs; a swap multiplies the residue by 256, prime to 0xFFFF, so "is zero" does not change.) One
        // multiply by the reciprocal instead of four folds.
        return sum != 0 && sum % 0xFFFF == 0;
    }

    /// <summary>Every frame the way <see cref="Parse"/> treats the uncommon ones: tags, ARP, options, extension
    /// headers, fragments, ICMP, and every malformed frame with its drop reason.</summary>
    internal static DropReason ParseGeneral(byte* frame, int len, ref PacketInfo info)
    {
        info = default;
        if (len < EthHeader) return DropReason.RuntFrame;
        if (len > MaxFrame) len = MaxFrame;

        ushort type = BigEndian.ReadU16(frame + 12);
        int l3 = EthHeader;
        if (type == EtherTypes.QinQ)
        {
            // 802.1ad S-tag: accepted only when followed by one 802.1Q C-tag; the C-tag's TCI is kept.
            if (len < EthHeader + VlanTag) return DropReason.VlanTruncated;
            if (BigEndian.ReadU16(frame + 16) != EtherTypes.Vlan) return DropReason.UnsupportedEtherType;
            if (len < EthHeader + 2 * VlanTag) return DropReason.VlanTruncated;
            info.Flags = PacketFlags.HasVlan;
            info.VlanTci = BigEndian.ReadU16(frame + 18);
            type = BigEndian.ReadU16(frame + 20);
            l3 = EthHeader + 2 * VlanTag;
        }
        else if (type == EtherTypes.Vlan)
        {
            if (len < EthHeader + VlanTag) return DropReason.VlanTruncated;
            info.Flags = PacketFlags.HasVlan;
            info.VlanTci = BigEndian.ReadU16(frame + 14);
            type = BigEndian.ReadU16(frame + 16);
            l3 = EthHeader + VlanTag;
        }
        info.EtherType = type;
        info.L3Offset = (ushort)l3;

        if (type == EtherTypes.IPv4) return ParseIPv4(frame, l3, len, ref info);
        if (type == EtherTypes.IPv6) return ParseIPv6(frame, l3, len, ref info);
        if (type == EtherTypes.Arp) return ParseArp(frame, l3, len, ref info);
        return DropReason.UnsupportedEtherType;
    }

    static DropReason ParseArp(byte* frame, int l3, int len, ref PacketInfo info)
    {
        if (len - l3 < ArpIpv4Length) return DropReason.ArpMalformed;
        byte* a = frame + l3;
        // Only Ethernet (htype 1) / IPv4 (ptype 0x0800) with 6-byte and 4-byte addresses.
        if (BigEndian.ReadU16(a) != 1 || BigEndian.ReadU16(a + 2) != EtherTypes.IPv4 || a[4] != 6 || a[5] != 4)
            return DropReason.ArpMalformed;
        info.Flags |= PacketFlags.Arp;
        info.L3Length = ArpIpv4Length;
        info.ArpOperation = BigEndian.ReadU16(a + 6);
        info.ArpSenderIp = BigEndian.ReadU32(a + 14);
        info.ArpTargetIp = BigEndian.ReadU32(a + 24);
        return DropReason.None;
    }

    static DropReason ParseIPv4(byte* frame, int l3, int len, ref PacketInfo info)
    {
        int avail = len - l3;
        if (avail < 1) return DropReason.Ipv4Truncated;
        byte* ip = frame + l3;
        if (ip[0] >> 4 != 4) return DropReason.Ipv4BadVersion;
        int hl = (ip[0] & 0xF) * 4;
        if (hl < Ipv4MinHeader) return DropReason.Ipv4BadIhl;
        if (avail < hl) return DropReason.Ipv4Truncated;
        // Ethernet pads short frames to 60 bytes: the total length, not the frame, ends the packet.
        int total = BigEndian.ReadU16(ip + 2);
        if (total < hl || total > avail) return DropReason.Ipv4BadTotalLength;
        if (!Ipv4ChecksumOk(ip, hl)) return DropReason.Ipv4BadChecksum;

        PacketFlags flags = info.Flags | PacketFlags.IPv4;
        if (hl > Ipv4MinHeader)
        {
            flags |= PacketFlags.HasIpOptions;
            if (!Ipv4OptionsOk(ip, hl)) return DropReason.Ipv4BadOptions;
        }

        int frag = BigEndian.ReadU16(ip + 6);
        if ((frag & 0x4000) != 0) flags |= PacketFlags.DontFragment;
        bool more = (frag & 0x2000) != 0;
        int fragOffset = frag & 0x1FFF;
        if (more || fragOffset != 0)
        {
            flags |= PacketFlags.Fragment;
            if (fragOffset == 0) flags |= PacketFlags.FirstFragment;
        }

        info.Flags = flags;
        info.L3Length = (ushort)total;
        info.FragmentId = BigEndian.ReadU16(ip + 4);
        info.HopLimit = ip[8];
        info.Protocol = ip[9];
        info.Src = Addr128.ReadV4(ip + 12);
        info.Dst = Addr128.ReadV4(ip + 16);
        info.L4Offset = (ushort)(l3 + hl);
        info.L4Length = (ushort)(total - hl);

        // A non-first fragment carries no upper-layer header: nothing more to read.
        if (fragOffset != 0) return DropReason.None;
        return ParseL4(frame, l3 + hl, total - hl, ip[9], ipv6: false, partial: more, ref info);
    }

    /// <summary>Ones'-complement sum over the header, including the checksum field, must be 0xFFFF.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Ipv4ChecksumOk(byte* ip, int hl)
    {
        // hl is a multiple of 4 (20..60): sum native-order 32-bit words; the ones'-complement sum is
        // byte-order independent, and 0xFFFF reads the same either way round.
        ulong sum = 0;
        for (int i = 0; i < hl; i += 4) sum += Unsafe.ReadUnaligned<uint>(ip + i);
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return sum == 0xFFFF;
    }

    static bool Ipv4OptionsOk(byte* ip, int hl)
    {
        int i = Ipv4MinHeader;
        while (i < hl)
        {
            byte kind = ip[i];
            if (kind == 0) break;                 // End of Option List
            if (kind == 1) { i++; continue; }     // No-Operation
            if (hl - i < 2) return false;         // length byte missing
            int olen = ip[i + 1];
            if (olen < 2 || olen > hl - i) return false;
            i += olen;
        }
        return true;
    }

    static DropReason ParseIPv6(byte* frame, int l3, int len, ref PacketInfo info)
    {
        int avail = len - l3;
        if (avail < 1) return DropReason.Ipv6Truncated;
        byte* ip = frame + l3;
        if (ip[0] >> 4 != 6) return DropReason.Ipv6BadVersion;
        if (avail < Ipv6Header) return DropReason.Ipv6Truncated;
        int payload = BigEndian.ReadU16(ip + 4);
        byte nh = ip[6];
        if (payload == 0 && nh == HopByHop) return DropReason.Ipv6BadPayloadLength; // jumbogram: unsupported
        if (payload > avail - Ipv6Header) return DropReason.Ipv6BadPayloadLength;

        PacketFlags flags = info.Flags | PacketFlags.IPv6;
        info.L3Length = (ushort)(Ipv6Header + payload);
        info.HopLimit = ip[7];
        info.Src = Addr128.ReadV6(ip + 8);
        info.Dst = Addr128.ReadV6(ip + 24);

        int off = Ipv6Header, end = Ipv6Header + payload;
        bool nonFirst = false, partial = false;
        if (IsExtensionHeader(nh))
        {
            flags |= PacketFlags.HasExtensionHeaders;
            DropReason r = WalkExtensionHeaders(ip, ref off, end, ref nh, out bool sawFragment, out int fragField, out uint fragId);
            if (r != DropReason.None) { info.Flags = flags; return r; }
            // An atomic fragment (offset 0, M clear) is a whole datagram (RFC 6946): it is not
            // flagged, so it is steered and pinned like the rest of its flow.
            if (sawFragment && fragField != 0)
            {
                flags |= PacketFlags.Fragment;
                if (fragField >> 3 == 0) flags |= PacketFlags.FirstFragment;
                else nonFirst = true;
                partial = (fragField & 1) != 0;
                info.FragmentId = fragId;
            }
        }
        info.Flags = flags;
        info.Protocol = nh;
        info.L4Offset = (ushort)(l3 + off);
        info.L4Length = (ushort)(end - off);
        if (nonFirst || nh == NoNextHeader) return DropReason.None;
        return ParseL4(frame, l3 + off, end - off, nh, ipv6: true, partial, ref info);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static bool IsExtensionHeader(byte nh) =>
        nh == HopByHop || nh == Routing || nh == FragmentHdr || nh == DestOptions || nh == Ah;

    /// <summary>
    /// Walks extension headers from <paramref name="off"/> while <paramref name="nh"/> names one,
    /// never past <paramref name="end"/> (both relative to <paramref name="ip"/>). Stops after a
    /// fragment header with a non-zero offset: what follows is fragment data, not headers.
    /// <paramref name="fragField"/> is the last fragment header's offset (8-byte units) &lt;&lt; 3 | M.
    /// On return <paramref name="nh"/> is the upper-layer protocol and <paramref name="off"/> its offset.
    /// </summary>
    static DropReason WalkExtensionHeaders(byte* ip, ref int off, int end, ref byte nh,
        out bool sawFragment, out int fragField, out uint fragId)
    {
        sawFragment = false; fragField = 0; fragId = 0;
        for (int count = 0; IsExtensionHeader(nh); count++)
        {
            if (count == MaxExtensionHeaders) return DropReason.Ipv6TooManyExtensionHeaders;
            int room = end - off;
            int hlen;
            if (nh == FragmentHdr)
            {
                if (room < 8) return DropReason.Ipv6BadExtensionHeader;
                hlen = 8;
                sawFragment = true;
                fragField = BigEndian.ReadU16(ip + off + 2) & 0xFFF9;   // offset and M; the two reserved bits dropped
                fragId = BigEndian.ReadU32(ip + off + 4);
            }
            else
            {
                if (room < 2) return DropReason.Ipv6BadExtensionHeader;
                hlen = nh == Ah ? (ip[off + 1] + 2) * 4 : (ip[off + 1] + 1) * 8;
                if (hlen > room) return DropReason.Ipv6BadExtensionHeader;
            }
            nh = ip[off];
            off += hlen;
            if (fragField >> 3 != 0) break;
        }
        return DropReason.None;
    }

    /// <summary>
    /// Upper layer. <paramref name="l4Len"/> is what the IP header says follows (already within the frame).
    /// <paramref name="partial"/>: a first fragment with more to follow. Its L4 header may be cut
    /// short: then it is simply not parsed (no ports); and the UDP length, which counts the whole
    /// datagram, is not compared with this fragment.
    /// </summary>
    static DropReason ParseL4(byte* frame, int l4, int l4Len, byte protocol, bool ipv6, bool partial, ref PacketInfo info)
    {
        byte* p = frame + l4;
        if (protocol == IpProtocol.Tcp)
        {
            if (l4Len < TcpMinHeader) return partial ? DropReason.None : DropReason.TcpTruncated;
            int hl = (p[12] >> 4) * 4;
            if (hl < TcpMinHeader || hl > l4Len) return DropReason.TcpBadDataOffset;
            if (hl > TcpMinHeader)
            {
                if (!TcpOptionsOk(p, hl)) return DropReason.TcpBadOptions;
                info.TcpOptionsOffset = (ushort)(l4 + TcpMinHeader);
                info.TcpOptionsLength = (ushort)(hl - TcpMinHeader);
            }
            info.SrcPort = BigEndian.ReadU16(p);
            info.DstPort = BigEndian.ReadU16(p + 2);
            info.TcpFlags = p[13];
            info.PayloadOffset = (ushort)(l4 + hl);
            info.PayloadLength = (ushort)(l4Len - hl);
            info.Flags |= PacketFlags.HasPorts;
            return DropReason.None;
        }
        if (protocol == IpProtocol.Udp)
        {
            if (l4Len < UdpHeader) return partial ? DropReason.None : DropReason.UdpTruncated;
            int ulen = BigEndian.ReadU16(p + 4);
            if (ulen < UdpHeader || (!partial && ulen > l4Len)) return DropReason.UdpBadLength;
            info.SrcPort = BigEndian.ReadU16(p);
            info.DstPort = BigEndian.ReadU16(p + 2);
            info.PayloadOffset = (ushort)(l4 + UdpHeader);
            info.PayloadLength = (ushort)(Math.Min(ulen, l4Len) - UdpHeader);
            info.Flags |= PacketFlags.HasPorts;
            return DropReason.None;
        }
        if (protocol == (ipv6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp))
        {
            if (l4Len < IcmpHeader) return partial ? DropReason.None : DropReason.IcmpTruncated;
            info.IcmpType = p[0];
            info.IcmpCode = p[1];
            info.PayloadOffset = (ushort)(l4 + IcmpHeader);
            info.PayloadLength = (ushort)(l4Len - IcmpHeader);
            return ipv6 ? ParseIcmpV6(p, l4Len, ref info) : ParseIcmpV4(p, l4Len, ref info);
        }
        return DropReason.None;   // other protocols: L4Offset/L4Length/Protocol are all the upper layer gets
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // no call in the first pass's common loop (Classifier.ClassifyCommon)
    static bool TcpOptionsOk(byte* tcp, int hl)
    {
        int i = TcpMinHeader;
        while (i < hl)
        {
            byte kind = tcp[i];
            if (kind == 0) break;                 // End of Option List
            if (kind == 1) { i++; continue; }     // No-Operation
            if (hl - i < 2) return false;
            int olen = tcp[i + 1];
            if (olen < 2 || olen > hl - i) return false;
            i += olen;
        }
        return true;
    }

    static DropReason ParseIcmpV4(byte* icmp, int l4Len, ref PacketInfo info)
    {
        // Only "destination unreachable / fragmentation needed" is routed back to a backend (PMTUD).
        if (icmp[0] != 3 || icmp[1] != 4) return DropReason.None;
        info.IcmpMtu = BigEndian.ReadU16(icmp + 6);
        byte* q = icmp + IcmpHeader;
        int qlen = l4Len - IcmpHeader;
        if (qlen < Ipv4MinHeader || q[0] >> 4 != 4) return DropReason.IcmpErrorMalformed;
        int hl = (q[0] & 0xF) * 4;
        if (hl < Ipv4MinHeader || hl > qlen) return DropReason.IcmpErrorMalformed;
        byte proto = q[9];
        info.InnerProtocol = proto;
        info.InnerSrc = Addr128.ReadV4(q + 12);
        info.InnerDst = Addr128.ReadV4(q + 16);
        if ((BigEndian.ReadU16(q + 6) & 0x1FFF) == 0)
        {
            // RFC 792: the quote holds the IP header plus the first 64 bits of the datagram.
            if (qlen - hl < 8) return DropReason.IcmpErrorMalformed;
            if (proto == IpProtocol.Tcp || proto == IpProtocol.Udp)
            {
                info.InnerSrcPort = BigEndian.ReadU16(q + hl);
                info.InnerDstPort = BigEndian.ReadU16(q + hl + 2);
            }
        }
        info.Flags |= PacketFlags.IcmpError;
        return DropReason.None;
    }

    static DropReason ParseIcmpV6(byte* icmp, int l4Len, ref PacketInfo info)
    {
        byte type = icmp[0];
        if (type == 135)
        {
            // Neighbor solicitation: reserved (4) then the target address.
            if (l4Len < NsMinLength) return DropReason.NdpMalformed;
            info.NdTarget = Addr128.ReadV6(icmp + 8);
            info.Flags |= PacketFlags.NeighborSolicitation;
            return DropReason.None;
        }
        if (type != 2) return DropReason.None;

        // Packet too big: MTU, then as much of the offending packet as fits the minimum MTU.
        info.IcmpMtu = BigEndian.ReadU32(icmp + 4);
        byte* q = icmp + IcmpHeader;
        int qlen = l4Len - IcmpHeader;
        if (qlen < Ipv6Header || q[0] >> 4 != 6) return DropReason.IcmpErrorMalformed;
        info.InnerSrc = Addr128.ReadV6(q + 8);
        info.InnerDst = Addr128.ReadV6(q + 24);
        byte nh = q[6];
        int off = Ipv6Header;
        // The quote is cut wherever the sender chose: walk the headers within the quote, not
        // within the inner payload length.
        DropReason r = WalkExtensionHeaders(q, ref off, qlen, ref nh, out _, out int fragField, out _);
        if (r != DropReason.None) return DropReason.IcmpErrorMalformed;
        info.InnerProtocol = nh;
        if (fragField >> 3 == 0 && (nh == IpProtocol.Tcp || nh == IpProtocol.Udp))
        {
            // Whatever follows the ports may be cut off; the ports themselves must be there.
            if (qlen - off < 4) return DropReason.IcmpErrorMalformed;
            info.InnerSrcPort = BigEndian.ReadU16(q + off);
            info.InnerDstPort = BigEndian.ReadU16(q + off + 2);
        }
        info.Flags |= PacketFlags.IcmpError;
        return DropReason.None;
    }
}
