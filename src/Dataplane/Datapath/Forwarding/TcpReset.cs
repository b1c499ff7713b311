using Switchyard.Dataplane.Datapath.Parsing;

namespace Switchyard.Dataplane.Datapath.Forwarding;

/// <summary>
/// Turns a received TCP segment into the RST that refuses it, sent back to its sender, in place. In
/// practice the segment is an MP_JOIN SYN that no steering mode can place: RFC 8684 section 3.2 says
/// to answer it with a RST, which may carry MP_TCPRST (section 3.6) with reason "MPTCP-specific error".
/// <para>
/// Sequence numbers follow RFC 9293 section 3.10.7.1 (RFC 793 "Reset Generation", case 1): for a
/// segment without ACK the RST is <c>SEQ=0 ACK=SEG.SEQ+SEG.LEN CTL=RST,ACK</c> (SYN and FIN count one
/// each in SEG.LEN); for a segment with ACK it is <c>SEQ=SEG.ACK CTL=RST</c>. Window 0, no payload.
/// </para>
/// <para>
/// The RST is written over the segment: the Ethernet header stays where it is (the 802.1Q tag and the
/// EtherType are kept, the MACs become sender's and ours), a fresh IP header replaces the original
/// (IPv4 options and IPv6 extension headers are dropped, so the TCP header may move forward), and the
/// TCP header follows right after it. The frame starts at the same address; only its length changes.
/// Short results (e.g. 54 bytes for untagged IPv4) are not padded: the NIC pads to the Ethernet minimum.
/// </para>
/// </summary>
public static unsafe class TcpReset
{
    const int EthHeader = 14;
    const int VlanTag = 4;
    const int TcpHeader = 20;
    /// <summary>MP_TCPRST: kind 30, length 4, [subtype 8][U V W T], reason.</summary>
    const int MpTcpRstLength = 4;
    const byte MpTcpOptionKind = 30;
    const byte MpTcpRstSubtype = 8;
    const byte HopLimit = 64;

    /// <summary>MP_TCPRST reason codes (RFC 8684 section 3.6, IANA "MPTCP TCPRST Reason Codes").</summary>
    public const byte ReasonUnspecified = 0, ReasonMptcpSpecific = 1, ReasonLackOfResources = 2,
        ReasonAdministrativelyProhibited = 3, ReasonTooMuchOutstandingData = 4, ReasonUnacceptablePerformance = 5,
        ReasonMiddleboxInterference = 6;

