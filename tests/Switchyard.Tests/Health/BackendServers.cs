using System.Net;
using System.Net.Sockets;
using System.Text;
using Switchyard.Management.Health;

namespace Switchyard.Tests.Health;

/// <summary>
/// A TCP server inside a network namespace, run by the test process itself (its listening socket is created in the
/// namespace with <see cref="NetworkNamespace"/>): every accepted connection goes to the handler. Dispose closes the
/// listener, so a later connect is refused.
/// </summary>
sealed class NsTcpServer : IDisposable
{
    readonly Socket _listener;
    readonly CancellationTokenSource _stop = new();
    readonly List<Socket> _accepted = new();
    public int Accepted { get { lock (_accepted) return _accepted.Count; } }

    public NsTcpServer(string ns, IPAddress bind, int port, Func<Socket, CancellationToken, Task> handler)
    {
        _listener = NetworkNamespace.Sockets(ns)(bind.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        if (bind.Equals(IPAddress.IPv6Any)) _listener.DualMode = true;
        _listener.Bind(new IPEndPoint(bind, port));
        _listener.Listen(64);
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket s;
                try { s = await _listener.AcceptAsync(_stop.Token); }
                catch (Exception) { return; }
                lock (_accepted) _accepted.Add(s);
                _ = Task.Run(async () =>
                {
                    try { await handler(s, _stop.Token); }
                    catch (Exception) { }
                });
            }
        });
    }

    /// <summary>Answers each connection with these bytes (after reading the request head) and closes it.</summary>
    public static Func<Socket, CancellationToken, Task> Respond(string response) => async (s, ct) =>
    {
        var buf = new byte[4096];
        int have = 0;
        while (have < buf.Length && !Encoding.ASCII.GetString(buf, 0, have).Contains("\r\n\r\n"))
        {
            int n = await s.ReceiveAsync(buf.AsMemory(have), SocketFlags.None, ct);
            if (n == 0) break;
            have += n;
        }
        await s.SendAsync(Encoding.ASCII.GetBytes(response), SocketFlags.None, ct);
        s.Shutdown(SocketShutdown.Send);
        await Task.Delay(200, ct);
        s.Dispose();
    };

    /// <summary>Accepts and then never says anything.</summary>
    public static readonly Func<Socket, CancellationToken, Task> Silent = (_, ct) => Task.Delay(Timeout.Infinite, ct);

    /// <summary>Reads the request head, then closes without a word: the client sees FIN (every byte it sent was read).</summary>
    public static readonly Func<Socket, CancellationToken, Task> CloseAfterRequest = async (s, ct) =>
    {
        await ReadRequestHead(s, ct);
        s.Shutdown(SocketShutdown.Both);
        s.Dispose();
    };

    /// <summary>Reads the request head, then aborts with SO_LINGER 0: the client sees RST.</summary>
    public static readonly Func<Socket, CancellationToken, Task> ResetAfterRequest = async (s, ct) =>
    {
        await ReadRequestHead(s, ct);
        s.LingerState = new LingerOption(true, 0);
        s.Dispose();
    };

    static async Task ReadRequestHead(Socket s, CancellationToken ct)
    {
        var buf = new byte[4096];
        int have = 0;
        while (have < buf.Length && buf.AsSpan(0, have).IndexOf("\r\n\r\n"u8) < 0)
        {
            int n = await s.ReceiveAsync(buf.AsMemory(have), SocketFlags.None, ct);
            if (n == 0) return;
            have += n;
        }
    }

    /// <summary>Accepts and closes at once (for connect-only probes: whether the client sees FIN or RST afterwards
    /// depends on whether it had sent anything before the close).</summary>
    public static readonly Func<Socket, CancellationToken, Task> Close = (s, _) => { s.Dispose(); return Task.CompletedTask; };

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        lock (_accepted) foreach (var s in _accepted) s.Dispose();
    }
}
