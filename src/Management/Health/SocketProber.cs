using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Switchyard.Dataplane.Control;

namespace Switchyard.Management.Health;

/// <summary>Creates a socket (the default: in the caller's network namespace; see <see cref="NetworkNamespace"/>).</summary>
public delegate Socket SocketFactory(AddressFamily family, SocketType type, ProtocolType protocol);

/// <summary>
/// The real probes, on plain .NET sockets and async I/O (no thread per backend):
/// <list type="bullet">
/// <item>tcp: connect to backend:port; success when the handshake completes, then closed with FIN.</item>
/// <item>http: connect, send one HTTP/1.1 GET (Connection: close), read the status line (it must arrive within
///   <see cref="MaxStatusLineBytes"/>); success when its code equals ExpectStatus.</item>
/// <item>encap: a TCP SYN from the probe source to VIP:port, encapsulated like data (IPIP/GRE through a raw IP socket,
///   GUE as a UDP datagram to the GUE port) and sent to the backend address; success when the backend's SYN-ACK comes
///   back directly (DSR) from VIP:port, matched by source port and ISN; then an encapsulated RST closes it.</item>
/// </list>
/// Every probe ends within its TimeoutMs ("timeout N ms").
/// </summary>
public sealed class SocketProber : IHealthProber
{
    public const int MaxStatusLineBytes = 4096;
    readonly SocketFactory _sockets;
    readonly object _lock = new();
    readonly Dictionary<AddressFamily, SynAckListener> _listeners = new();
    bool _disposed;

    public SocketProber(SocketFactory? sockets = null) =>
        _sockets = sockets ?? NetworkNamespace.CreateSocket;

    public async Task<ProbeOutcome> ProbeAsync(ProbeSpec spec, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(spec.TimeoutMs);
        try
        {
            return spec.Type switch
            {
                "tcp" => await TcpAsync(spec, timeout.Token),
                "http" => await HttpAsync(spec, timeout.Token),
                "encap" => await EncapAsync(spec, timeout.Token),
                _ => ProbeOutcome.Fail($"unknown check type '{spec.Type}'"),
            };
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return ProbeOutcome.Fail($"timeout {spec.TimeoutMs} ms");
        }
        catch (SocketException e)
        {
            return ProbeOutcome.Fail(Describe(e));
        }
        catch (IOException e) when (e.InnerException is SocketException se)
        {
            return ProbeOutcome.Fail(Describe(se));
        }
    }

    public static string Describe(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => "connect refused",
        SocketError.ConnectionReset => "connection reset",
        SocketError.HostUnreachable => "host unreachable",
        SocketError.NetworkUnreachable => "network unreachable",
        SocketError.TimedOut => "timed out (kernel)",
        SocketError.AddressNotAvailable => "source address not available",
        SocketError.AccessDenied => "permission denied",
        _ => $"{e.SocketErrorCode}: {e.Message}",
    };

    Socket Connectable(ProbeSpec spec, SocketType type, ProtocolType proto)
    {
        var s = _sockets(spec.Backend.AddressFamily, type, proto);
        try
        {
            if (spec.Source is { } src && src.AddressFamily == spec.Backend.AddressFamily) s.Bind(new IPEndPoint(src, 0));
            return s;
        }
        catch { s.Dispose(); throw; }
    }

