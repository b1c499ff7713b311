using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Parsing;

namespace Switchyard.Tests.Parsing;

/// <summary>What the reference parser concluded about one frame (offsets from the frame start).</summary>
sealed class RefVerdict
{
    public DropReason Reason;
    public PacketFlags Flags;
    public int EtherType, VlanTci, L3Offset, L3Length, L4Offset, L4Length, PayloadOffset, PayloadLength;
    public int TcpOptionsOffset, TcpOptionsLength, Protocol, TcpFlags, HopLimit, SrcPort, DstPort;
    public uint FragmentId, IcmpMtu, ArpSenderIp, ArpTargetIp;
    public int IcmpType, IcmpCode, InnerProtocol, InnerSrcPort, InnerDstPort, ArpOperation;
    public Addr128 Src, Dst, InnerSrc, InnerDst, NdTarget;
}

/// <summary>
/// A slow, deliberately plain re-statement of the parsing rules over safe byte arrays, used as the
/// oracle for fuzzing <see cref="PacketParser"/>. Each layer is handed a copy of exactly the bytes it
/// may look at (slicing copies), so indexing past them throws here instead of silently reading.
/// Speed and allocation do not matter; readability does.
/// </summary>
static class ReferenceParser
{
    static int U8(byte[] b, int i) => b[i];
    static int U16(byte[] b, int i) => b[i] << 8 | b[i + 1];
    static uint U32(byte[] b, int i) => (uint)U16(b, i) << 16 | (uint)U16(b, i + 2);
    static Addr128 V4(byte[] b, int i) => Addr128.FromV4(U32(b, i));
    static Addr128 V6(byte[] b, int i) => Addr128.FromIPAddress(new System.Net.IPAddress(b[i..(i + 16)]));
    static bool IsExt(int nh) => nh is 0 or 43 or 44 or 51 or 60;

    public static RefVerdict Check(byte[] frame)
    {
        var v = new RefVerdict();
        v.Reason = Ethernet(frame.Length > 65535 ? frame[..65535] : frame, v);
        return v;
    }

    static DropReason Ethernet(byte[] f, RefVerdict v)
    {
        if (f.Length < 14) return DropReason.RuntFrame;
        int type = U16(f, 12);
        int l3 = 14;
        if (type == 0x88A8)
        {
            if (f.Length < 18) return DropReason.VlanTruncated;
            if (U16(f, 16) != 0x8100) return DropReason.UnsupportedEtherType;
            if (f.Length < 22) return DropReason.VlanTruncated;
            v.Flags |= PacketFlags.HasVlan;
            v.VlanTci = U16(f, 18);
            type = U16(f, 20);
            l3 = 22;
        }
        else if (type == 0x8100)
        {
            if (f.Length < 18) return DropReason.VlanTruncated;
            v.Flags |= PacketFlags.HasVlan;
            v.VlanTci = U16(f, 14);
            type = U16(f, 16);
            l3 = 18;
        }
        v.EtherType = type;
        v.L3Offset = l3;
        byte[] rest = f[l3..];
        return type switch
        {
            0x0800 => Ipv4(rest, l3, v),
            0x86DD => Ipv6(rest, l3, v),
            0x0806 => Arp(rest, v),
            _ => DropReason.UnsupportedEtherType,
        };
    }

    static DropReason Arp(byte[] a, RefVerdict v)
    {
        if (a.Length < 28) return DropReason.ArpMalformed;
        if (U16(a, 0) != 1 || U16(a, 2) != 0x0800 || a[4] != 6 || a[5] != 4) return DropReason.ArpMalformed;
        v.Flags |= PacketFlags.Arp;
        v.L3Length = 28;
        v.ArpOperation = U16(a, 6);
        v.ArpSenderIp = U32(a, 14);
        v.ArpTargetIp = U32(a, 24);
        return DropReason.None;
    }

