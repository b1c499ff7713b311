using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Switchyard.Tests.Infrastructure;

[Flags]
public enum TcpFlags : byte { Fin = 1, Syn = 2, Rst = 4, Psh = 8, Ack = 16, Urg = 32, Ece = 64, Cwr = 128 }

/// <summary>
/// Builds Ethernet frames layer by layer for tests, with every length and checksum computed here, independently of
/// the appliance's code (a shared bug would otherwise cancel out). Fluent, outermost layer first:
/// <code>
/// var f = FrameBuilder.Ethernet(srcMac, dstMac).Vlan(100).Ipv4("198.18.0.11", "198.18.0.100")
///            .Tcp(40000, 80, TcpFlags.Syn, options: TcpOptions.Mss(1460)).Build();
/// </code>
/// Layers are checked for order only as far as needed to compute checksums (a transport layer needs an IP layer
/// before it for its pseudo-header). Use <see cref="BadChecksum"/> to produce deliberately wrong checksums.
/// </summary>
public sealed class FrameBuilder
{
    abstract record Layer;
    sealed record EthLayer(byte[] Src, byte[] Dst) : Layer;
    sealed record VlanLayer(ushort Vid, byte Pcp, ushort Tpid) : Layer;
    sealed record ArpLayer(ushort Op, byte[] SenderMac, IPAddress SenderIp, byte[] TargetMac, IPAddress TargetIp) : Layer;
    sealed record Ipv4Layer(IPAddress Src, IPAddress Dst, byte Ttl, ushort Id, bool DontFragment, byte[] Options, byte Tos, byte? Protocol) : Layer;
    sealed record Ipv6Layer(IPAddress Src, IPAddress Dst, byte HopLimit, uint FlowLabel, byte TrafficClass) : Layer;
    sealed record ExtLayer(byte Kind, byte[] Body) : Layer; // hop-by-hop (0), routing (43), destination options (60), fragment (44)
    sealed record TcpLayer(ushort Sp, ushort Dp, TcpFlags Flags, uint Seq, uint Ack, ushort Window, byte[] Options, ushort Urgent) : Layer;
    sealed record UdpLayer(ushort Sp, ushort Dp) : Layer;
    sealed record IcmpLayer(byte Type, byte Code, uint Rest, bool V6) : Layer;
    sealed record RawLayer(byte[] Bytes) : Layer;

    readonly List<Layer> _layers = new();
    bool _badChecksum;
    int _padTo;

    public const ushort EtherTypeIpv4 = 0x0800, EtherTypeArp = 0x0806, EtherTypeIpv6 = 0x86DD, EtherTypeVlan = 0x8100, EtherTypeQinQ = 0x88A8;
    public const byte ProtoIcmp = 1, ProtoTcp = 6, ProtoUdp = 17, ProtoIcmpv6 = 58, ProtoIpip = 4, ProtoIpv6 = 41, ProtoGre = 47,
        ProtoHopByHop = 0, ProtoRouting = 43, ProtoFragment = 44, ProtoDestOpts = 60, ProtoNoNext = 59;

    public static byte[] Mac(string mac) => mac.Split(':', '-').Select(x => Convert.ToByte(x, 16)).ToArray() is { Length: 6 } m
        ? m : throw new ArgumentException($"'{mac}' is not a MAC address");
    public static readonly byte[] Broadcast = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

    public static FrameBuilder Ethernet(string src, string dst) => Ethernet(Mac(src), Mac(dst));
    public static FrameBuilder Ethernet(byte[] src, byte[] dst)
    {
        var b = new FrameBuilder();
        b._layers.Add(new EthLayer(src, dst));
        return b;
    }

    /// <summary>An 802.1Q tag (repeat for stacked tags; tpid 0x88A8 for an outer 802.1ad tag).</summary>
    public FrameBuilder Vlan(ushort vid, byte pcp = 0, ushort tpid = EtherTypeVlan) => Add(new VlanLayer(vid, pcp, tpid));

