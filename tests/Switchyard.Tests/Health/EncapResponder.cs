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
    readonly Socket _in, _out;
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

    public EncapResponder(string ns, ForwardingMode mode, int guePort = 6080)
    {
        _mode = mode;
        _guePort = guePort;
        var sockets = NetworkNamespace.Sockets(ns);
        var proto = mode switch { ForwardingMode.Ipip => (ProtocolType)4, ForwardingMode.Gre => (ProtocolType)47, _ => ProtocolType.Udp };
        _in = sockets(AddressFamily.InterNetwork, SocketType.Raw, proto);
        _out = sockets(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Raw);   // IPPROTO_RAW: we write the IP header
        _loop = Task.Run(Loop);
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
            try { await _out.SendToAsync(reply, SocketFlags.None, new IPEndPoint(src, 0)); }
            catch (SocketException e) { Problems.Enqueue($"reply: {e.Message}"); }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _in.Dispose();
        _out.Dispose();
        try { _loop.Wait(2000); } catch (AggregateException) { }
    }
}
