using Switchyard.Dataplane.Datapath.Parsing;

namespace Switchyard.Dataplane.Datapath.Forwarding;

/// <summary>
/// Answers address resolution for our own addresses and the VIPs, in place: an ARP request becomes
/// the ARP reply, an NDP neighbor solicitation becomes the neighbor advertisement. The caller has
/// already decided the target is ours (parser + local address set).
/// </summary>
public static unsafe class Neighbor
{
    const int NaLength = 24;          // ICMPv6 NA: type, code, checksum, flags + reserved, target
    const int TllaOptionLength = 8;   // target link-layer address option: type 2, length 1 (x8 bytes), MAC

    /// <summary>
    /// Turns the ARP request at <c>p.L3Offset</c> into its reply: opcode 2, the requested address
    /// answered with <paramref name="ourMac"/>, sent to the requester's MAC. Length and VLAN tag unchanged.
    /// </summary>
    public static void ArpReply(byte* frame, in PacketInfo p, ulong ourMac)
    {
        // ARP for Ethernet/IPv4: htype(2) ptype(2) hlen(1) plen(1) oper(2) sha(6) spa(4) tha(6) tpa(4)
        byte* arp = frame + p.L3Offset;
        ulong requesterMac = BigEndian.ReadMac(arp + 8);
        uint requesterIp = BigEndian.ReadU32(arp + 14);
        uint targetIp = BigEndian.ReadU32(arp + 24);

        BigEndian.WriteU16(arp + 6, 2);
        BigEndian.WriteMac(arp + 8, ourMac);
        BigEndian.WriteU32(arp + 14, targetIp);
        BigEndian.WriteMac(arp + 18, requesterMac);
        BigEndian.WriteU32(arp + 24, requesterIp);

        BigEndian.WriteMac(frame, requesterMac);
        BigEndian.WriteMac(frame + 6, ourMac);
    }

    /// <summary>
    /// Turns the neighbor solicitation into the neighbor advertisement for <c>p.NdTarget</c> (RFC 4861
    /// 7.2.4): IPv6 source = the target, hop limit 255, flags Override plus Solicited, a target
    /// link-layer address option with <paramref name="ourMac"/>, valid ICMPv6 checksum. It goes back to
    /// the solicitation's source; a solicitation from :: (duplicate address detection) is answered to
    /// all-nodes ff02::1 (Ethernet 33:33:00:00:00:01) with Solicited clear, as the RFC requires.
    /// The advertisement is written right after the 40-byte IPv6 header (extension headers of the
    /// solicitation are dropped) and is 32 bytes long, which can be 8 bytes more than a solicitation
    /// without a source link-layer option: <paramref name="tailroom"/> (bytes usable after
    /// <paramref name="len"/>) must cover that, else <see cref="DropReason.NoHeadroom"/> and the frame is
    /// untouched. The VLAN tag is kept.
    /// </summary>
    public static DropReason NdpAdvertise(byte* frame, int len, int tailroom, in PacketInfo p, ulong ourMac, out ushort newLen)
    {
        int end = p.L3Offset + 40 + NaLength + TllaOptionLength;
        newLen = 0;
        if (end > len + tailroom) return DropReason.NoHeadroom;

        byte* ip = frame + p.L3Offset;
        bool fromUnspecified = p.Src.IsZero;
        ulong requesterMac = BigEndian.ReadMac(frame + 6);

        // Ethernet: to the requester, or to the all-nodes multicast MAC (RFC 2464: 33:33 + low 32 bits).
        BigEndian.WriteMac(frame, fromUnspecified ? 0x3333_0000_0001UL : requesterMac);
        BigEndian.WriteMac(frame + 6, ourMac);

        const int icmpLen = NaLength + TllaOptionLength;
        BigEndian.WriteU32(ip, 6u << 28);
        BigEndian.WriteU16(ip + 4, icmpLen);
        ip[6] = IpProtocol.IcmpV6;
        ip[7] = 255;                              // RFC 4861: receivers drop NDP with any other hop limit
        if (fromUnspecified) new Addr128(0xFF02_0000_0000_0000UL, 1).WriteV6(ip + 24);
        else p.Src.WriteV6(ip + 24);
        p.NdTarget.WriteV6(ip + 8);

        byte* icmp = ip + 40;
        icmp[0] = 136;                            // neighbor advertisement
        icmp[1] = 0;
        // R=0 (we are not a router for the client), S=1 unless answering DAD, O=1.
        icmp[4] = (byte)(fromUnspecified ? 0x20 : 0x60);
        icmp[5] = 0; icmp[6] = 0; icmp[7] = 0;
        p.NdTarget.WriteV6(icmp + 8);
        icmp[24] = 2;                             // target link-layer address
        icmp[25] = 1;                             // length in units of 8 bytes
        BigEndian.WriteMac(icmp + 26, ourMac);
        Checksum.SetUpperLayer(icmp, icmpLen, 2, Checksum.PseudoHeaderV6(ip, IpProtocol.IcmpV6, icmpLen), isUdp: false);

        newLen = (ushort)end;
        return DropReason.None;
    }
}