    async Task<ProbeOutcome> TcpAsync(ProbeSpec spec, CancellationToken ct)
    {
        using var s = Connectable(spec, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(new IPEndPoint(spec.Backend, spec.Port), ct);
        return ProbeOutcome.Ok("connected");
    }

    async Task<ProbeOutcome> HttpAsync(ProbeSpec spec, CancellationToken ct)
    {
        using var s = Connectable(spec, SocketType.Stream, ProtocolType.Tcp);
        var ep = new IPEndPoint(spec.Backend, spec.Port);
        await s.ConnectAsync(ep, ct);
        string host = spec.Host ?? (spec.Port == 80 ? HostLiteral(spec.Backend) : $"{HostLiteral(spec.Backend)}:{spec.Port}");
        var request = Encoding.ASCII.GetBytes(
            $"GET {spec.Path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: switchyard-health\r\nAccept: */*\r\nConnection: close\r\n\r\n");
        await s.SendAsync(request, SocketFlags.None, ct);
        var buf = new byte[MaxStatusLineBytes];
        int have = 0;
        while (true)
        {
            int eol = buf.AsSpan(0, have).IndexOf((byte)'\n');
            if (eol >= 0) return ParseStatusLine(buf.AsSpan(0, eol), spec.ExpectStatus);
            if (have == buf.Length) return ProbeOutcome.Fail($"no HTTP status line in the first {MaxStatusLineBytes} bytes");
            int n = await s.ReceiveAsync(buf.AsMemory(have), SocketFlags.None, ct);
            if (n == 0)
                return have == 0 ? ProbeOutcome.Fail("connection closed without a response")
                                 : ProbeOutcome.Fail($"connection closed inside the status line ('{Printable(buf.AsSpan(0, have))}')");
            have += n;
        }
    }

    static string HostLiteral(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString();

    /// <summary>"HTTP/1.1 200 OK" (reason phrase optional): success when the code is the expected one.</summary>
    public static ProbeOutcome ParseStatusLine(ReadOnlySpan<byte> line, int expect)
    {
        if (line.Length > 0 && line[^1] == '\r') line = line[..^1];
        // HTTP-version SP 3DIGIT [SP reason]
        if (line.Length < 12 || !line.StartsWith("HTTP/1."u8) || !char.IsAsciiDigit((char)line[7]) || line[8] != ' '
            || !char.IsAsciiDigit((char)line[9]) || !char.IsAsciiDigit((char)line[10]) || !char.IsAsciiDigit((char)line[11])
            || (line.Length > 12 && line[12] != ' '))
            return ProbeOutcome.Fail($"not an HTTP response: '{Printable(line)}'");
        int code = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        if (code < 100) return ProbeOutcome.Fail($"not an HTTP response: '{Printable(line)}'");
        return code == expect ? ProbeOutcome.Ok($"HTTP {code}") : ProbeOutcome.Fail($"HTTP {code}");
    }

    static string Printable(ReadOnlySpan<byte> b)
    {
        var sb = new StringBuilder();
        foreach (var c in b[..Math.Min(b.Length, 40)]) sb.Append(c is >= 0x20 and < 0x7f ? (char)c : '.');
        if (b.Length > 40) sb.Append("...");
        return sb.ToString();
    }

    // ---- encap

    async Task<ProbeOutcome> EncapAsync(ProbeSpec spec, CancellationToken ct)
    {
        var family = spec.Backend.AddressFamily;
        bool v6 = family == AddressFamily.InterNetworkV6;
        var vip = spec.Vip ?? throw new InvalidOperationException("encap probe without a VIP");
        var source = spec.Source is { } s0 && s0.AddressFamily == family ? s0 : RouteSource(spec.Backend);

        // Reserve the probe's source port: no other probe, and no connection of this host, can use it meanwhile.
        using var reservation = _sockets(family, SocketType.Stream, ProtocolType.Tcp);
        reservation.Bind(new IPEndPoint(source, 0));
        ushort port = (ushort)((IPEndPoint)reservation.LocalEndPoint!).Port;
        uint isn = (uint)Random.Shared.NextInt64(1, uint.MaxValue);

        var listener = Listener(family);
        var reply = listener.Expect(port, vip, (ushort)spec.Port, isn);
        try
        {
            var syn = ProbePackets.Tcp(source, vip, port, (ushort)spec.Port, isn, 0, ProbePackets.TcpSyn, mss: (ushort)(v6 ? 1220 : 1240));
            await SendEncapsulatedAsync(spec, source, syn, ct);
            var r = await reply.WaitAsync(ct);
            if ((r.Flags & ProbePackets.TcpRst) != 0) return ProbeOutcome.Fail($"RST from {new IPEndPoint(vip, spec.Port)} (nothing listens)");
            // Close the half-open connection on the backend, through the tunnel like the SYN.
            var rst = ProbePackets.Tcp(source, vip, port, (ushort)spec.Port, isn + 1, 0, ProbePackets.TcpRst, window: 0);
            await SendEncapsulatedAsync(spec, source, rst, ct);
            return ProbeOutcome.Ok("SYN-ACK");
        }
        finally { listener.Forget(port); }
    }

    IPAddress RouteSource(IPAddress backend)
    {
        using var u = _sockets(backend.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        u.Connect(new IPEndPoint(backend, 9));   // no packet is sent: this only asks the routing table
        return ((IPEndPoint)u.LocalEndPoint!).Address;
    }

    async Task SendEncapsulatedAsync(ProbeSpec spec, IPAddress source, byte[] inner, CancellationToken ct)
    {
        var family = spec.Backend.AddressFamily;
        bool v6 = family == AddressFamily.InterNetworkV6;
        if (spec.Mode == ForwardingMode.Gue)
        {
            using var u = _sockets(family, SocketType.Dgram, ProtocolType.Udp);
            u.Bind(new IPEndPoint(source, 0));
            // Like the dataplane: no UDP checksum over IPv4 (SO_NO_CHECK), a real one over IPv6 (the kernel's).
            if (!v6) u.SetRawSocketOption(1 /* SOL_SOCKET */, 11 /* SO_NO_CHECK */, BitConverter.GetBytes(1));
            await u.SendToAsync(inner, SocketFlags.None, new IPEndPoint(spec.Backend, spec.GuePort), ct);
            return;
        }
        var proto = spec.Mode switch
        {
            ForwardingMode.Gre => (ProtocolType)47,
            ForwardingMode.Ipip => v6 ? (ProtocolType)41 : (ProtocolType)4,
            _ => throw new InvalidOperationException($"encap probe on a {spec.Mode} pool"),
        };
        using var raw = _sockets(family, SocketType.Raw, proto);
        raw.Bind(new IPEndPoint(source, 0));
        await raw.SendToAsync(ProbePackets.TunnelPayload(spec.Mode, inner, v6), SocketFlags.None, new IPEndPoint(spec.Backend, 0), ct);
    }

    SynAckListener Listener(AddressFamily family)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_listeners.TryGetValue(family, out var l)) _listeners[family] = l = new SynAckListener(_sockets(family, SocketType.Raw, ProtocolType.Tcp));
            return l;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var l in _listeners.Values) l.Dispose();
            _listeners.Clear();
        }
    }

    /// <summary>
    /// One raw TCP socket per family sees every TCP segment the host receives; replies to pending encap probes are
    /// picked out by destination port (reserved per probe), source VIP:port and acknowledgement number (ISN + 1),
    /// so concurrent probes, and unrelated traffic, never get each other's answers.
    /// </summary>
    sealed class SynAckListener : IDisposable
    {
        readonly Socket _raw;
        readonly bool _v4;
        readonly ConcurrentDictionary<ushort, Pending> _pending = new();
        readonly CancellationTokenSource _stop = new();

        sealed record Pending(IPAddress Vip, ushort VipPort, uint Isn, TaskCompletionSource<ProbePackets.TcpView> Reply);

        public SynAckListener(Socket raw)
        {
            _raw = raw;
            _v4 = raw.AddressFamily == AddressFamily.InterNetwork;
            _ = Task.Run(ReceiveLoop);
        }

        public Task<ProbePackets.TcpView> Expect(ushort localPort, IPAddress vip, ushort vipPort, uint isn)
        {
            var p = new Pending(vip, vipPort, isn, new TaskCompletionSource<ProbePackets.TcpView>(TaskCreationOptions.RunContinuationsAsynchronously));
            _pending[localPort] = p;
            return p.Reply.Task;
        }

        public void Forget(ushort localPort) => _pending.TryRemove(localPort, out _);

        async Task ReceiveLoop()
        {
            var buf = new byte[2048];
            EndPoint any = new IPEndPoint(_v4 ? IPAddress.Any : IPAddress.IPv6Any, 0);
            while (!_stop.IsCancellationRequested)
            {
                SocketReceiveFromResult r;
                try { r = await _raw.ReceiveFromAsync(buf, SocketFlags.None, any, _stop.Token); }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { return; }
                catch (SocketException) { await Task.Delay(10); continue; }   // transient (e.g. ENOBUFS); never spin
                if (!ProbePackets.TryParseTcp(buf.AsSpan(0, r.ReceivedBytes), _v4, out var tcp, out var v4src)) continue;
                if (!_pending.TryGetValue(tcp.DstPort, out var p)) continue;
                var from = v4src ?? ((IPEndPoint)r.RemoteEndPoint).Address;
                if (!from.Equals(p.Vip) || tcp.SrcPort != p.VipPort || tcp.Ack != p.Isn + 1) continue;
                bool synAck = (tcp.Flags & (ProbePackets.TcpSyn | ProbePackets.TcpAck)) == (ProbePackets.TcpSyn | ProbePackets.TcpAck);
                bool rst = (tcp.Flags & ProbePackets.TcpRst) != 0;
                if (synAck || rst) p.Reply.TrySetResult(tcp);
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _raw.Dispose();
        }
    }
}
