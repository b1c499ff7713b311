using System.Buffers.Binary;
using System.Net;
using Switchyard.Dataplane.Datapath;
using Switchyard.Tests.Infrastructure;
using static Switchyard.Tests.Integration.TestNetwork;

namespace Switchyard.Tests.Integration;

/// <summary>
/// One appliance run on a big mixed pcap: every forwarding mode, IPv4 and IPv6, VLAN tags, IP options,
/// fragments, ICMP errors, ARP/NDP, non-VIP traffic, MTU answers and one malformed frame per drop reason.
/// Every output frame is checked byte for byte against its input where the transformation is defined
/// (MAC rewrite, encapsulation that keeps the inner packet), and by tshark (addresses, encapsulation,
/// answers, every checksum); the final counters are compared with what was sent, reason by reason.
/// The single worker keeps order, so outputs are the inputs minus the drops, in input order.
/// </summary>
[Collection(ApplianceCollection.Name)]
[Trait("Category", "Integration")]
public sealed class MixedTrafficTests
{
    /// <summary>One input frame and what must become of it. Frames with the same Group must reach one backend.</summary>
    sealed record Case(string Name, byte[] Frame, Outcome Kind, Vip? Vip = null, DropReason Reason = DropReason.None,
        string? Group = null, int TooBigMtu = 0, string? NeighborTarget = null, ushort? Marker = null);

    sealed class Cases : List<Case>
    {
        public void Forward(string name, byte[] frame, Vip vip, string? group = null, ushort? marker = null) =>
            Add(new Case(name, frame, Outcome.Forwarded, vip, Group: group, Marker: marker));
        public void Drop(string name, byte[] frame, DropReason reason) => Add(new Case(name, frame, Outcome.Dropped, Reason: reason));
    }

    static ushort _sport = 20000;
    static ushort NextPort() => _sport++;