    static DropReason Ipv4(byte[] p, int l3, RefVerdict v)
    {
        if (p.Length < 1) return DropReason.Ipv4Truncated;
        if (p[0] >> 4 != 4) return DropReason.Ipv4BadVersion;
        int hlen = (p[0] & 0x0F) * 4;
        if (hlen < 20) return DropReason.Ipv4BadIhl;
        if (p.Length < hlen) return DropReason.Ipv4Truncated;
        int total = U16(p, 2);
        if (total < hlen || total > p.Length) return DropReason.Ipv4BadTotalLength;

        uint sum = 0;
        for (int i = 0; i < hlen; i += 2) sum += (uint)U16(p, i);
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        if (sum != 0xFFFF) return DropReason.Ipv4BadChecksum;

        v.Flags |= PacketFlags.IPv4;
        if (hlen > 20)
        {
            v.Flags |= PacketFlags.HasIpOptions;
            if (!OptionsValid(p[20..hlen])) return DropReason.Ipv4BadOptions;
        }
        int fragWord = U16(p, 6);
        bool df = (fragWord & 0x4000) != 0, mf = (fragWord & 0x2000) != 0;
        int fragOffset = fragWord & 0x1FFF;
        if (df) v.Flags |= PacketFlags.DontFragment;
        if (mf || fragOffset != 0) v.Flags |= PacketFlags.Fragment;
        if ((mf || fragOffset != 0) && fragOffset == 0) v.Flags |= PacketFlags.FirstFragment;

        v.L3Length = total;
        v.FragmentId = (uint)U16(p, 4);
        v.HopLimit = p[8];
        v.Protocol = p[9];
        v.Src = V4(p, 12);
        v.Dst = V4(p, 16);
        v.L4Offset = l3 + hlen;
        v.L4Length = total - hlen;
        if (fragOffset != 0) return DropReason.None;
        return Upper(p[hlen..total], l3 + hlen, p[9], ipv6: false, partial: mf, v);
    }

    /// <summary>IPv4 and TCP options share one layout: 0 ends, 1 is one byte, others are kind,len,data.</summary>
    static bool OptionsValid(byte[] o)
    {
        int i = 0;
        while (i < o.Length)
        {
            if (o[i] == 0) return true;
            if (o[i] == 1) { i += 1; continue; }
            if (i + 1 >= o.Length) return false;
            int len = o[i + 1];
            if (len < 2) return false;
            if (i + len > o.Length) return false;
            i += len;
        }
        return true;
    }

    sealed class ExtWalk
    {
        public DropReason Reason;
        public int Offset;
        public int NextHeader;
        public bool SawFragment;
        public int FragOffset;
        public bool More;
        public uint Id;
    }

    static ExtWalk WalkExt(byte[] p, int start, int nh)
    {
        var w = new ExtWalk { Offset = start, NextHeader = nh };
        int count = 0;
        while (IsExt(w.NextHeader))
        {
            if (count == 8) { w.Reason = DropReason.Ipv6TooManyExtensionHeaders; return w; }
            count++;
            int left = p.Length - w.Offset;
            int len;
            if (w.NextHeader == 44)
            {
                if (left < 8) { w.Reason = DropReason.Ipv6BadExtensionHeader; return w; }
                len = 8;
                w.SawFragment = true;
                w.FragOffset = U16(p, w.Offset + 2) >> 3;
                w.More = (U16(p, w.Offset + 2) & 1) == 1;
                w.Id = U32(p, w.Offset + 4);
            }
            else
            {
                if (left < 2) { w.Reason = DropReason.Ipv6BadExtensionHeader; return w; }
                len = w.NextHeader == 51 ? (p[w.Offset + 1] + 2) * 4 : (p[w.Offset + 1] + 1) * 8;
                if (len > left) { w.Reason = DropReason.Ipv6BadExtensionHeader; return w; }
            }
            w.NextHeader = p[w.Offset];
            w.Offset += len;
            if (w.SawFragment && w.FragOffset != 0) break;
        }
        return w;
    }

    static DropReason Ipv6(byte[] p, int l3, RefVerdict v)
    {
        if (p.Length < 1) return DropReason.Ipv6Truncated;
        if (p[0] >> 4 != 6) return DropReason.Ipv6BadVersion;
        if (p.Length < 40) return DropReason.Ipv6Truncated;
        int payloadLength = U16(p, 4);
        int nh = p[6];
        if (payloadLength == 0 && nh == 0) return DropReason.Ipv6BadPayloadLength;
        if (40 + payloadLength > p.Length) return DropReason.Ipv6BadPayloadLength;

        v.Flags |= PacketFlags.IPv6;
        v.L3Length = 40 + payloadLength;
        v.HopLimit = p[7];
        v.Src = V6(p, 8);
        v.Dst = V6(p, 24);
        byte[] packet = p[..(40 + payloadLength)];
        if (IsExt(nh)) v.Flags |= PacketFlags.HasExtensionHeaders;
        var w = WalkExt(packet, 40, nh);
        if (w.Reason != DropReason.None) return w.Reason;
        bool partial = false, nonFirst = false;
        if (w.SawFragment && (w.FragOffset != 0 || w.More)) // atomic fragments are whole datagrams (RFC 6946)
        {
            v.Flags |= PacketFlags.Fragment;
            if (w.FragOffset == 0) v.Flags |= PacketFlags.FirstFragment;
            nonFirst = w.FragOffset != 0;
            partial = w.More;
            v.FragmentId = w.Id;
        }
        v.Protocol = w.NextHeader;
        v.L4Offset = l3 + w.Offset;
        v.L4Length = packet.Length - w.Offset;
        if (nonFirst || w.NextHeader == 59) return DropReason.None;
        return Upper(packet[w.Offset..], l3 + w.Offset, w.NextHeader, ipv6: true, partial, v);
    }