    public FrameBuilder Arp(ushort op, string senderMac, string senderIp, string targetMac, string targetIp) =>
        Add(new ArpLayer(op, Mac(senderMac), IPAddress.Parse(senderIp), Mac(targetMac), IPAddress.Parse(targetIp)));

    /// <summary>IPv4; options are raw option bytes, padded here to a multiple of 4 with End-of-Options.
    /// protocol overrides the value otherwise inferred from the next layer (use with Payload).</summary>
    public FrameBuilder Ipv4(string src, string dst, byte ttl = 64, ushort id = 1, bool dontFragment = true, byte[]? options = null,
        byte tos = 0, byte? protocol = null) =>
        Add(new Ipv4Layer(IPAddress.Parse(src), IPAddress.Parse(dst), ttl, id, dontFragment, options ?? [], tos, protocol));

    public FrameBuilder Ipv6(string src, string dst, byte hopLimit = 64, uint flowLabel = 0, byte trafficClass = 0) =>
        Add(new Ipv6Layer(IPAddress.Parse(src), IPAddress.Parse(dst), hopLimit, flowLabel, trafficClass));

    /// <summary>Hop-by-hop options header; options are the TLVs, padded here with PadN to a multiple of 8.</summary>
    public FrameBuilder HopByHop(byte[]? options = null) => Add(new ExtLayer(ProtoHopByHop, options ?? []));
    public FrameBuilder DestinationOptions(byte[]? options = null) => Add(new ExtLayer(ProtoDestOpts, options ?? []));
    /// <summary>Routing header: type, segments left, then type-specific data (e.g. reserved 4 bytes + addresses for type 0).</summary>
    public FrameBuilder Routing(byte type, byte segmentsLeft, byte[]? data = null) =>
        Add(new ExtLayer(ProtoRouting, [type, segmentsLeft, .. (data ?? new byte[4])]));
    /// <summary>An explicit fragment header (for hand-made fragments; see BuildFragments for automatic ones).</summary>
    public FrameBuilder FragmentHeader(ushort offset8, bool more, uint id)
    {
        var body = new byte[6];
        BinaryPrimitives.WriteUInt16BigEndian(body, (ushort)((offset8 << 3) | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(2), id);
        return Add(new ExtLayer(ProtoFragment, body));
    }

    public FrameBuilder Tcp(ushort srcPort, ushort dstPort, TcpFlags flags, uint seq = 1000, uint ack = 0, ushort window = 65535,
        byte[]? options = null, ushort urgent = 0) =>
        Add(new TcpLayer(srcPort, dstPort, flags, seq, ack, window, options ?? [], urgent));

    public FrameBuilder Udp(ushort srcPort, ushort dstPort) => Add(new UdpLayer(srcPort, dstPort));

    /// <summary>ICMPv4: rest is the 4 bytes after the checksum (id/seq for echo, next-hop MTU in the low 16 bits for frag-needed).</summary>
    public FrameBuilder Icmp(byte type, byte code, uint rest = 0) => Add(new IcmpLayer(type, code, rest, false));
    /// <summary>ICMPv6 (checksum over the IPv6 pseudo-header): rest is the 4 bytes after the checksum (MTU for Packet Too Big).</summary>
    public FrameBuilder Icmpv6(byte type, byte code, uint rest = 0) => Add(new IcmpLayer(type, code, rest, true));

    /// <summary>Bytes after the last header (application data, an ICMP error's quoted packet, an NDP body...).</summary>
    public FrameBuilder Payload(byte[] bytes) => Add(new RawLayer(bytes));
    public FrameBuilder Payload(string ascii) => Payload(System.Text.Encoding.ASCII.GetBytes(ascii));

    /// <summary>Corrupts the innermost checksum (L4, or IPv4 header if none) after computing it, for negative tests.</summary>
    public FrameBuilder BadChecksum() { _badChecksum = true; return this; }
    /// <summary>Pads the frame with zeros to at least n bytes (60 = Ethernet minimum without FCS).</summary>
    public FrameBuilder PadTo(int n) { _padTo = n; return this; }

    FrameBuilder Add(Layer l) { _layers.Add(l); return this; }

    public byte[] Build() => BuildFrom(_layers, _badChecksum, _padTo);

    // ---- common frames ----

    public static byte[] ArpRequest(string srcMac, string srcIp, string targetIp) =>
        Ethernet(Mac(srcMac), Broadcast).Arp(1, srcMac, srcIp, "00:00:00:00:00:00", targetIp).Build();

    public static byte[] ArpReply(string srcMac, string srcIp, string dstMac, string dstIp) =>
        Ethernet(srcMac, dstMac).Arp(2, srcMac, srcIp, dstMac, dstIp).Build();

    /// <summary>A Neighbor Solicitation for target, sent to its solicited-node multicast group, with the source link-layer option.</summary>
    public static byte[] NeighborSolicitation(string srcMac, string srcIp, string targetIp)
    {
        var t = IPAddress.Parse(targetIp).GetAddressBytes();
        var group = IPAddress.Parse($"ff02::1:ff{t[13]:x2}:{t[14]:x2}{t[15]:x2}");
        var dstMac = new byte[] { 0x33, 0x33, 0xff, t[13], t[14], t[15] };
        byte[] body = [.. t, 1, 1, .. Mac(srcMac)]; // target address, then the source link-layer address option
        return Ethernet(Mac(srcMac), dstMac).Ipv6(srcIp, group.ToString(), hopLimit: 255)
            .Icmpv6(135, 0, rest: 0 /* reserved */).Payload(body).Build();
    }

    /// <summary>A solicited Neighbor Advertisement (R=0, S=1, O=1) with the target link-layer option.</summary>
    public static byte[] NeighborAdvertisement(string srcMac, string srcIp, string dstMac, string dstIp, bool router = false)
    {
        uint flags = (router ? 0x80000000u : 0) | 0x40000000u | 0x20000000u;
        byte[] body = [.. IPAddress.Parse(srcIp).GetAddressBytes(), 2, 1, .. Mac(srcMac)];
        return Ethernet(srcMac, dstMac).Ipv6(srcIp, dstIp, hopLimit: 255).Icmpv6(136, 0, flags).Payload(body).Build();
    }

    // ---- fragmentation ----

    /// <summary>
    /// Splits the frame's IP payload (everything after the IPv4 header, or after the IPv6 header plus the
    /// unfragmentable hop-by-hop/routing headers) into fragments carrying at most maxFragmentPayload bytes each
    /// (rounded down to a multiple of 8). IPv4 fragments keep the options only in the first fragment... except
    /// copied options (copy bit set), which go in every fragment, as RFC 791 says.
    /// </summary>
    public List<byte[]> BuildFragments(int maxFragmentPayload, uint ipv6FragmentId = 0x12345678)
    {
        int per = maxFragmentPayload & ~7;
        if (per <= 0) throw new ArgumentException("maxFragmentPayload must be at least 8");
        int ipIndex = _layers.FindIndex(l => l is Ipv4Layer or Ipv6Layer);
        if (ipIndex < 0) throw new InvalidOperationException("no IP layer to fragment");
        var outer = _layers.Take(ipIndex).ToList();
        var frags = new List<byte[]>();
        if (_layers[ipIndex] is Ipv4Layer v4)
        {
            var inner = _layers.Skip(ipIndex + 1).ToList();
            byte proto = v4.Protocol ?? ProtocolOf(inner);
            // The fragmentable part, with its final checksums computed over the whole datagram.
            var whole = BuildFrom([v4 with { DontFragment = false, Protocol = proto }, .. inner], _badChecksum, 0);
            int ihl = (whole[0] & 0xf) * 4;
            var data = whole.AsSpan(ihl).ToArray();
            var copied = CopiedOptions(v4.Options);
            for (int off = 0; off < data.Length; off += per)
            {
                int n = Math.Min(per, data.Length - off);
                bool more = off + n < data.Length;
                var opts = off == 0 ? v4.Options : copied;
                var hdr = Ipv4Header(v4 with { DontFragment = false, Options = opts }, proto, n, (ushort)(off / 8), more);
                frags.Add(BuildFrom([.. outer, new RawLayer([.. hdr, .. data.AsSpan(off, n)])], false, _padTo, etherType: EtherTypeIpv4));
            }
        }
        else
        {
            var v6 = (Ipv6Layer)_layers[ipIndex];
            // Unfragmentable part: hop-by-hop and routing headers directly after the IPv6 header.
            int k = ipIndex + 1;
            while (k < _layers.Count && _layers[k] is ExtLayer { Kind: ProtoHopByHop or ProtoRouting }) k++;
            var unfrag = _layers.Skip(ipIndex + 1).Take(k - ipIndex - 1).Cast<ExtLayer>().ToList();
            var rest = _layers.Skip(k).ToList();
            // Build the whole packet once so the upper-layer checksum covers the reassembled datagram.
            var whole = BuildFrom([v6, .. unfrag, .. rest], _badChecksum, 0);
            int unfragLen = unfrag.Sum(e => ExtBytes(e, 0).Length);
            var data = whole.AsSpan(40 + unfragLen).ToArray();
            byte nextAfterFrag = rest.Count == 0 ? ProtoNoNext : ProtocolOf(rest);
            for (int off = 0; off < data.Length; off += per)
            {
                int n = Math.Min(per, data.Length - off);
                bool more = off + n < data.Length;
                var fh = new byte[8];
                fh[0] = nextAfterFrag;
                BinaryPrimitives.WriteUInt16BigEndian(fh.AsSpan(2), (ushort)((off / 8 << 3) | (more ? 1 : 0)));
                BinaryPrimitives.WriteUInt32BigEndian(fh.AsSpan(4), ipv6FragmentId);
                var chainBytes = new List<byte>();
                for (int e = 0; e < unfrag.Count; e++)
                    chainBytes.AddRange(ExtBytes(unfrag[e], e + 1 < unfrag.Count ? unfrag[e + 1].Kind : ProtoFragment));
                chainBytes.AddRange(fh);
                chainBytes.AddRange(data.AsSpan(off, n).ToArray());
                var hdr = Ipv6Header(v6, unfrag.Count > 0 ? unfrag[0].Kind : ProtoFragment, chainBytes.Count);
                frags.Add(BuildFrom([.. outer, new RawLayer([.. hdr, .. chainBytes])], false, _padTo, etherType: EtherTypeIpv6));
            }
        }
        return frags;
    }

    static byte[] CopiedOptions(byte[] options)
    {
        var r = new List<byte>();
        for (int i = 0; i < options.Length;)
        {
            byte t = options[i];
            if (t == 0) break;
            if (t == 1) { i++; continue; }
            int len = i + 1 < options.Length ? Math.Max(2, (int)options[i + 1]) : 1;
            if ((t & 0x80) != 0) r.AddRange(options.AsSpan(i, Math.Min(len, options.Length - i)).ToArray());
            i += len;
        }
        return r.ToArray();
    }

    // ---- assembly ----

    static byte ProtocolOf(IReadOnlyList<Layer> rest) => rest.Count == 0 ? ProtoNoNext : rest[0] switch
    {
        TcpLayer => ProtoTcp,
        UdpLayer => ProtoUdp,
        IcmpLayer { V6: false } => ProtoIcmp,
        IcmpLayer { V6: true } => ProtoIcmpv6,
        ExtLayer e => e.Kind,
        Ipv4Layer => ProtoIpip,
        Ipv6Layer => ProtoIpv6,
        _ => throw new InvalidOperationException($"cannot infer the IP protocol of {rest[0].GetType().Name}; pass protocol:"),
    };

    static ushort EtherTypeOf(Layer next) => next switch
    {
        VlanLayer v => v.Tpid,
        ArpLayer => EtherTypeArp,
        Ipv4Layer => EtherTypeIpv4,
        Ipv6Layer => EtherTypeIpv6,
        _ => throw new InvalidOperationException($"cannot infer an EtherType for {next.GetType().Name}"),
    };

    /// <summary>Builds from the innermost layer outwards, so each header knows its payload.</summary>
    static byte[] BuildFrom(IReadOnlyList<Layer> layers, bool bad, int padTo, ushort etherType = 0)
    {
        byte[] payload = [];
        bool corrupted = false;
        // The nearest enclosing IP addresses, for pseudo-headers.
        (IPAddress src, IPAddress dst)? IpAbove(int i)
        {
            for (int j = i - 1; j >= 0; j--)
                if (layers[j] is Ipv4Layer a) return (a.Src, a.Dst);
                else if (layers[j] is Ipv6Layer b) return (b.Src, b.Dst);
            return null;
        }
        int lastChecksummed = -1;
        for (int i = layers.Count - 1; i >= 0; i--)
            if (layers[i] is TcpLayer or UdpLayer or IcmpLayer or Ipv4Layer) { lastChecksummed = i; break; }

        for (int i = layers.Count - 1; i >= 0; i--)
        {
            var next = i + 1 < layers.Count ? layers[i + 1] : null;
            var rest = layers.Skip(i + 1).ToList();
            bool corrupt = bad && i == lastChecksummed && !corrupted;
            switch (layers[i])
            {
                case RawLayer r:
                    payload = [.. r.Bytes, .. payload];
                    break;
                case TcpLayer t:
                {
                    var opts = Pad(t.Options, 4, 0);
                    var h = new byte[20 + opts.Length];
                    BinaryPrimitives.WriteUInt16BigEndian(h, t.Sp);
                    BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), t.Dp);
                    BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(4), t.Seq);
                    BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(8), t.Ack);
                    h[12] = (byte)((h.Length / 4) << 4);
                    h[13] = (byte)t.Flags;
                    BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(14), t.Window);
                    BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(18), t.Urgent);
                    opts.CopyTo(h, 20);
                    payload = [.. h, .. payload];
                    SetL4Checksum(payload, 16, ProtoTcp, IpAbove(i) ?? throw new InvalidOperationException("TCP needs an IP layer"), corrupt, zeroMeansFfff: false);
                    break;
                }
                case UdpLayer u:
                {
                    var h = new byte[8];
                    BinaryPrimitives.WriteUInt16BigEndian(h, u.Sp);
                    BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), u.Dp);
                    BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(4), (ushort)(8 + payload.Length));
                    payload = [.. h, .. payload];
                    // A computed 0 is sent as 0xFFFF: 0 means "no checksum" for UDP.
                    SetL4Checksum(payload, 6, ProtoUdp, IpAbove(i) ?? throw new InvalidOperationException("UDP needs an IP layer"), corrupt, zeroMeansFfff: true);
                    break;
                }
                case IcmpLayer c:
                {
                    var h = new byte[8];
                    h[0] = c.Type; h[1] = c.Code;
                    BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(4), c.Rest);
                    payload = [.. h, .. payload];
                    if (c.V6)
                        SetL4Checksum(payload, 2, ProtoIcmpv6, IpAbove(i) ?? throw new InvalidOperationException("ICMPv6 needs an IPv6 layer"), corrupt, false);
                    else
                    {
                        ushort sum = Checksum.Fold(Checksum.Sum(payload));
                        if (corrupt) sum ^= 0x5a5a;
                        BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(2), sum);
                    }
                    break;
                }
                case ExtLayer e:
                    payload = [.. ExtBytes(e, rest.Count == 0 ? ProtoNoNext : ProtocolOf(rest)), .. payload];
                    break;
                case Ipv4Layer v4:
                {
                    byte proto = v4.Protocol ?? ProtocolOf(rest);
                    var h = Ipv4Header(v4, proto, payload.Length, 0, false);
                    if (corrupt) h[11] ^= 0x5a;
                    payload = [.. h, .. payload];
                    break;
                }
                case Ipv6Layer v6:
                    payload = [.. Ipv6Header(v6, ProtocolOf(rest), payload.Length), .. payload];
                    break;
                case ArpLayer a:
                {
                    var h = new byte[28];
                    BinaryPrimitives.WriteUInt16BigEndian(h, 1);        // Ethernet
                    BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), EtherTypeIpv4);
                    h[4] = 6; h[5] = 4;
                    BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(6), a.Op);
                    a.SenderMac.CopyTo(h, 8); a.SenderIp.GetAddressBytes().CopyTo(h, 14);
                    a.TargetMac.CopyTo(h, 18); a.TargetIp.GetAddressBytes().CopyTo(h, 24);
                    payload = [.. h, .. payload];
                    break;
                }
                case VlanLayer v:
                {
                    var h = new byte[4];
                    BinaryPrimitives.WriteUInt16BigEndian(h, (ushort)((v.Pcp << 13) | (v.Vid & 0xfff)));
                    BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), next is null or RawLayer ? etherType : EtherTypeOf(next));
                    payload = [.. h, .. payload];
                    break;
                }
                case EthLayer eth:
                {
                    ushort et = next is null || next is RawLayer ? etherType : EtherTypeOf(next);
                    if (et == 0) throw new InvalidOperationException("no EtherType for an Ethernet header followed by raw bytes");
                    var h = new byte[14];
                    eth.Dst.CopyTo(h, 0); eth.Src.CopyTo(h, 6);
                    BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(12), et);
                    payload = [.. h, .. payload];
                    break;
                }
            }
            if (corrupt) corrupted = true;
        }
        if (payload.Length < padTo) Array.Resize(ref payload, padTo);
        return payload;
    }

    static byte[] Ipv4Header(Ipv4Layer v4, byte proto, int payloadLength, ushort offset8, bool more)
    {
        var opts = Pad(v4.Options, 4, 0);
        if (opts.Length > 40) throw new ArgumentException("IPv4 options exceed 40 bytes");
        var h = new byte[20 + opts.Length];
        h[0] = (byte)(0x40 | (h.Length / 4));
        h[1] = v4.Tos;
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), (ushort)(h.Length + payloadLength));
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(4), v4.Id);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(6), (ushort)((v4.DontFragment ? 0x4000 : 0) | (more ? 0x2000 : 0) | offset8));
        h[8] = v4.Ttl; h[9] = proto;
        v4.Src.GetAddressBytes().CopyTo(h, 12);
        v4.Dst.GetAddressBytes().CopyTo(h, 16);
        opts.CopyTo(h, 20);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(10), Checksum.Fold(Checksum.Sum(h)));
        return h;
    }

    static byte[] Ipv6Header(Ipv6Layer v6, byte next, int payloadLength)
    {
        var h = new byte[40];
        BinaryPrimitives.WriteUInt32BigEndian(h, (6u << 28) | ((uint)v6.TrafficClass << 20) | (v6.FlowLabel & 0xfffff));
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(4), (ushort)payloadLength);
        h[6] = next; h[7] = v6.HopLimit;
        v6.Src.GetAddressBytes().CopyTo(h, 8);
        v6.Dst.GetAddressBytes().CopyTo(h, 24);
        return h;
    }

    static byte[] ExtBytes(ExtLayer e, byte next)
    {
        if (e.Kind == ProtoFragment) return [next, 0, .. e.Body];
        byte[] body;
        if (e.Kind is ProtoHopByHop or ProtoDestOpts)
        {
            // TLV options padded to 8n-2 bytes with Pad1/PadN so the header is a multiple of 8.
            int need = (8 - (e.Body.Length + 2) % 8) % 8;
            body = need switch { 0 => e.Body, 1 => [.. e.Body, 0], _ => [.. e.Body, 1, (byte)(need - 2), .. new byte[need - 2]] };
        }
        else body = Pad(e.Body, 8, 2);
        return [next, (byte)((body.Length + 2) / 8 - 1), .. body];
    }

    /// <summary>Zero-pads so that (bytes + extra) is a multiple of align.</summary>
    static byte[] Pad(byte[] b, int align, int extra)
    {
        int n = (align - (b.Length + extra) % align) % align;
        return n == 0 ? b : [.. b, .. new byte[n]];
    }

    static void SetL4Checksum(byte[] segment, int at, byte proto, (IPAddress src, IPAddress dst) ip, bool corrupt, bool zeroMeansFfff)
    {
        ulong sum = Checksum.Sum(ip.src.GetAddressBytes()) + Checksum.Sum(ip.dst.GetAddressBytes()) + proto + (ulong)segment.Length;
        sum += Checksum.Sum(segment);
        ushort c = Checksum.Fold(sum);
        if (c == 0 && zeroMeansFfff) c = 0xffff;
        if (corrupt) c ^= 0x5a5a;
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(at), c);
    }
}