    static Cases Build()
    {
        _sport = 20000;
        var c = new Cases();

        // ---- TCP flows to every TCP VIP: SYN then data, the data must follow the SYN's backend.
        foreach (var v in new[] { Dsr4, Dsr6, IpipV4, IpipV6, GueV4, GueV6, GreV4, GreV6 })
            for (int k = 0; k < 3; k++)
            {
                ushort sp = NextPort();
                string g = $"flow-{v.Name}-{sp}";
                c.Forward($"{v.Name} SYN {sp}", Syn(v, sp, src: ClientFor(v, k == 1)), v, g, sp);
                c.Forward($"{v.Name} data {sp}", Data(v, sp, $"tag-{v.Name}-{sp}", src: ClientFor(v, k == 1)), v, g, sp);
            }

        // ---- 802.1Q-tagged frames: the tag stays on the forwarded frame (also in front of the outer header).
        foreach (var (v, vid) in new[] { (Dsr4, (ushort)100), (GreV4, (ushort)200), (IpipV6, (ushort)300), (GueV4, (ushort)400), (GueV6, (ushort)500) })
        {
            ushort sp = NextPort();
            c.Forward($"{v.Name} VLAN {vid} SYN", Syn(v, sp, vlan: vid), v, $"vlan-{sp}", sp);
            c.Forward($"{v.Name} VLAN {vid} data", Data(v, sp, "vlan-tagged", vlan: vid), v, $"vlan-{sp}", sp);
        }

        // ---- IPv4 options (NOP, NOP, Router Alert) are carried through.
        byte[] routerAlert = [1, 1, 0x94, 4, 0, 0];
        foreach (var v in new[] { Dsr4, IpipV4, GreV4 })
        {
            ushort sp = NextPort();
            c.Forward($"{v.Name} IPv4 options", Syn(v, sp, ipOptions: routerAlert), v, marker: sp);
        }

        // ---- Ethernet padding: the encapsulated inner packet ends where its IP total length says.
        {
            ushort sp = NextPort();
            var f = Ip(Eth(), Client4, IpipV4.Address).Tcp(sp, 80, TcpFlags.Syn).PadTo(60).Build();
            Assert.Equal(60, f.Length);
            c.Forward("ipip4 padded SYN", f, IpipV4, marker: sp);
        }

        // ---- UDP VIPs and the whole-address VIP.
        foreach (var v in new[] { Udp4, Udp6 })
            for (int k = 0; k < 3; k++)
            {
                ushort sp = NextPort();
                c.Forward($"{v.Name} query {sp}", Ip(Eth(), ClientFor(v, k == 2), v.Address).Udp(sp, 53).Payload($"udp-{sp}").Build(), v, marker: sp);
            }
        {
            ushort sp = NextPort();
            c.Forward("any4 tcp/22", Syn(Any4, sp, dport: 22), Any4, marker: sp);
            sp = NextPort();
            c.Forward("any4 udp/5000", Ip(Eth(), Client4, Any4.Address).Udp(sp, 5000).Payload("any").Build(), Any4, marker: sp);
            sp = NextPort();
            c.Forward("any6 tcp/443", Syn(Any6, sp, dport: 443), Any6, marker: sp);
            sp = NextPort();
            c.Forward("any6 udp/4500", Ip(Eth(), Client6, Any6.Address).Udp(sp, 4500).Payload("any6").Build(), Any6, marker: sp);
            c.Drop("ICMPv6 echo to a whole-address VIP", Ip(Eth(), Client6, Any6.Address).Icmpv6(128, 0, rest: 0x00010001).Payload("ping").Build(), DropReason.IcmpUnsupported);
            c.Forward("any4 ESP", FrameBuilder.Ethernet(ClientMac, PortMac).Ipv4(Client4, Any4.Address, protocol: 50).Payload(new byte[24]).Build(), Any4);
        }

        // ---- Fragments. "hash" pools: every fragment of one datagram to one backend; "drop" pools: all dropped.
        FragmentsV4(c, Udp4, Client4, 1, big: 3000, per: 1000, udp: true);
        FragmentsV4(c, Udp4, Client4b, 2, big: 2500, per: 800, udp: true);
        FragmentsV4(c, GreV4, Client4, 3, big: 2000, per: 600, udp: false);
        FragmentsV6(c, Dsr6, Client6, 0x1111, big: 3000, per: 1200);
        FragmentsV6(c, IpipV6, Client6b, 0x2222, big: 2000, per: 800);
        FragmentsV4(c, FragDrop4, Client4, 4, big: 2000, per: 1000, udp: false, dropped: true);
        FragmentsV6(c, FragDrop6, Client6, 0x3333, big: 2000, per: 1000, dropped: true);

        // ---- ICMP errors about a VIP's packet to a client: to the backend of the client's flow.
        for (int k = 0; k < 4; k++)
        {
            ushort sp = NextPort();
            string client = k % 2 == 0 ? Client4 : Client4b;
            c.Forward($"dsr4 flow for ICMP {sp}", Syn(Dsr4, sp, src: client), Dsr4, $"icmp-{sp}", sp);
            var quoted = IpPacket(FrameBuilder.Ethernet(PortMac, ClientMac).Ipv4(Dsr4.Address, client).Tcp(80, sp, TcpFlags.Syn | TcpFlags.Ack, seq: 5000, ack: 1001));
            var icmp = FrameBuilder.Ethernet(RouterMac, PortMac).Ipv4(Router4, Dsr4.Address).Icmp(3, 4, rest: 1400).Payload(quoted).Build();
            c.Forward($"ICMP frag-needed for {sp}", icmp, Dsr4, $"icmp-{sp}");
        }
        for (int k = 0; k < 4; k++)
        {
            ushort sp = NextPort();
            string client = k % 2 == 0 ? Client6 : Client6b;
            c.Forward($"ipip6 flow for PTB {sp}", Syn(IpipV6, sp, src: client), IpipV6, $"ptb-{sp}", sp);
            var quoted = IpPacket(FrameBuilder.Ethernet(PortMac, ClientMac).Ipv6(IpipV6.Address, client).Tcp(80, sp, TcpFlags.Syn | TcpFlags.Ack, seq: 5000, ack: 1001));
            var ptb = FrameBuilder.Ethernet(RouterMac, PortMac).Ipv6(Router6, IpipV6.Address).Icmpv6(2, 0, rest: 1280).Payload(quoted).Build();
            c.Forward($"ICMPv6 packet-too-big for {sp}", ptb, IpipV6, $"ptb-{sp}");
        }

        // ICMP errors about a UDP VIP's datagram and a whole-address VIP's segment.
        {
            ushort sp = NextPort();
            c.Forward($"udp4 flow for ICMP {sp}", Ip(Eth(), Client4b, Udp4.Address).Udp(sp, 53).Payload("q").Build(), Udp4, $"icmp-udp-{sp}", sp);
            var quoted = IpPacket(FrameBuilder.Ethernet(PortMac, ClientMac).Ipv4(Udp4.Address, Client4b).Udp(53, sp).Payload("answer"));
            c.Forward($"ICMP frag-needed for UDP {sp}", FrameBuilder.Ethernet(RouterMac, PortMac).Ipv4(Router4, Udp4.Address).Icmp(3, 4, rest: 1300).Payload(quoted).Build(), Udp4, $"icmp-udp-{sp}");
            sp = NextPort();
            c.Forward($"any6 flow for PTB {sp}", Syn(Any6, sp, dport: 8443), Any6, $"ptb-any-{sp}", sp);
            var quoted6 = IpPacket(FrameBuilder.Ethernet(PortMac, ClientMac).Ipv6(Any6.Address, Client6).Tcp(8443, sp, TcpFlags.Syn | TcpFlags.Ack, seq: 1, ack: 1001));
            c.Forward($"ICMPv6 packet-too-big for any6 {sp}", FrameBuilder.Ethernet(RouterMac, PortMac).Ipv6(Router6, Any6.Address).Icmpv6(2, 0, rest: 1280).Payload(quoted6).Build(), Any6, $"ptb-any-{sp}");
        }

        // ---- ARP and NDP.
        c.Add(new Case("ARP for a VIP", FrameBuilder.ArpRequest(ClientMac, Client4, Dsr4.Address), Outcome.ArpReplied, NeighborTarget: Dsr4.Address));
        c.Add(new Case("ARP for the port address", FrameBuilder.ArpRequest(ClientMac, Client4, PortV4), Outcome.ArpReplied, NeighborTarget: PortV4));
        c.Drop("ARP for a foreign address", FrameBuilder.ArpRequest(ClientMac, Client4, "198.51.100.99"), DropReason.ArpNotForUs);
        c.Drop("ARP reply to us", FrameBuilder.ArpReply(ClientMac, Client4, PortMac, PortV4), DropReason.ArpNotForUs);
        c.Add(new Case("NS for a VIP", FrameBuilder.NeighborSolicitation(ClientMac, Client6, Dsr6.Address), Outcome.NdpReplied, NeighborTarget: Dsr6.Address));
        c.Add(new Case("NS for the port address", FrameBuilder.NeighborSolicitation(ClientMac, Client6, PortV6), Outcome.NdpReplied, NeighborTarget: PortV6));
        // On a VLAN: the answer keeps the tag.
        c.Add(new Case("ARP for a VIP on VLAN 5", FrameBuilder.Ethernet(FrameBuilder.Mac(ClientMac), FrameBuilder.Broadcast).Vlan(5)
            .Arp(1, ClientMac, Client4, "00:00:00:00:00:00", IpipV4.Address).Build(), Outcome.ArpReplied, NeighborTarget: IpipV4.Address));
        c.Add(new Case("NS for a VIP on VLAN 5", NsOnVlan(GueV6.Address, 5), Outcome.NdpReplied, NeighborTarget: GueV6.Address));
        c.Drop("NS for a foreign address", FrameBuilder.NeighborSolicitation(ClientMac, Client6, "2001:db8:100::99"), DropReason.NdpNotForUs);

        // ---- Not for a VIP.
        c.Drop("SYN to a non-VIP address", Syn(Dsr4 with { Address = "203.0.113.99" }, NextPort()), DropReason.NotForVip);
        c.Drop("SYN to a VIP address, other port", Syn(Dsr4, NextPort(), dport: 81), DropReason.NotForVip);
        c.Drop("UDP to a TCP VIP", Ip(Eth(), Client4, Dsr4.Address).Udp(NextPort(), 80).Payload("x").Build(), DropReason.NotForVip);
        c.Drop("IPv6 SYN to a non-VIP address", Syn(Dsr6 with { Address = "2001:db8:10::99" }, NextPort()), DropReason.NotForVip);
        c.Drop("ICMP echo to a VIP", Ip(Eth(), Client4, Dsr4.Address).Icmp(8, 0, rest: 0x00010001).Payload("ping").Build(), DropReason.IcmpUnsupported);
        c.Drop("ICMP echo to a whole-address VIP", Ip(Eth(), Client4, Any4.Address).Icmp(8, 0, rest: 0x00010002).Payload("ping").Build(), DropReason.IcmpUnsupported);

        // ---- MTU: encapsulation would exceed 1500 bytes.
        {
            ushort sp = NextPort();
            // IPv4 DF, 1500 bytes: ICMP fragmentation needed, MTU 1500 - 20 (IPIP).
            c.Add(new Case("ipip4 1500 DF", BigTcp(IpipV4, sp, 1500, df: true), Outcome.IcmpTooBigSent, IpipV4, TooBigMtu: 1480));
            c.Add(new Case("gue4 1500 DF", BigTcp(GueV4, NextPort(), 1500, df: true), Outcome.IcmpTooBigSent, GueV4, TooBigMtu: 1472));
            c.Add(new Case("gre4 1500 DF", BigTcp(GreV4, NextPort(), 1500, df: true), Outcome.IcmpTooBigSent, GreV4, TooBigMtu: 1476));
            c.Drop("ipip4 1500 without DF", BigTcp(IpipV4, NextPort(), 1500, df: false), DropReason.EncapTooBigNoDf);
            ushort fits = NextPort();
            c.Forward("ipip4 1480 DF fits exactly", BigTcp(IpipV4, fits, 1480, df: true), IpipV4, marker: fits);
            // IPv6, 1500 bytes: packet too big, MTU 1500 - 40 (IPv6 in IPv6).
            c.Add(new Case("ipip6 1500", BigTcp(IpipV6, NextPort(), 1500, df: true), Outcome.IcmpTooBigSent, IpipV6, TooBigMtu: 1460));
            c.Add(new Case("gre6 1500", BigTcp(GreV6, NextPort(), 1500, df: true), Outcome.IcmpTooBigSent, GreV6, TooBigMtu: 1456));
            c.Add(new Case("gue6 1500", BigTcp(GueV6, NextPort(), 1500, df: true), Outcome.IcmpTooBigSent, GueV6, TooBigMtu: 1452));
            ushort fits6 = NextPort();
            c.Forward("ipip6 1460 fits exactly", BigTcp(IpipV6, fits6, 1460, df: true), IpipV6, marker: fits6);
            ushort fitsGue6 = NextPort();
            c.Forward("gue6 1452 fits exactly", BigTcp(GueV6, fitsGue6, 1452, df: true), GueV6, marker: fitsGue6);
            // L2 DSR does not grow the packet: 1500 bytes go through.
            ushort dsr = NextPort();
            c.Forward("dsr4 1500", BigTcp(Dsr4, dsr, 1500, df: true), Dsr4, marker: dsr);
        }

        // ---- Malformed frames, one per reason.
        Malformed(c);
        return c;
    }

