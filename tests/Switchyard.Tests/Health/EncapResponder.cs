using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Switchyard.Dataplane.Control;
using Switchyard.Management.Health;

namespace Switchyard.Tests.Health;

/// <summary>
/// Stands in for a decapsulating backend, which this kernel cannot be (no ipip/gre/fou modules): in the backend's
/// namespace it reads encapsulated IPv4 packets from a raw socket (protocol 4 for IPIP, 47 for GRE, 17 for GUE), keeps
/// every one (outer header included, for tshark), takes the inner TCP segment out, checks it, and answers a SYN the
/// way a DSR backend would: a SYN-ACK (or, when nothing "listens", a RST-ACK) from VIP:port straight to the inner
/// source, sent as a plain IPv4 packet through a raw socket, not encapsulated.
/// </summary>
sealed class EncapResponder : IDisposable
{
    readonly Socket _in;
    readonly Socket? _out;
    readonly ForwardingMode _mode;
    readonly int _guePort;
    readonly CancellationTokenSource _stop = new();
    readonly Task _loop;
    public volatile bool Listening = true;
    public volatile bool Silent;
    /// <summary>Answer with an acknowledgement number that is not the probe's ISN + 1 (a stray SYN-ACK).</summary>
    public volatile bool WrongAck;
    /// <summary>Every encapsulated packet received (outer IPv4 header first).</summary>
    public ConcurrentQueue<byte[]> Received { get; } = new();
    /// <summary>Inner TCP segments as (flags, source port, seq, checksum valid).</summary>
    public ConcurrentQueue<(byte Flags, ushort SrcPort, uint Seq, bool ChecksumOk)> Inner { get; } = new();
    public ConcurrentQueue<string> Problems { get; } = new();

    public EncapResponder(string ns, ForwardingMode mode, int guePort = 6080, bool ipv6 = false)
    {
        _mode = mode;
        _guePort = guePort;
        _ns = ns;
        var sockets = NetworkNamespace.Sockets(ns);
        if (ipv6)
        {
            // IPv6 raw sockets never deliver the IPv6 header, so the v6 responder reads whole frames (AF_PACKET, IPv6
            // EtherType only): the probe's bytes exactly as they arrived, Ethernet header included.
            _in = NetworkNamespace.Run(ns, () => PacketSocket(0xDD86 /* htons(ETH_P_IPV6) */));
            _out = null;
            _loop = Task.Run(LoopV6);
            return;
        }
        var proto = mode switch { ForwardingMode.Ipip => (ProtocolType)4, ForwardingMode.Gre => (ProtocolType)47, _ => ProtocolType.Udp };
        _in = sockets(AddressFamily.InterNetwork, SocketType.Raw, proto);
        _out = sockets(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Raw);   // IPPROTO_RAW: we write the IP header
        _loop = Task.Run(Loop);
    }

    readonly string _ns;

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    static extern int socket(int domain, int type, int protocol);

