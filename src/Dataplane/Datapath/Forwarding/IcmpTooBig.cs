using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Datapath.Parsing;

namespace Switchyard.Dataplane.Datapath.Forwarding;

/// <summary>
/// Turns a client's packet that is too big for the encapsulation into the ICMP error that tells the
/// client to send smaller packets: IPv4 "destination unreachable, fragmentation needed" (type 3 code 4,
/// RFC 1191) or ICMPv6 "packet too big" (type 2, RFC 4443), sent back to the client's MAC.
/// <para>
/// The quoted packet is not copied: the new Ethernet, IP and ICMP headers are written in front of the
/// original L3 header (over the old Ethernet header and into the headroom), and the frame is cut so the
/// ICMP packet stays within 576 bytes (IPv4, RFC 1812 4.3.2.3) or 1280 bytes (IPv6, RFC 4443 2.4(c)).
/// </para>
/// </summary>
public static unsafe class IcmpTooBig
{
    const int EthHeader = 14;
    const int VlanTag = 4;
    const int IcmpHeader = 8;
    /// <summary>Largest ICMP error packet, IP header included (IPv4 576, IPv6 1280 bytes).</summary>
    public const int MaxIpv4Error = 576, MaxIpv6Error = 1280;
    const byte Ttl = 64;

    /// <summary>Bytes that must be free in front of the frame: new headers minus the old L2 header.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int HeadroomNeeded(in PacketInfo p)
    {
        int l2 = p.Has(PacketFlags.HasVlan) ? EthHeader + VlanTag : EthHeader;
        return l2 + (p.IsIPv6 ? 40 : 20) + IcmpHeader - p.L3Offset;
    }

    /// <summary>
    /// Builds the error in place. <paramref name="mtu"/> is the MTU to advertise (normally
    /// <see cref="Encapsulation.InnerMtu"/>); IPv4 carries it in 16 bits and is clamped.
    /// <paramref name="ourAddress"/> is the source of the error (one of the ingress port's addresses, same
    /// family as the packet); <paramref name="ourMac"/> the ingress port's MAC. The VLAN tag, if any, is
    /// kept so the error leaves on the client's VLAN.
    /// Returns <see cref="DropReason.None"/> or <see cref="DropReason.NoHeadroom"/> (frame untouched).
    /// Known limit: an IPv6 MTU below 1280 is advertised as is; RFC 8201 hosts then clamp to 1280, so the
    /// egress MTU should leave at least 1280 bytes for the inner packet.
    /// </summary>
    public static DropReason Build(byte* frame, int len, int headroom, in PacketInfo p, ulong ourMac,
        in Addr128 ourAddress, int mtu, out short delta, out ushort newLen)
    {
        delta = 0;
        newLen = 0;
        bool v6 = p.IsIPv6;
        bool tag = p.Has(PacketFlags.HasVlan);
        int l2 = tag ? EthHeader + VlanTag : EthHeader;
        int ipHeader = v6 ? 40 : 20;
        int d = p.L3Offset - IcmpHeader - ipHeader - l2;
        if (headroom + d < 0) return DropReason.NoHeadroom;

        int quoted = Math.Min(p.L3Length, (v6 ? MaxIpv6Error : MaxIpv4Error) - ipHeader - IcmpHeader);
        // Read what the new headers overwrite: the client's MAC and the tag.
        ulong clientMac = BigEndian.ReadMac(frame + 6);
        uint tagBytes = tag ? Unsafe.ReadUnaligned<uint>(frame + 12) : 0;

        byte* s = frame + d;
        BigEndian.WriteMac(s, clientMac);
        BigEndian.WriteMac(s + 6, ourMac);
        if (tag) Unsafe.WriteUnaligned(s + 12, tagBytes);
        BigEndian.WriteU16(s + l2 - 2, v6 ? EtherTypes.IPv6 : EtherTypes.IPv4);

        byte* ip = s + l2;
        byte* icmp = ip + ipHeader;
        int icmpLen = IcmpHeader + quoted;
        if (!v6)
        {
            ip[0] = 0x45;
            ip[1] = 0;
            BigEndian.WriteU16(ip + 2, (ushort)(ipHeader + icmpLen));
            ip[4] = 0; ip[5] = 0;
            ip[6] = 0; ip[7] = 0;                 // DF clear: an ICMP error may itself be fragmented
            ip[8] = Ttl;
            ip[9] = IpProtocol.Icmp;
            ourAddress.WriteV4(ip + 12);
            p.Src.WriteV4(ip + 16);
            Checksum.SetIpv4Header20(ip);

            icmp[0] = 3;                          // destination unreachable
            icmp[1] = 4;                          // fragmentation needed and DF set
            icmp[4] = 0; icmp[5] = 0;             // unused (RFC 1191)
            BigEndian.WriteU16(icmp + 6, (ushort)Math.Clamp(mtu, 0, ushort.MaxValue));
            icmp[2] = 0; icmp[3] = 0;
            Checksum.Store(icmp + 2, Checksum.Compute(icmp, icmpLen));
        }
        else
        {
            BigEndian.WriteU32(ip, 6u << 28);
            BigEndian.WriteU16(ip + 4, (ushort)icmpLen);
            ip[6] = IpProtocol.IcmpV6;
            ip[7] = Ttl;
            ourAddress.WriteV6(ip + 8);
            p.Src.WriteV6(ip + 24);

            icmp[0] = 2;                          // packet too big
            icmp[1] = 0;
            BigEndian.WriteU32(icmp + 4, (uint)Math.Max(mtu, 0));
            Checksum.SetUpperLayer(icmp, icmpLen, 2,
                Checksum.PseudoHeaderV6(ip, IpProtocol.IcmpV6, (uint)icmpLen), isUdp: false);
        }

        delta = (short)d;
        newLen = (ushort)(l2 + ipHeader + icmpLen);
        return DropReason.None;
    }
}