    static byte[] NsOnVlan(string target, ushort vid)
    {
        var t = IPAddress.Parse(target).GetAddressBytes();
        var group = IPAddress.Parse($"ff02::1:ff{t[13]:x2}:{t[14]:x2}{t[15]:x2}");
        byte[] body = [.. t, 1, 1, .. FrameBuilder.Mac(ClientMac)];
        return FrameBuilder.Ethernet(FrameBuilder.Mac(ClientMac), [0x33, 0x33, 0xff, t[13], t[14], t[15]]).Vlan(vid)
            .Ipv6(Client6, group.ToString(), hopLimit: 255).Icmpv6(135, 0).Payload(body).Build();
    }

    static byte[] BigTcp(Vip v, ushort sport, int ipLength, bool df)
    {
        int header = v.V6 ? 40 + 20 : 20 + 20;
        var payload = Enumerable.Range(0, ipLength - header).Select(i => (byte)i).ToArray();
        return Ip(Eth(), ClientFor(v), v.Address, df: df).Tcp(sport, (ushort)v.Port, TcpFlags.Ack, seq: 1001, ack: 1).Payload(payload).Build();
    }

    static void FragmentsV4(Cases c, Vip v, string client, ushort id, int big, int per, bool udp, bool dropped = false)
    {
        ushort sp = NextPort();
        var payload = Enumerable.Range(0, big).Select(i => (byte)(i * 7)).ToArray();
        var b = FrameBuilder.Ethernet(ClientMac, PortMac).Ipv4(client, v.Address, id: id, dontFragment: false);
        b = udp ? b.Udp(sp, (ushort)v.Port) : b.Tcp(sp, (ushort)v.Port, TcpFlags.Ack | TcpFlags.Psh, seq: 1, ack: 1);
        var frags = b.Payload(payload).BuildFragments(per);
        Assert.True(frags.Count >= 3);
        for (int i = 0; i < frags.Count; i++)
            if (dropped) c.Drop($"{v.Name} IPv4 fragment {i} of id {id} (drop policy)", frags[i], DropReason.FragmentDropped);
            else c.Forward($"{v.Name} IPv4 fragment {i} of id {id}", frags[i], v, $"frag4-{id}");
    }