    static Socket PacketSocket(int protocol)
    {
        int fd = socket(17 /* AF_PACKET */, 3 /* SOCK_RAW */ | 0x80000 /* SOCK_CLOEXEC */, protocol);
        if (fd < 0) throw new SocketException(System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
        return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
    }

    /// <summary>IPv6: frames in, inner TCP out of IPv6-in-IPv6 (41), GRE (47) or GUE (UDP to the GUE port); the
    /// SYN-ACK leaves through a raw IPv6 TCP socket bound to the VIP (the kernel writes the IPv6 header).</summary>
    async Task LoopV6()
    {
        var buf = new byte[65536];
        while (!_stop.IsCancellationRequested)
        {
            int n;
            try { n = await _in.ReceiveAsync(buf, SocketFlags.None, _stop.Token); }
            catch (Exception) { return; }
            var frame = buf.AsSpan(0, n);
            if (n < 14 + 40 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != 0x86DD) continue;
            var ip = frame[14..];
            byte next = ip[6];
            var payload = ip[40..(40 + BinaryPrimitives.ReadUInt16BigEndian(ip[4..]))];
            if (_mode == ForwardingMode.Ipip && next == 41) { }
            else if (_mode == ForwardingMode.Gre && next == 47 && payload.Length >= 4 && BinaryPrimitives.ReadUInt16BigEndian(payload[2..]) == 0x86DD) payload = payload[4..];
            else if (_mode == ForwardingMode.Gue && next == 17 && payload.Length >= 8 && BinaryPrimitives.ReadUInt16BigEndian(payload[2..]) == _guePort) payload = payload[8..];
            else continue;
            Received.Enqueue(frame.ToArray());
            if (payload.Length < 60 || payload[0] >> 4 != 6 || payload[6] != 6) { Problems.Enqueue("inner packet is not IPv6/TCP"); continue; }
            var src = new IPAddress(payload.Slice(8, 16));
            var dst = new IPAddress(payload.Slice(24, 16));
            var tcp = payload[40..(40 + BinaryPrimitives.ReadUInt16BigEndian(payload[4..]))];
            bool sumOk = ProbePackets.TcpChecksum(src, dst, tcp) == 0;
            if (!ProbePackets.TryParseTcp(tcp, false, out var seg, out _)) continue;
            Inner.Enqueue((seg.Flags, seg.SrcPort, seg.Seq, sumOk));
            if (seg.Flags != ProbePackets.TcpSyn || Silent) continue;
            byte[] reply = Listening
                ? ProbePackets.Tcp(dst, src, seg.DstPort, seg.SrcPort, (uint)Random.Shared.Next(), WrongAck ? seg.Seq + 2 : seg.Seq + 1,
                    ProbePackets.TcpSyn | ProbePackets.TcpAck, mss: 1440)
                : ProbePackets.Tcp(dst, src, seg.DstPort, seg.SrcPort, 0, seg.Seq + 1, ProbePackets.TcpRst | ProbePackets.TcpAck, window: 0);
            try
            {
                using var o = NetworkNamespace.Sockets(_ns)(AddressFamily.InterNetworkV6, SocketType.Raw, ProtocolType.Tcp);
                o.Bind(new IPEndPoint(dst, 0));
                await o.SendToAsync(reply.AsMemory(40), SocketFlags.None, new IPEndPoint(src, 0));
            }
            catch (SocketException e) { Problems.Enqueue($"reply: {e.Message}"); }
        }
    }

    async Task Loop()
    {
        var buf = new byte[65536];
        while (!_stop.IsCancellationRequested)
        {
            int n;
            try { n = await _in.ReceiveAsync(buf, SocketFlags.None, _stop.Token); }
            catch (Exception) { return; }
            var pkt = buf.AsSpan(0, n);
            if (n < 20 || pkt[0] >> 4 != 4) continue;
            int ihl = (pkt[0] & 0xF) * 4;
            var payload = pkt[ihl..];
            if (_mode == ForwardingMode.Gue)
            {
                if (payload.Length < 8 || BinaryPrimitives.ReadUInt16BigEndian(payload[2..]) != _guePort) continue;   // other UDP
                payload = payload[8..];
            }
            else if (_mode == ForwardingMode.Gre)
            {
                if (payload.Length < 4 || BinaryPrimitives.ReadUInt16BigEndian(payload[2..]) != 0x0800) { Problems.Enqueue("GRE without IPv4 EtherType"); continue; }
                payload = payload[4..];
            }
            Received.Enqueue(pkt.ToArray());
            if (payload.Length < 40 || payload[0] >> 4 != 4 || payload[9] != 6) { Problems.Enqueue("inner packet is not IPv4/TCP"); continue; }
            int iihl = (payload[0] & 0xF) * 4;
            var src = new IPAddress(payload.Slice(12, 4));
            var dst = new IPAddress(payload.Slice(16, 4));
            var tcp = payload[iihl..BinaryPrimitives.ReadUInt16BigEndian(payload[2..])];
            bool sumOk = ProbePackets.TcpChecksum(src, dst, tcp) == 0;
            if (!ProbePackets.TryParseTcp(tcp, false, out var seg, out _)) continue;
            Inner.Enqueue((seg.Flags, seg.SrcPort, seg.Seq, sumOk));
            if (seg.Flags != ProbePackets.TcpSyn || Silent) continue;
            byte[] reply = Listening
                ? ProbePackets.Tcp(dst, src, seg.DstPort, seg.SrcPort, (uint)Random.Shared.Next(), WrongAck ? seg.Seq + 2 : seg.Seq + 1,
                    ProbePackets.TcpSyn | ProbePackets.TcpAck, mss: 1460)
                : ProbePackets.Tcp(dst, src, seg.DstPort, seg.SrcPort, 0, seg.Seq + 1, ProbePackets.TcpRst | ProbePackets.TcpAck, window: 0);
            try { await _out!.SendToAsync(reply, SocketFlags.None, new IPEndPoint(src, 0)); }
            catch (SocketException e) { Problems.Enqueue($"reply: {e.Message}"); }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _in.Dispose();
        _out?.Dispose();
        try { _loop.Wait(2000); } catch (AggregateException) { }
    }
}
