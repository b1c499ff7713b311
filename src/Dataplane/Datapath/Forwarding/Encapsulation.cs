using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Parsing;

namespace Switchyard.Dataplane.Datapath.Forwarding;

/// <summary>What <see cref="Encapsulation.Encapsulate"/> did.</summary>
public enum EncapResult : byte
{
    /// <summary>The frame was encapsulated; delta and newLen describe it.</summary>
    Ok = 0,
    /// <summary>Headroom smaller than the added headers: count <see cref="DropReason.NoHeadroom"/> and drop.</summary>
    NoHeadroom,
    /// <summary>
    /// The outer packet would exceed the egress MTU; the frame is untouched. If
    /// <see cref="Encapsulation.AnswersTooBig"/> holds, answer the client with
    /// <see cref="IcmpTooBig.Build"/> advertising <see cref="Encapsulation.InnerMtu"/>; otherwise count
    /// <see cref="DropReason.EncapTooBigNoDf"/> and drop (we never fragment the outer packet).
    /// </summary>
    TooBig,
}

/// <summary>Everything an encapsulation needs besides the frame. Filled per packet from the snapshot.</summary>
public struct EncapParams
{
    public ForwardingMode Mode;
    /// <summary>Outer addresses; their family must equal the inner packet's (4-in-4, 6-in-6).</summary>
    public Addr128 OuterSource;
    public Addr128 OuterDestination;
    public ulong DstMac;            // next hop towards the backend
    public ulong SrcMac;            // the egress port's MAC
    public ushort GuePort;          // GUE UDP destination port
    public ushort GueSourcePort;    // GUE UDP source port; derive it from the flow hash so the backend NIC spreads flows
    /// <summary>Egress IP MTU in bytes: the largest outer IP packet (header included) the link carries.</summary>
    public int Mtu;
    /// <summary>Keep the ingress 802.1Q tag (when the frame had one) on the encapsulated frame.</summary>
    public bool KeepVlan;
    /// <summary>Outer IPv6 flow label (low 20 bits used), e.g. from the flow hash so ECMP on the way spreads flows (RFC 6438).</summary>
    public uint FlowLabel;
}

/// <summary>A forwarding method as a type: the encapsulation body is compiled once per method (one
/// dispatch on the mode per packet, in EncapsulateInto); the burst loop itself is not specialised.</summary>
public interface IEncap
{
    static abstract ForwardingMode Mode { get; }
    /// <summary>True when the address family is a constant of the type (the forwarding bodies, Forwarder.cs):
    /// then <see cref="V6"/> is used instead of the packet's family.</summary>
    static virtual bool FamilyKnown => false;
    static virtual bool V6 => false;
}

public readonly struct IpipEncap : IEncap { public static ForwardingMode Mode => ForwardingMode.Ipip; }
public readonly struct GueEncap : IEncap { public static ForwardingMode Mode => ForwardingMode.Gue; }
public readonly struct GreEncap : IEncap { public static ForwardingMode Mode => ForwardingMode.Gre; }

/// <summary>
/// Rewrites a received client frame, in place, into the frame sent to a backend: L2 DSR (MAC rewrite)
/// or IPIP / GUE (variant 1) / GRE encapsulation in the inner packet's own IP family.
/// The inner packet is never copied or moved: outer headers are written in front of its L3 header,
/// over the old Ethernet header and into the mbuf headroom, and the new frame start is reported as a
/// signed delta. Nothing here allocates or throws; the <see cref="PacketInfo"/> must be the parser's
/// result for this very frame (its offsets and L3 length are trusted).
/// </summary>
public static unsafe class Encapsulation
{
    const int EthHeader = 14;
    const int VlanTag = 4;
    const int Ipv4Header = 20;
    const int Ipv6Header = 40;
    const int UdpHeader = 8;
    const int GreHeader = 4;
    const byte OuterHopLimit = 64;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Net32(uint hostValue) => BitConverter.IsLittleEndian ? System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(hostValue) : hostValue;

    /// <summary>Bytes the outer headers add above L2 (IPIP 20/40, GUE 28/48, GRE 24/44; L2 DSR 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Overhead(ForwardingMode mode, bool ipv6)
    {
        int ip = ipv6 ? Ipv6Header : Ipv4Header;
        return mode switch
        {
            ForwardingMode.Ipip => ip,
            ForwardingMode.Gue => ip + UdpHeader,
            ForwardingMode.Gre => ip + GreHeader,
            _ => 0,
        };
    }