/// <summary>RFC 1071 Internet checksum, written plainly (no shortcuts shared with the appliance).</summary>
public static class Checksum
{
    public static ulong Sum(ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += (ulong)((data[i] << 8) | data[i + 1]);
        if (i < data.Length) sum += (ulong)(data[i] << 8);
        return sum;
    }

    public static ushort Fold(ulong sum)
    {
        while (sum >> 16 != 0) sum = (sum & 0xffff) + (sum >> 16);
        return (ushort)~sum;
    }

    /// <summary>True when the one's-complement sum of data including its checksum field is 0xFFFF.</summary>
    public static bool Verify(ReadOnlySpan<byte> data) => Fold(Sum(data)) == 0;
}

/// <summary>TCP option encoders (raw bytes for FrameBuilder.Tcp(options: ...)).</summary>
public static class TcpOptions
{
    public static byte[] Mss(ushort mss) => [2, 4, (byte)(mss >> 8), (byte)mss];
    public static byte[] WindowScale(byte shift) => [1, 3, 3, shift]; // NOP + WS keeps 4-byte alignment
    public static byte[] SackPermitted() => [1, 1, 4, 2];
    public static byte[] Timestamps(uint val, uint echo)
    {
        var b = new byte[12];
        b[0] = 1; b[1] = 1; b[2] = 8; b[3] = 10;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), val);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), echo);
        return b;
    }
    /// <summary>MP_CAPABLE v1 as in a SYN (no key) or with the sender's key (SYN/ACK, ACK with both keys: pass both).</summary>
    public static byte[] MpCapable(ulong? senderKey = null, ulong? receiverKey = null, byte flags = 0x81)
    {
        var list = new List<byte> { 30, 0, 0x01, flags }; // subtype 0, version 1
        if (senderKey is { } s) { var k = new byte[8]; BinaryPrimitives.WriteUInt64BigEndian(k, s); list.AddRange(k); }
        if (receiverKey is { } r) { var k = new byte[8]; BinaryPrimitives.WriteUInt64BigEndian(k, r); list.AddRange(k); }
        list[1] = (byte)list.Count;
        return list.ToArray();
    }
    /// <summary>MP_JOIN as in a SYN: receiver's token, sender's random nonce.</summary>
    public static byte[] MpJoinSyn(uint token, uint nonce, byte addressId = 1, bool backup = false)
    {
        var b = new byte[12];
        b[0] = 30; b[1] = 12; b[2] = (byte)(0x10 | (backup ? 1 : 0)); b[3] = addressId;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), token);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), nonce);
        return b;
    }
}