    /// <summary>
    /// Builds the RST for the TCP segment described by <paramref name="p"/> (as parsed from
    /// [frame, frame+len)). <paramref name="ourMac"/> is the Ethernet source (the ingress port's MAC).
    /// With <paramref name="withMpTcpRst"/> the RST carries one MP_TCPRST option with T=0 and
    /// <paramref name="reason"/> (see the Reason constants), data offset 6; else no options, data offset 5.
    /// Returns <see cref="DropReason.None"/> and the new frame length, or
    /// <see cref="DropReason.ResetNotPossible"/> with the frame untouched when no RST can be built: not a
    /// parsed TCP segment over IPv4/IPv6, an IP fragment (its SEG.LEN is unknown), a segment that is
    /// itself a RST (never answered, RFC 9293), or an RST that would be longer than the frame.
    /// </summary>
    public static DropReason BuildForSyn(byte* frame, int len, in PacketInfo p, ulong ourMac, bool withMpTcpRst, byte reason,
        out ushort newLen)
    {
        newLen = 0;
        bool v6 = p.IsIPv6;
        if (p.Protocol != IpProtocol.Tcp || (p.Flags & PacketFlags.HasPorts) == 0 || (!v6 && !p.IsIPv4)
            || (p.Flags & PacketFlags.Fragment) != 0 || p.L4Length < TcpHeader)
            return DropReason.ResetNotPossible;
        byte* seg = frame + p.L4Offset;
        byte flags = seg[13];
        if ((flags & TcpFlag.Rst) != 0) return DropReason.ResetNotPossible;

        int l2 = p.Has(PacketFlags.HasVlan) ? EthHeader + VlanTag : EthHeader;
        int ipHeader = v6 ? 40 : 20;
        int tcpLen = withMpTcpRst ? TcpHeader + MpTcpRstLength : TcpHeader;
        int end = l2 + ipHeader + tcpLen;
        // The new TCP header starts at or before the old one (IP options/extension headers are
        // dropped, never added); it must not start after it, nor the frame grow.
        if (end > len || l2 + ipHeader > p.L4Offset) return DropReason.ResetNotPossible;

        // Read everything the new headers may overwrite.
        ulong senderMac = BigEndian.ReadMac(frame + 6);
        uint segSeq = BigEndian.ReadU32(seg + 4);
        uint segAck = BigEndian.ReadU32(seg + 8);
        uint segLen = p.PayloadLength + ((flags & TcpFlag.Syn) != 0 ? 1u : 0u) + ((flags & TcpFlag.Fin) != 0 ? 1u : 0u);

        // Ethernet: back to the sender; the tag (if any) and the EtherType stay as they are.
        BigEndian.WriteMac(frame, senderMac);
        BigEndian.WriteMac(frame + 6, ourMac);

        byte* ip = frame + l2;
        byte* tcp = ip + ipHeader;
        if (!v6)
        {
            ip[0] = 0x45;
            ip[1] = 0;
            BigEndian.WriteU16(ip + 2, (ushort)(ipHeader + tcpLen));
            ip[4] = 0; ip[5] = 0;                 // identification 0: DF is set (RFC 6864)
            ip[6] = 0x40; ip[7] = 0;              // DF, offset 0
            ip[8] = HopLimit;
            ip[9] = IpProtocol.Tcp;
            p.Dst.WriteV4(ip + 12);
            p.Src.WriteV4(ip + 16);
            Checksum.SetIpv4Header20(ip);
        }
        else
        {
            BigEndian.WriteU32(ip, 6u << 28);              // traffic class and flow label 0
            BigEndian.WriteU16(ip + 4, (ushort)tcpLen);
            ip[6] = IpProtocol.Tcp;
            ip[7] = HopLimit;
            p.Dst.WriteV6(ip + 8);
            p.Src.WriteV6(ip + 24);
        }

        BigEndian.WriteU16(tcp, p.DstPort);
        BigEndian.WriteU16(tcp + 2, p.SrcPort);
        if ((flags & TcpFlag.Ack) != 0)
        {
            BigEndian.WriteU32(tcp + 4, segAck);
            BigEndian.WriteU32(tcp + 8, 0);
            tcp[13] = TcpFlag.Rst;
        }
        else
        {
            BigEndian.WriteU32(tcp + 4, 0);
            BigEndian.WriteU32(tcp + 8, segSeq + segLen);
            tcp[13] = TcpFlag.Rst | TcpFlag.Ack;
        }
        tcp[12] = (byte)(tcpLen / 4 << 4);
        tcp[14] = 0; tcp[15] = 0;                 // window
        tcp[18] = 0; tcp[19] = 0;                 // urgent pointer
        if (withMpTcpRst)
        {
            tcp[20] = MpTcpOptionKind;
            tcp[21] = MpTcpRstLength;
            tcp[22] = MpTcpRstSubtype << 4;       // U V W T all clear: not transient
            tcp[23] = reason;
        }
        ulong pseudo = v6
            ? Checksum.PseudoHeaderV6(ip, IpProtocol.Tcp, (uint)tcpLen)
            : Checksum.PseudoHeaderV4(ip, IpProtocol.Tcp, (ushort)tcpLen);
        Checksum.SetUpperLayer(tcp, tcpLen, 16, pseudo, isUdp: false);

        newLen = (ushort)end;
        return DropReason.None;
    }
}