    /// <summary>The largest inner IP packet that fits the egress MTU: what ICMP "too big" advertises.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int InnerMtu(in EncapParams e, bool ipv6) => e.Mtu - Overhead(e.Mode, ipv6);

    /// <summary>
    /// After <see cref="EncapResult.TooBig"/>: true when the client must get ICMP "too big" (IPv6, which
    /// routers never fragment, or IPv4 with DF set); false means IPv4 with DF clear, which RFC 791 would
    /// let us fragment; we do not, and drop it as <see cref="DropReason.EncapTooBigNoDf"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AnswersTooBig(in PacketInfo p) => p.IsIPv6 || p.Has(PacketFlags.DontFragment);

    /// <summary>
    /// Outer source address for a flow: the pool's base address with its host bits taken from the flow
    /// hash, so the backend's NIC (RSS on the outer addresses) spreads flows over its queues. Uses the
    /// hash's high half: the low half indexes Maglev, and reusing it would correlate address and backend.
    /// IPv4: the host mask applies to the 32-bit address; IPv6: to the low 64 bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Addr128 OuterSource(in Addr128 baseAddress, ulong hostMask, ulong flowHash, bool ipv6)
    {
        ulong bits = BitOperations.RotateRight(flowHash, 32);
        if (!ipv6) hostMask &= 0xFFFF_FFFFUL;   // never touch the ::ffff: mapping bits
        return new Addr128(baseAddress.Hi, (baseAddress.Lo & ~hostMask) | (bits & hostMask));
    }

    /// <summary><see cref="OuterSource(in Addr128, ulong, ulong, bool)"/> with the pool's configured base and mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Addr128 OuterSource(PoolEntry pool, ulong flowHash, bool ipv6) => ipv6
        ? OuterSource(pool.EncapSourceV6, pool.EncapSourceV6HostMask, flowHash, true)
        : OuterSource(pool.EncapSourceV4, pool.EncapSourceV4HostMask, flowHash, false);

    /// <summary>The GUE source port of a flow: the ephemeral range 49152..65535 from flow-hash bits Maglev does not use,
    /// so that the backend's NIC, hashing on it, spreads flows over its queues.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort GueSourcePort(ulong flowHash) => (ushort)(0xC000 | (flowHash >> 48) & 0x3FFF);

    /// <summary>
    /// L2 DSR: rewrite destination and source MAC. Everything after them (a VLAN tag, the IP packet)
    /// stays as it is; the backend owns the VIP on a loopback interface.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void L2Rewrite(byte* frame, ulong dstMac, ulong srcMac)
    {
        BigEndian.WriteMac(frame, dstMac);
        BigEndian.WriteMac(frame + 6, srcMac);
    }

    /// <summary>
    /// Forwards with <c>e.Mode</c>: one dispatch on the mode, then the specialised body.
    /// L2 DSR rewrites the MACs and leaves the frame where it is (delta 0, length unchanged).
    /// </summary>
    public static EncapResult Encapsulate(byte* frame, int len, int headroom, in PacketInfo p, in EncapParams e,
        out short delta, out ushort newLen)
    {
        delta = 0;
        newLen = 0;
        return EncapsulateInto(frame, len, headroom, p, e, ref delta, ref newLen);
    }

    /// <summary>
    /// <see cref="Encapsulate(byte*, int, int, in PacketInfo, in EncapParams, out short, out ushort)"/>
    /// writing delta and the new length straight into the caller's slots (the burst's arrays), which it
    /// touches only on <see cref="EncapResult.Ok"/>. The packet path uses this: a 16-bit out local
    /// read back as 32 bits right after the store defeats store-to-load forwarding (a measured stall).
    /// </summary>
    public static EncapResult EncapsulateInto(byte* frame, int len, int headroom, in PacketInfo p, in EncapParams e,
        ref short delta, ref ushort newLen)
    {
        switch (e.Mode)
        {
            case ForwardingMode.Ipip: return EncapsulateInto<IpipEncap>(frame, headroom, p, e, ref delta, ref newLen);
            case ForwardingMode.Gue: return EncapsulateInto<GueEncap>(frame, headroom, p, e, ref delta, ref newLen);
            case ForwardingMode.Gre: return EncapsulateInto<GreEncap>(frame, headroom, p, e, ref delta, ref newLen);
            default:
                L2Rewrite(frame, e.DstMac, e.SrcMac);
                delta = 0;
                newLen = (ushort)len;
                return EncapResult.Ok;
        }
    }