    static void FragmentsV6(Cases c, Vip v, string client, uint id, int big, int per, bool dropped = false)
    {
        ushort sp = NextPort();
        var payload = Enumerable.Range(0, big).Select(i => (byte)(i * 3)).ToArray();
        var frags = FrameBuilder.Ethernet(ClientMac, PortMac).Ipv6(client, v.Address)
            .Tcp(sp, (ushort)v.Port, TcpFlags.Ack | TcpFlags.Psh, seq: 1, ack: 1).Payload(payload).BuildFragments(per, id);
        Assert.True(frags.Count >= 2);
        for (int i = 0; i < frags.Count; i++)
            if (dropped) c.Drop($"{v.Name} IPv6 fragment {i} of id {id:x} (drop policy)", frags[i], DropReason.FragmentDropped);
            else c.Forward($"{v.Name} IPv6 fragment {i} of id {id:x}", frags[i], v, $"frag6-{id:x}");
    }

    static byte[] With(byte[] frame, Action<byte[]> change)
    {
        var f = (byte[])frame.Clone();
        change(f);
        return f;
    }

    static void Malformed(Cases c)
    {
        var syn4 = Syn(Dsr4, 33333);           // IPv4 at 14, TCP at 34
        var syn6 = Syn(Dsr6, 33334);           // IPv6 at 14, TCP at 54
        byte[] eth(ushort type, params byte[] rest)
        {
            var h = new byte[14 + rest.Length];
            FrameBuilder.Mac(PortMac).CopyTo(h, 0);
            FrameBuilder.Mac(ClientMac).CopyTo(h, 6);
            BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(12), type);
            rest.CopyTo(h, 14);
            return h;
        }
        c.Drop("runt (10 bytes)", syn4[..10], DropReason.RuntFrame);
        // net_pcap chains a frame longer than one mbuf's data room (2 KiB) into several segments.
        c.Drop("jumbo frame in several mbufs", BigTcp(Dsr4, NextPort(), 3000, df: true), DropReason.MultiSegment);
        c.Drop("VLAN tag cut short", eth(0x8100, 0x00), DropReason.VlanTruncated);
        c.Drop("LLDP", eth(0x88cc, new byte[46]), DropReason.UnsupportedEtherType);
        c.Drop("truncated IPv4 (10 of 20 header bytes)", syn4[..24], DropReason.Ipv4Truncated);
        c.Drop("IPv4 EtherType, version 5", With(syn4, f => f[14] = 0x55), DropReason.Ipv4BadVersion);
        c.Drop("IPv4 IHL 3", With(syn4, f => f[14] = 0x43), DropReason.Ipv4BadIhl);
        c.Drop("IPv4 total length beyond the frame", With(syn4, f => BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), 1000)), DropReason.Ipv4BadTotalLength);
        c.Drop("IPv4 total length below the header", With(syn4, f => BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), 12)), DropReason.Ipv4BadTotalLength);
        c.Drop("IPv4 bad header checksum", With(syn4, f => f[24] ^= 0x5a), DropReason.Ipv4BadChecksum);
        c.Drop("IPv4 zero-length option", Ip(Eth(), Client4, Dsr4.Address, options: [7, 0]).Tcp(NextPort(), 80, TcpFlags.Syn).Build(), DropReason.Ipv4BadOptions);
        c.Drop("IPv4 option overrunning the header", Ip(Eth(), Client4, Dsr4.Address, options: [1, 1, 0x94, 12]).Tcp(NextPort(), 80, TcpFlags.Syn).Build(), DropReason.Ipv4BadOptions);
        c.Drop("truncated IPv6 (20 of 40 header bytes)", syn6[..34], DropReason.Ipv6Truncated);
        c.Drop("IPv6 EtherType, version 4", With(syn6, f => f[14] = 0x40), DropReason.Ipv6BadVersion);
        c.Drop("IPv6 payload length beyond the frame", With(syn6, f => BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(18), 900)), DropReason.Ipv6BadPayloadLength);
        // A destination-options header claiming 32 bytes where the payload length leaves 8.
        var ext = FrameBuilder.Ethernet(ClientMac, PortMac).Ipv6(Client6, Dsr6.Address).DestinationOptions([1, 12, .. new byte[12]]).Build();
        c.Drop("IPv6 extension header cut short", With(ext, f => { BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(18), 8); f[54 + 1] = 3; }),
            DropReason.Ipv6BadExtensionHeader);
        c.Drop("TCP header cut short", FrameBuilder.Ethernet(ClientMac, PortMac).Ipv4(Client4, Dsr4.Address, protocol: 6).Payload(new byte[10]).Build(), DropReason.TcpTruncated);
        c.Drop("TCP data offset 3", With(syn4, f => f[34 + 12] = 0x30), DropReason.TcpBadDataOffset);
        c.Drop("TCP data offset beyond the segment", With(syn4, f => f[34 + 12] = 0xF0), DropReason.TcpBadDataOffset);
        c.Drop("TCP zero-length option", Ip(Eth(), Client4, Dsr4.Address).Tcp(NextPort(), 80, TcpFlags.Syn, options: [2, 0, 1, 1]).Build(), DropReason.TcpBadOptions);
        c.Drop("IPv6 TCP zero-length option", Ip(Eth(), Client6, Dsr6.Address).Tcp(NextPort(), 80, TcpFlags.Syn, options: [8, 0, 1, 1]).Build(), DropReason.TcpBadOptions);
        c.Drop("UDP header cut short", FrameBuilder.Ethernet(ClientMac, PortMac).Ipv4(Client4, Udp4.Address, protocol: 17).Payload(new byte[4]).Build(), DropReason.UdpTruncated);
        var udp = Ip(Eth(), Client4, Udp4.Address).Udp(NextPort(), 53).Payload("0123456789").Build();   // UDP at 34
        c.Drop("UDP length beyond the datagram", With(udp, f => BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(34 + 4), 500)), DropReason.UdpBadLength);
        c.Drop("UDP length below 8", With(udp, f => BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(34 + 4), 4)), DropReason.UdpBadLength);
        c.Drop("ICMP header cut short", FrameBuilder.Ethernet(ClientMac, PortMac).Ipv4(Router4, Dsr4.Address, protocol: 1).Payload(new byte[4]).Build(), DropReason.IcmpTruncated);
        c.Drop("ICMP frag-needed quoting 10 bytes", Ip(Eth(), Router4, Dsr4.Address).Icmp(3, 4, rest: 1400).Payload(new byte[10]).Build(), DropReason.IcmpErrorMalformed);
    }

    static readonly string[] Fields =
    [
        "frame.protocols", "eth.dst", "eth.src", "vlan.id", "ip.src", "ip.dst", "ip.proto", "ip.len", "ip.ttl", "ipv6.src", "ipv6.dst", "ipv6.nxt",
        "ipv6.hlim", "ipv6.plen", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "gre.proto", "icmp.type", "icmp.code", "icmp.mtu",
        "icmpv6.type", "icmpv6.code", "icmpv6.mtu", "icmpv6.nd.na.target_address", "icmpv6.opt.linkaddr", "icmpv6.nd.na.flag.s",
        "icmpv6.nd.na.flag.o", "icmpv6.nd.na.flag.r", "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.hw_mac", "arp.dst.proto_ipv4",
    ];

    /// <summary>Issue 14: the same pcap through an appliance forwarding with the plain body (Dataplane.SpecialisedBodies
    /// false) gives the same output frames, byte for byte, as the specialised bodies (every mode and family is in it).</summary>
    [Fact]
    public void The_plain_forwarding_body_writes_the_frames_the_specialised_bodies_write()
    {
        var cases = Build();
        using var specialised = Appliance.Run("mixed-bodies", cases.Select(x => x.Frame), TestNetwork.Apply);
        using var plain = Appliance.Run("mixed-plain", cases.Select(x => x.Frame), j =>
        {
            TestNetwork.Apply(j);
            if (j["Dataplane"] is not System.Text.Json.Nodes.JsonObject d) j["Dataplane"] = d = new System.Text.Json.Nodes.JsonObject();
            d["SpecialisedBodies"] = false;
        });
        specialised.AssertCleanExit();
        plain.AssertCleanExit();
        var a = specialised.Output;
        var b = plain.Output;
        Assert.Equal(cases.Count(x => x.Kind != Outcome.Dropped), a.Count);
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
            Assert.True(a[i].Data.AsSpan().SequenceEqual(b[i].Data),
                $"output frame {i + 1}: specialised {Convert.ToHexString(a[i].Data)}\nplain       {Convert.ToHexString(b[i].Data)}");
    }

    [Fact]
    public void Mixed_pcap_every_output_frame_is_right_and_the_counters_match_the_input()
    {
        var cases = Build();
        using var run = Appliance.Run("mixed", cases.Select(x => x.Frame), TestNetwork.Apply);
        run.AssertCleanExit();

        var expected = cases.Where(x => x.Kind != Outcome.Dropped).ToList();
        var output = run.Output;
        var dissected = Tshark.Fields(run.OutputPcap, Fields, extraArgs: DecodeAs);
        Assert.Equal(output.Count, dissected.Count);
        Assert.True(expected.Count == output.Count,
            $"expected {expected.Count} output frames, got {output.Count}\n{run.Describe()}");

        var failures = new List<string>();
        var groups = new Dictionary<string, HashSet<string>>();
        for (int i = 0; i < expected.Count; i++)
        {
            var c = expected[i];
            var why = new List<string>();
            try
            {
                string? backend = c.Kind switch
                {
                    Outcome.Forwarded => CheckForwarded(c, output[i].Data, dissected[i], why),
                    Outcome.ArpReplied => CheckArp(c, output[i].Data, dissected[i], why),
                    Outcome.NdpReplied => CheckNdp(c, output[i].Data, dissected[i], why),
                    Outcome.IcmpTooBigSent => CheckTooBig(c, dissected[i], why),
                    _ => null,
                };
                CheckChecksums(c, dissected[i], why);
                if (c.Group is not null && backend is not null)
                {
                    if (!groups.TryGetValue(c.Group, out var set)) groups[c.Group] = set = new();
                    set.Add(backend);
                }
            }
            catch (Exception e) { why.Add(e.Message); }
            if (why.Count > 0) failures.Add($"output frame {i + 1} ({c.Name}): {string.Join("; ", why)}");
        }
        foreach (var (g, set) in groups)
            if (set.Count != 1) failures.Add($"group {g} reached {set.Count} backends: {string.Join(", ", set)}");
        // The groups that must exist did: fragments, ICMP errors, flows.
        Assert.Contains(groups.Keys, k => k.StartsWith("frag4-"));
        Assert.Contains(groups.Keys, k => k.StartsWith("frag6-"));
        Assert.Contains(groups.Keys, k => k.StartsWith("icmp-"));
        Assert.Contains(groups.Keys, k => k.StartsWith("ptb-"));
        Assert.True(failures.Count == 0, $"{failures.Count} output frame problem(s) (keep the files with SWITCHYARD_KEEP_PCAP=1, dir {run.Dir}):\n  "
            + string.Join("\n  ", failures));

        // ---- counters: invariants, then exactly what was sent.
        CountersInvariants.AssertHold(run.Counters);
        Assert.Equal(cases.Count, run.Total("rxPackets"));
        Assert.Equal(expected.Count, run.Total("txPackets"));
        Assert.Equal(cases.Count(x => x.Kind == Outcome.Forwarded), run.Total("forwarded"));
        Assert.Equal(cases.Count(x => x.Kind == Outcome.ArpReplied), run.Total("arpReplied"));
        Assert.Equal(cases.Count(x => x.Kind == Outcome.NdpReplied), run.Total("ndpReplied"));
        Assert.Equal(cases.Count(x => x.Kind == Outcome.IcmpTooBigSent), run.Total("icmpTooBigSent"));
        Assert.Equal(cases.Count(x => x.Kind == Outcome.Dropped), run.Total("dropped"));
        var reasonProblems = new List<string>();
        for (var r = (DropReason)1; r < DropReason.Count; r++)
        {
            long want = cases.Count(x => x.Kind == Outcome.Dropped && x.Reason == r), got = run.Drop(r.ToString());
            if (want != got) reasonProblems.Add($"{r}: expected {want}, counted {got} ({string.Join(", ", cases.Where(x => x.Reason == r).Select(x => x.Name))})");
        }
        Assert.True(reasonProblems.Count == 0, "drop reasons differ from the malformed frames sent:\n  " + string.Join("\n  ", reasonProblems));
        foreach (var vip in run.Counters.GetProperty("vips").EnumerateArray())
        {
            string name = vip.GetProperty("name").GetString()!;
            Assert.True(cases.Count(x => x.Kind == Outcome.Forwarded && x.Vip!.Name == name) == vip.GetProperty("packets").GetInt64(),
                $"VIP {name}: {vip.GetProperty("packets").GetInt64()} packets counted");
        }
        Assert.Equal(cases.Count(x => x.Kind == Outcome.Forwarded && x.Name.StartsWith("ICMP")), run.Total("icmpErrorsRouted"));
        Assert.Equal(cases.Count(x => x.Kind == Outcome.Forwarded && x.Group?.StartsWith("frag") == true), run.Total("fragmentsHashed"));
        var port = run.Counters.GetProperty("ports")[0];
        Assert.Equal(cases.Count, port.GetProperty("rxPackets").GetInt64());
        Assert.Equal(expected.Count, port.GetProperty("txPackets").GetInt64());
    }

    // ---- per-frame checks; each returns the backend the frame went to (for the group check) ----

    static int L2Length(byte[] f) => BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) == 0x8100 ? 18 : 14;

    static byte[] L3Packet(byte[] f)
    {
        int l2 = L2Length(f);
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(l2 - 2));
        int len = type == 0x0800 ? BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(l2 + 2)) : 40 + BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(l2 + 4));
        return f[l2..(l2 + len)];
    }

    static string Mac(byte[] f, int at) => string.Join(':', f.Skip(at).Take(6).Select(b => b.ToString("x2")));

    static string? CheckForwarded(Case c, byte[] output, TsharkPacket t, List<string> why, byte[]? input = null)
    {
        input ??= c.Frame;
        var pool = c.Vip!.Pool;
        string src = Mac(output, 6), dst = Mac(output, 0);
        if (src != PortMac) why.Add($"eth.src {src}, expected the port's {PortMac}");
        if (L2Length(input) == 18)
        {
            if (t["vlan.id"] != BinaryPrimitives.ReadUInt16BigEndian(input.AsSpan(14)).ToString()) why.Add($"VLAN tag lost or changed: vlan.id {t["vlan.id"]}");
            if (!output.AsSpan(12, 4).SequenceEqual(input.AsSpan(12, 4))) why.Add("VLAN tag bytes changed");
        }
        if (pool.Mode == Mode.L2Dsr)
        {
            // MACs rewritten, everything else byte for byte the same.
            if (!pool.Backends.Any(b => b.Mac == dst)) why.Add($"eth.dst {dst} is no backend of pool {pool.Name}");
            if (output.Length != input.Length || !output.AsSpan(12).SequenceEqual(input.AsSpan(12))) why.Add("L2 DSR changed more than the MACs");
            return dst;
        }

        // Encapsulation: outer header in the VIP's family, the inner packet exactly as received (padding cut).
        var inner = L3Packet(input);
        if (!output.AsSpan(output.Length - inner.Length).SequenceEqual(inner)) why.Add("the inner packet is not the client's packet, byte for byte");
        int overhead = (c.Vip.V6 ? 40 : 20) + pool.Mode switch { Mode.Gue => 8, Mode.Gre => 4, _ => 0 };
        if (output.Length != L2Length(input) + overhead + inner.Length)
            why.Add($"frame length {output.Length}, expected {L2Length(input)} + {overhead} + {inner.Length}");
        string[] outerSrc = c.Vip.V6 ? t.All("ipv6.src") : t.All("ip.src"), outerDst = c.Vip.V6 ? t.All("ipv6.dst") : t.All("ip.dst");
        if (outerDst.Length < 2) { why.Add($"tshark sees no inner IP header ({t["frame.protocols"]})"); return null; }
        var backend = pool.Backends.FirstOrDefault(b => SameAddress(outerDst[0], b.Address));
        if (backend is null) why.Add($"outer destination {outerDst[0]} is no backend of pool {pool.Name}");
        else if (dst != (backend.Mac ?? GatewayMac)) why.Add($"eth.dst {dst}, expected {backend.Mac ?? GatewayMac + " (gateway)"}");
        var prefix = IPAddress.Parse((c.Vip.V6 ? EncapPrefixV6 : EncapPrefixV4).Split('/')[0]).GetAddressBytes();
        var outer = IPAddress.Parse(outerSrc[0]).GetAddressBytes();
        if (!outer.AsSpan(0, c.Vip.V6 ? 8 : 3).SequenceEqual(prefix.AsSpan(0, c.Vip.V6 ? 8 : 3))) why.Add($"outer source {outerSrc[0]} outside {(c.Vip.V6 ? EncapPrefixV6 : EncapPrefixV4)}");
        if (!SameAddress(outerDst[1], c.Vip.Address)) why.Add($"inner destination {outerDst[1]}, expected the VIP {c.Vip.Address}");
        if (!new[] { Client4, Client4b, Router4, Client6, Client6b, Router6 }.Any(a => SameAddress(outerSrc[1], a))) why.Add($"inner source {outerSrc[1]} is no client");
        string proto = c.Vip.V6 ? t["ipv6.nxt"] ?? "" : t["ip.proto"] ?? "";
        string wantProto = pool.Mode switch { Mode.Ipip => c.Vip.V6 ? "41" : "4", Mode.Gre => "47", _ => "17" };
        if (proto != wantProto) why.Add($"outer protocol {proto}, expected {wantProto}");
        string protocols = t["frame.protocols"] ?? "";
        switch (pool.Mode)
        {
            case Mode.Gre:
                if (!protocols.Contains(":gre:")) why.Add($"tshark sees no GRE ({protocols})");
                if (t["gre.proto"] != (c.Vip.V6 ? "0x86dd" : "0x0800")) why.Add($"gre.proto {t["gre.proto"]}");
                break;
            case Mode.Gue:
                if (t["udp.dstport"] != pool.GuePort.ToString()) why.Add($"outer udp.dstport {t["udp.dstport"]}, expected {pool.GuePort}");
                if (int.Parse(t["udp.srcport"] ?? "0") < 49152) why.Add($"outer udp.srcport {t["udp.srcport"]} outside 49152..65535");
                break;
        }
        if (c.Marker is { } m)
        {
            string? sport = t.All("tcp.srcport").LastOrDefault() ?? t.All("udp.srcport").LastOrDefault();
            if (sport != m.ToString()) why.Add($"inner source port {sport}, expected {m}");
        }
        return outerDst[0];
    }

    static string? CheckArp(Case c, byte[] output, TsharkPacket t, List<string> why)
    {
        void Eq(string field, string want) { if (t[field] != want) why.Add($"{field} {t[field]}, expected {want}"); }
        Eq("eth.dst", ClientMac); Eq("eth.src", PortMac); Eq("arp.opcode", "2");
        Eq("arp.src.hw_mac", PortMac); Eq("arp.src.proto_ipv4", c.NeighborTarget!);
        Eq("arp.dst.hw_mac", ClientMac); Eq("arp.dst.proto_ipv4", Client4);
        CheckTagKept(c, output, t, why);
        if (output.Length != c.Frame.Length) why.Add("the reply's length differs from the request's");
        return null;
    }

    static void CheckTagKept(Case c, byte[] output, TsharkPacket t, List<string> why)
    {
        if (L2Length(c.Frame) != 18) { if (t.Has("vlan.id")) why.Add("a VLAN tag appeared"); return; }
        if (!output.AsSpan(12, 4).SequenceEqual(c.Frame.AsSpan(12, 4))) why.Add($"VLAN tag not kept (vlan.id {t["vlan.id"]})");
    }

    static string? CheckNdp(Case c, byte[] output, TsharkPacket t, List<string> why)
    {
        CheckTagKept(c, output, t, why);
        void Eq(string field, string want) { if (t[field] != want) why.Add($"{field} {t[field]}, expected {want}"); }
        Eq("eth.dst", ClientMac); Eq("eth.src", PortMac); Eq("icmpv6.type", "136"); Eq("ipv6.hlim", "255");
        if (!SameAddress(t["ipv6.src"], c.NeighborTarget!)) why.Add($"ipv6.src {t["ipv6.src"]}");
        if (!SameAddress(t["ipv6.dst"], Client6)) why.Add($"ipv6.dst {t["ipv6.dst"]}");
        if (!SameAddress(t["icmpv6.nd.na.target_address"], c.NeighborTarget!)) why.Add($"target {t["icmpv6.nd.na.target_address"]}");
        Eq("icmpv6.opt.linkaddr", PortMac);
        Eq("icmpv6.nd.na.flag.s", "1"); Eq("icmpv6.nd.na.flag.o", "1"); Eq("icmpv6.nd.na.flag.r", "0");
        return null;
    }

    static string? CheckTooBig(Case c, TsharkPacket t, List<string> why)
    {
        void Eq(string field, string? want) { if (t[field] != want) why.Add($"{field} {t[field]}, expected {want}"); }
        Eq("eth.dst", ClientMac); Eq("eth.src", PortMac);
        if (c.Vip!.V6)
        {
            if (!SameAddress(t["ipv6.src"], PortV6)) why.Add($"ipv6.src {t["ipv6.src"]}, expected the port's {PortV6}");
            if (!SameAddress(t["ipv6.dst"], Client6)) why.Add($"ipv6.dst {t["ipv6.dst"]}");
            Eq("icmpv6.type", "2"); Eq("icmpv6.code", "0"); Eq("icmpv6.mtu", c.TooBigMtu.ToString());
            Eq("ipv6.plen", (1280 - 40).ToString()); // cut to the IPv6 minimum MTU
        }
        else
        {
            if (!SameAddress(t["ip.src"], PortV4)) why.Add($"ip.src {t["ip.src"]}, expected the port's {PortV4}");
            if (!SameAddress(t["ip.dst"], Client4)) why.Add($"ip.dst {t["ip.dst"]}");
            Eq("ip.proto", "1"); Eq("icmp.type", "3"); Eq("icmp.code", "4"); Eq("icmp.mtu", c.TooBigMtu.ToString());
            Eq("ip.len", "576");
        }
        // The quoted packet is the client's: its source port is the inner TCP source port.
        if (!t.All("tcp.dstport").Contains(c.Vip.Port.ToString())) why.Add($"the quote does not show the VIP port ({string.Join(",", t.All("tcp.dstport"))})");
        return null;
    }

    static void CheckChecksums(Case c, TsharkPacket t, List<string> why)
    {
        foreach (var f in Tshark.ChecksumStatusFields)
        {
            var values = t.All(f);
            for (int k = 0; k < values.Length; k++)
            {
                string v = values[k];
                if (v == Tshark.StatusGood) continue;
                // GUE over IPv4 sends UDP checksum 0 (RFC 768 allows it; the inner packet has its own). Over IPv6 it must be Good.
                if (f == "udp.checksum.status" && k == 0 && v == Tshark.StatusNotPresent && c.Vip?.Pool.Mode == Mode.Gue && !c.Vip.V6) continue;
                // Our ICMP error quotes a cut packet: the quoted TCP segment cannot check out.
                if (f == "tcp.checksum.status" && c.Kind == Outcome.IcmpTooBigSent) continue;
                why.Add($"{f}[{k}] = {Tshark.Describe(v)}");
            }
        }
        if (c.Kind == Outcome.IcmpTooBigSent && !t.Has(c.Vip!.V6 ? "icmpv6.checksum.status" : "icmp.checksum.status"))
            why.Add("no ICMP checksum status");
        if ((t["frame.protocols"] ?? "").Contains("_ws.malformed")) why.Add($"tshark: malformed ({t["frame.protocols"]})");
    }
}