    static DropReason Upper(byte[] l4, int at, int protocol, bool ipv6, bool partial, RefVerdict v)
    {
        if (protocol == 6)
        {
            if (l4.Length < 20) return partial ? DropReason.None : DropReason.TcpTruncated;
            int hlen = (l4[12] >> 4) * 4;
            if (hlen < 20 || hlen > l4.Length) return DropReason.TcpBadDataOffset;
            if (hlen > 20)
            {
                if (!OptionsValid(l4[20..hlen])) return DropReason.TcpBadOptions;
                v.TcpOptionsOffset = at + 20;
                v.TcpOptionsLength = hlen - 20;
            }
            v.SrcPort = U16(l4, 0);
            v.DstPort = U16(l4, 2);
            v.TcpFlags = l4[13];
            v.PayloadOffset = at + hlen;
            v.PayloadLength = l4.Length - hlen;
            v.Flags |= PacketFlags.HasPorts;
            return DropReason.None;
        }
        if (protocol == 17)
        {
            if (l4.Length < 8) return partial ? DropReason.None : DropReason.UdpTruncated;
            int ulen = U16(l4, 4);
            if (ulen < 8) return DropReason.UdpBadLength;
            if (!partial && ulen > l4.Length) return DropReason.UdpBadLength;
            v.SrcPort = U16(l4, 0);
            v.DstPort = U16(l4, 2);
            v.PayloadOffset = at + 8;
            v.PayloadLength = Math.Min(ulen, l4.Length) - 8;
            v.Flags |= PacketFlags.HasPorts;
            return DropReason.None;
        }
        if ((!ipv6 && protocol == 1) || (ipv6 && protocol == 58))
        {
            if (l4.Length < 8) return partial ? DropReason.None : DropReason.IcmpTruncated;
            v.IcmpType = l4[0];
            v.IcmpCode = l4[1];
            v.PayloadOffset = at + 8;
            v.PayloadLength = l4.Length - 8;
            return ipv6 ? Icmp6(l4, v) : Icmp4(l4, v);
        }
        return DropReason.None;
    }

    static DropReason Icmp4(byte[] icmp, RefVerdict v)
    {
        if (icmp[0] != 3 || icmp[1] != 4) return DropReason.None;
        v.IcmpMtu = (uint)U16(icmp, 6);
        byte[] q = icmp[8..];
        if (q.Length < 20) return DropReason.IcmpErrorMalformed;
        if (q[0] >> 4 != 4) return DropReason.IcmpErrorMalformed;
        int hlen = (q[0] & 0x0F) * 4;
        if (hlen < 20 || hlen > q.Length) return DropReason.IcmpErrorMalformed;
        v.InnerProtocol = q[9];
        v.InnerSrc = V4(q, 12);
        v.InnerDst = V4(q, 16);
        bool innerNonFirst = (U16(q, 6) & 0x1FFF) != 0;
        if (!innerNonFirst)
        {
            if (q.Length - hlen < 8) return DropReason.IcmpErrorMalformed;
            if (q[9] == 6 || q[9] == 17)
            {
                v.InnerSrcPort = U16(q, hlen);
                v.InnerDstPort = U16(q, hlen + 2);
            }
        }
        v.Flags |= PacketFlags.IcmpError;
        return DropReason.None;
    }

    static DropReason Icmp6(byte[] icmp, RefVerdict v)
    {
        if (icmp[0] == 135)
        {
            if (icmp.Length < 24) return DropReason.NdpMalformed;
            v.NdTarget = V6(icmp, 8);
            v.Flags |= PacketFlags.NeighborSolicitation;
            return DropReason.None;
        }
        if (icmp[0] != 2) return DropReason.None;
        v.IcmpMtu = U32(icmp, 4);
        byte[] q = icmp[8..];
        if (q.Length < 40 || q[0] >> 4 != 6) return DropReason.IcmpErrorMalformed;
        v.InnerSrc = V6(q, 8);
        v.InnerDst = V6(q, 24);
        var w = WalkExt(q, 40, q[6]);
        if (w.Reason != DropReason.None) return DropReason.IcmpErrorMalformed;
        v.InnerProtocol = w.NextHeader;
        bool innerNonFirst = w.SawFragment && w.FragOffset != 0;
        if (!innerNonFirst && (w.NextHeader == 6 || w.NextHeader == 17))
        {
            if (q.Length - w.Offset < 4) return DropReason.IcmpErrorMalformed;
            v.InnerSrcPort = U16(q, w.Offset);
            v.InnerDstPort = U16(q, w.Offset + 2);
        }
        v.Flags |= PacketFlags.IcmpError;
        return DropReason.None;
    }
}
