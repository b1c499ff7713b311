namespace Switchyard.Dataplane.Datapath.Parsing;

[Flags]
public enum PacketFlags : ushort
{
    None = 0,
    HasVlan = 1 << 0,
    IPv4 = 1 << 1,
    IPv6 = 1 << 2,
    Arp = 1 << 3,
    Fragment = 1 << 4,          // any fragment (IPv4 MF or offset != 0; IPv6 fragment header)
    FirstFragment = 1 << 5,     // fragment with offset 0 (carries the L4 header)
    DontFragment = 1 << 6,      // IPv4 DF bit
    HasPorts = 1 << 7,          // SrcPort/DstPort are valid (TCP/UDP, not a non-first fragment)
    IcmpError = 1 << 8,         // ICMP(v6) "fragmentation needed" / "packet too big" with a parsed inner tuple
    NeighborSolicitation = 1 << 9, // ICMPv6 NS; NdTarget is valid
    HasIpOptions = 1 << 10,     // IPv4 header longer than 20 bytes
    HasExtensionHeaders = 1 << 11,
}

/// <summary>
/// What the parser learned about one frame. All offsets are from the start of the frame.
/// Filled by <see cref="PacketParser.Parse"/>; the parser never reads outside [frame, frame+len).
/// </summary>
public struct PacketInfo
{
    public PacketFlags Flags;
    public ushort EtherType;        // after any VLAN tag
    public ushort VlanTci;          // valid with HasVlan
    public ushort L3Offset;         // IPv4/IPv6/ARP header
    public ushort L3Length;         // IP total length (header + payload) as declared and checked against the frame
    public ushort L4Offset;         // TCP/UDP/ICMP header (the upper-layer header after IPv6 extension headers)
    public ushort L4Length;         // bytes from L4Offset to the end of the IP packet
    public byte Protocol;           // upper-layer protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...)
    public byte TcpFlags;           // valid for TCP
    public byte HopLimit;           // IPv4 TTL / IPv6 hop limit
    public Addr128 Src;
    public Addr128 Dst;
    public ushort SrcPort;
    public ushort DstPort;
    public ushort TcpOptionsOffset; // valid for TCP; 0 when there are no options
    public ushort TcpOptionsLength;
    public ushort PayloadOffset;    // L4 payload
    public ushort PayloadLength;
    public uint FragmentId;         // IPv4 identification or IPv6 fragment identification

    // ICMP(v6)
    public byte IcmpType;
    public byte IcmpCode;
    public uint IcmpMtu;            // next-hop MTU (v4 type 3 code 4) or MTU (v6 type 2)
    // Inner packet quoted by an ICMP error (valid with IcmpError): as it was sent, i.e. from the
    // server (VIP) to the client; steering swaps it to find the client->VIP flow.
    public Addr128 InnerSrc;
    public Addr128 InnerDst;
    public ushort InnerSrcPort;
    public ushort InnerDstPort;
    public byte InnerProtocol;

    // ARP (valid with Arp): the operation and the addresses, IPv4 in host order.
    public ushort ArpOperation;
    public uint ArpSenderIp;
    public uint ArpTargetIp;
    // NDP neighbor solicitation target (valid with NeighborSolicitation)
    public Addr128 NdTarget;

    public readonly bool IsIPv4 => (Flags & PacketFlags.IPv4) != 0;
    public readonly bool IsIPv6 => (Flags & PacketFlags.IPv6) != 0;
    public readonly bool Has(PacketFlags f) => (Flags & f) != 0;
}

public static class IpProtocol
{
    public const byte Icmp = 1;
    public const byte Tcp = 6;
    public const byte Udp = 17;
    public const byte Ipv6Encap = 41;
    public const byte Gre = 47;
    public const byte IcmpV6 = 58;
    public const byte IpInIp = 4;
}

public static class TcpFlag
{
    public const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10, Urg = 0x20, Ece = 0x40, Cwr = 0x80;
}

public static class EtherTypes
{
    public const ushort IPv4 = 0x0800, Arp = 0x0806, Vlan = 0x8100, QinQ = 0x88A8, IPv6 = 0x86DD;
}