    /// <summary>
    /// IPv4 in IPv4 (IPIP, GUE or GRE by <typeparamref name="TEncap"/>) for an untagged frame, straight from the backend's
    /// entry: the outer Ethernet and IPv4 headers are built in registers from the backend's MAC image
    /// (<see cref="BackendEntry.MacHeader0"/>), its address and the pool's source, and stored as whole words; the IPv4
    /// checksum is summed from the same registers. Writes exactly what
    /// <see cref="EncapsulateInto{TEncap}(byte*, int, in PacketInfo, in EncapParams, ref short, ref ushort)"/> writes for
    /// such a frame with <c>KeepVlan</c> (ForwardBodyEqualityTests compares the bodies on the whole corpus), without
    /// building its <see cref="EncapParams"/>: stage stamps, est IPIP, forwarding pass 35 cycles per frame through the
    /// general writer. The caller sends tagged frames and every other family to the general writer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static EncapResult EncapsulateV4Untagged<TEncap>(byte* frame, int headroom, in PacketInfo p, in BackendEntry be,
        uint sourceBase, uint sourceMask, ulong flowHash, ushort guePort, ref short delta, ref ushort newLen) where TEncap : struct, IEncap
    {
        Debug.Assert(!TEncap.V6 && !p.Has(PacketFlags.HasVlan) && p.IsIPv4);
        int overhead = Overhead(TEncap.Mode, false);
        int inner = p.L3Length;
        // The second bound as in the general writer (it matters only for an MTU above 64 KiB).
        if (inner + overhead > be.EgressMtu || EthHeader + overhead + inner > ushort.MaxValue) return EncapResult.TooBig;
        int d = p.L3Offset - overhead - EthHeader;
        if (headroom + d < 0) return EncapResult.NoHeadroom;
        byte* l3 = frame + p.L3Offset;
        byte* s = frame + d;
        byte proto = TEncap.Mode switch
        {
            ForwardingMode.Gue => IpProtocol.Udp,
            ForwardingMode.Gre => IpProtocol.Gre,
            _ => IpProtocol.IpInIp,
        };
        // Memory order: dst MAC, src MAC | type 08 00, 45, tos | length, id, flags, ttl, proto | checksum, source, destination.
        ulong tos = l3[1];                                  // DSCP + ECN copied (RFC 6040 normal mode)
        uint lengthNet = Checksum.Net16((ushort)(overhead + inner));
        // DF copied; with DF set the ID is 0 (RFC 6864), with DF clear the inner ID is reused (see the general writer).
        uint idFlags = (l3[6] & 0x40) != 0 ? 0x40u << 16 : Unsafe.ReadUnaligned<ushort>(l3 + 4);
        uint source = Net32(sourceBase & ~sourceMask | (uint)(flowHash >> 32) & sourceMask);
        uint destination = Net32(be.Address.V4);
        ulong ttlProto = OuterHopLimit | (ulong)proto << 8;
        ulong acc = (0x45 | tos << 8) + lengthNet + idFlags + ttlProto + source + destination;
        acc = (acc & 0xFFFF) + (acc >> 16);
        acc = (acc & 0xFFFF) + (acc >> 16);
        acc = (acc & 0xFFFF) + (acc >> 16);
        Unsafe.WriteUnaligned(s, be.MacHeader0);
        Unsafe.WriteUnaligned(s + 8, be.MacHeader1 | 0x0008UL << 32 | 0x45UL << 48 | tos << 56);
        Unsafe.WriteUnaligned(s + 16, lengthNet | (ulong)idFlags << 16 | ttlProto << 48);
        Unsafe.WriteUnaligned(s + 24, (~acc & 0xFFFF) | (ulong)source << 16 | (ulong)destination << 48);
        Unsafe.WriteUnaligned(s + 32, (ushort)(destination >> 16));
        byte* l4 = s + EthHeader + Ipv4Header;
        if (TEncap.Mode == ForwardingMode.Gue)
        {
            // No checksum over IPv4.
            Unsafe.WriteUnaligned(l4, (ulong)Checksum.Net16(GueSourcePort(flowHash)) | (ulong)Checksum.Net16(guePort) << 16
                | (ulong)Checksum.Net16((ushort)(UdpHeader + inner)) << 32);
        }
        else if (TEncap.Mode == ForwardingMode.Gre)
            Unsafe.WriteUnaligned(l4, (uint)Checksum.Net16(EtherTypes.IPv4) << 16); // no flags, version 0, IPv4
        delta = (short)d;
        newLen = (ushort)(EthHeader + overhead + inner);
        return EncapResult.Ok;
    }

    /// <summary>
    /// Encapsulates the frame's L3 packet (exactly <c>p.L3Length</c> bytes: Ethernet padding is dropped)
    /// with the method <typeparamref name="TEncap"/>. Output: Ethernet (+ the ingress VLAN tag when
    /// <c>e.KeepVlan</c>) + outer IPv4 (TTL 64, TOS and DF copied from the inner packet, valid checksum)
    /// or outer IPv6 (hop limit 64, traffic class copied, flow label from <c>e.FlowLabel</c>) + a UDP
    /// header for GUE (checksum 0 over IPv4, computed over IPv6 as RFC 8200 requires) or a 4-byte GRE
    /// header + the inner packet. On anything but <see cref="EncapResult.Ok"/> the frame is untouched.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static EncapResult Encapsulate<TEncap>(byte* frame, int len, int headroom, in PacketInfo p, in EncapParams e,
        out short delta, out ushort newLen) where TEncap : struct, IEncap
    {
        delta = 0;
        newLen = 0;
        return EncapsulateInto<TEncap>(frame, headroom, p, e, ref delta, ref newLen);
    }

    /// <summary><see cref="Encapsulate{TEncap}"/> writing delta and length only on <see cref="EncapResult.Ok"/>.
    /// The family is <c>TEncap.V6</c> where the type fixes it (<see cref="IEncap.FamilyKnown"/>), else the packet's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static EncapResult EncapsulateInto<TEncap>(byte* frame, int headroom, in PacketInfo p, in EncapParams e,
        ref short delta, ref ushort newLen) where TEncap : struct, IEncap
    {
        bool v6 = TEncap.FamilyKnown ? TEncap.V6 : p.IsIPv6;
        int overhead = Overhead(TEncap.Mode, v6);
        int inner = p.L3Length;
        bool tag = e.KeepVlan && p.Has(PacketFlags.HasVlan);
        int l2 = tag ? EthHeader + VlanTag : EthHeader;

        // The second bound only matters for MTUs above 64 KiB: the frame length and the outer IPv4
        // total length are 16-bit fields.
        if (inner + overhead > e.Mtu || l2 + overhead + inner > ushort.MaxValue)
            return EncapResult.TooBig;

        int d = p.L3Offset - overhead - l2;      // always negative: overhead >= 20 > any VLAN stack we parse
        if (headroom + d < 0)
            return EncapResult.NoHeadroom;

        byte* l3 = frame + p.L3Offset;
        // Read the tag (TPID + TCI exactly as received) before the new headers overwrite it.
        uint tagBytes = tag ? Unsafe.ReadUnaligned<uint>(frame + 12) : 0;

        byte* s = frame + d;
        BigEndian.WriteMac(s, e.DstMac);
        BigEndian.WriteMac(s + 6, e.SrcMac);
        if (tag) Unsafe.WriteUnaligned(s + 12, tagBytes);
        BigEndian.WriteU16(s + l2 - 2, v6 ? EtherTypes.IPv6 : EtherTypes.IPv4);

        byte* ip = s + l2;
        byte proto = TEncap.Mode switch
        {
            ForwardingMode.Gue => IpProtocol.Udp,
            ForwardingMode.Gre => IpProtocol.Gre,
            _ => v6 ? IpProtocol.Ipv6Encap : IpProtocol.IpInIp,
        };
        byte* l4;
        if (!v6 && !BitConverter.IsLittleEndian)
        {
            ip[0] = 0x45;
            ip[1] = l3[1];
            BigEndian.WriteU16(ip + 2, (ushort)(overhead + inner));
            bool df = (l3[6] & 0x40) != 0;
            if (df) { ip[4] = 0; ip[5] = 0; ip[6] = 0x40; }
            else { ip[4] = l3[4]; ip[5] = l3[5]; ip[6] = 0; }
            ip[7] = 0;
            ip[8] = OuterHopLimit;
            ip[9] = proto;
            e.OuterSource.WriteV4(ip + 12);
            e.OuterDestination.WriteV4(ip + 16);
            Checksum.SetIpv4Header20(ip);
            l4 = ip + Ipv4Header;
        }
        else if (!v6)
        {
            // (Big-endian machines take the field-by-field branch above.) The 20 bytes are built in three registers, summed there, then stored: storing field by
            // field and reading the header back for the checksum would stall on store forwarding (and
            // on the headroom line's miss, which the stores now hide).
            // Memory order, little-endian words: 45 tos len len | id id flags 00 ; ttl proto 0 0 | src ; dst.
            ulong w0 = 0x45UL | (ulong)l3[1] << 8                 // DSCP + ECN copied (RFC 6040 normal mode)
                | (ulong)Checksum.Net16((ushort)(overhead + inner)) << 16;
            // DF copied from the inner header. With DF set the ID is 0 (RFC 6864: atomic datagrams);
            // with DF clear a router further on may fragment the outer packet, so reuse the inner ID,
            // which its sender already keeps unique per (source, destination, protocol).
            if ((l3[6] & 0x40) != 0) w0 |= 0x40UL << 48;
            else w0 |= (ulong)Unsafe.ReadUnaligned<ushort>(l3 + 4) << 32;
            ulong w1 = OuterHopLimit | (ulong)proto << 8 | (ulong)Net32(e.OuterSource.V4) << 32;
            uint w2 = Net32(e.OuterDestination.V4);
            w1 |= (ulong)Checksum.Ipv4Header20(w0, w1, w2) << 16;
            Unsafe.WriteUnaligned(ip, w0);
            Unsafe.WriteUnaligned(ip + 8, w1);
            Unsafe.WriteUnaligned(ip + 16, w2);
            l4 = ip + Ipv4Header;
        }
        else
        {
            uint trafficClass = (uint)((l3[0] & 0x0F) << 4 | l3[1] >> 4);
            BigEndian.WriteU32(ip, 6u << 28 | trafficClass << 20 | (e.FlowLabel & 0xF_FFFF));
            BigEndian.WriteU16(ip + 4, (ushort)(overhead - Ipv6Header + inner));
            ip[6] = proto;
            ip[7] = OuterHopLimit;
            e.OuterSource.WriteV6(ip + 8);
            e.OuterDestination.WriteV6(ip + 24);
            l4 = ip + Ipv6Header;
        }

        if (TEncap.Mode == ForwardingMode.Gue)
        {
            ushort udpLen = (ushort)(UdpHeader + inner);
            BigEndian.WriteU16(l4, e.GueSourcePort);
            BigEndian.WriteU16(l4 + 2, e.GuePort);
            BigEndian.WriteU16(l4 + 4, udpLen);
            if (v6)
            {
                // IPv6 UDP needs a real checksum (RFC 8200 section 8.1; the zero-checksum exception of
                // RFC 6935 needs the receiver to opt in per tunnel, Linux FOU does not by default).
                // This sums the whole inner packet: the one per-byte cost of GUE over IPv6.
                Checksum.SetUpperLayer(l4, udpLen, 6, Checksum.PseudoHeaderV6(ip, IpProtocol.Udp, udpLen), isUdp: true);
            }
            else
            {
                l4[6] = 0; l4[7] = 0;                 // RFC 768: no checksum over IPv4
            }
        }
        else if (TEncap.Mode == ForwardingMode.Gre)
        {
            l4[0] = 0; l4[1] = 0;                     // no checksum, key or sequence (RFC 2784), version 0
            BigEndian.WriteU16(l4 + 2, v6 ? EtherTypes.IPv6 : EtherTypes.IPv4);
        }

        delta = (short)d;
        newLen = (ushort)(l2 + overhead + inner);
        return EncapResult.Ok;
    }
}
