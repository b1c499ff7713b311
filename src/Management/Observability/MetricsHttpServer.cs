using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Switchyard.Management.Observability;

/// <summary>An HTTP response: status, content type and body (UTF-8).</summary>
public readonly record struct HttpReply(int Status, string ContentType, string Body);

/// <summary>
/// A deliberately small HTTP/1.1 responder for the metrics endpoint: GET (and HEAD) only, one request
/// per connection (every reply says Connection: close), no request body, no chunking. It is built to
/// survive whatever reaches it: a request head over <see cref="MaxHeadBytes"/> gets 431, one that does
/// not arrive within <see cref="HeadTimeout"/> is dropped (slow clients cannot pin it), a client that does
/// not read its reply within <see cref="SendTimeout"/> is dropped, connections beyond the limit are closed
/// at once, a line that is not "METHOD TARGET HTTP/1.x" gets 400, and an exception in the handler gets
/// 500. Nothing here can throw into the host: every connection's failure ends that connection only.
/// Runs on thread-pool threads, which the host keeps off the worker cores.
/// </summary>
public sealed class MetricsHttpServer : IDisposable
{
    public const int MaxHeadBytes = 8192;
    public static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(10);

    readonly Socket _listener;
    readonly Func<string, HttpReply> _handler;
    readonly int _maxConnections;
    readonly CancellationTokenSource _stop = new();
    int _active;
    long _refused;
    Task? _acceptLoop;

    /// <summary>The bound endpoint (the real port when 0 was asked for).</summary>
    public IPEndPoint Endpoint { get; }
    /// <summary>Connections closed at once because <c>maxConnections</c> were being served.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Binds and listens (throws SocketException when the address is taken or not ours).
    /// <paramref name="handler"/> gets the request path (without the query) and returns the reply.</summary>
    public MetricsHttpServer(IPEndPoint endpoint, int maxConnections, Func<string, HttpReply> handler)
    {
        _handler = handler;
        _maxConnections = maxConnections;
        _listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // Plain SO_REUSEADDR (SOL_SOCKET 1, option 2 on Linux), so a restart binds again although the
            // server's closed connections sit in TIME_WAIT. Not SocketOptionName.ReuseAddress: on Linux .NET
            // also sets SO_REUSEPORT with it, and a second appliance could then bind the same port.
            if (OperatingSystem.IsLinux()) _listener.SetRawSocketOption(1, 2, BitConverter.GetBytes(1));
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6) _listener.DualMode = false;
            _listener.Bind(endpoint);
            _listener.Listen(128);
        }
        catch { _listener.Dispose(); throw; }
        Endpoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    public void Start() => _acceptLoop ??= Task.Run(AcceptLoop);

    async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { await Task.Delay(10).ConfigureAwait(false); continue; } // e.g. EMFILE: try again shortly
            if (Interlocked.Increment(ref _active) > _maxConnections)
            {
                Interlocked.Decrement(ref _active);
                Interlocked.Increment(ref _refused);
                try { client.Dispose(); } catch (SocketException) { }
                continue;
            }
            _ = Task.Run(() => Serve(client));
        }
    }

    async Task Serve(Socket client)
    {
        try
        {
            client.NoDelay = true;
            var (status, head) = await ReadHead(client).ConfigureAwait(false);
            if (status == 0) return; // timed out or the client went away: nothing to answer
            HttpReply reply;
            bool headOnly = false;
            if (status != 200) reply = Plain(status, StatusText(status));
            else reply = Respond(head!, out headOnly);
            await Send(client, reply, headOnly).ConfigureAwait(false);
            await LingeringClose(client).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or IOException) { }
        finally
        {
            try { client.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
            client.Dispose();
            Interlocked.Decrement(ref _active);
        }
    }

    HttpReply Respond(string head, out bool headOnly)
    {
        headOnly = false;
        int eol = head.IndexOf("\r\n", StringComparison.Ordinal);
        string line = eol < 0 ? head : head[..eol];
        string[] parts = line.Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal) || parts[1].Length == 0)
            return Plain(400, "Bad Request: expected \"GET /metrics HTTP/1.1\"");
        string method = parts[0], target = parts[1];
        if (method != "GET" && method != "HEAD")
            return Plain(405, "Method Not Allowed: GET or HEAD");
        headOnly = method == "HEAD";
        int q = target.IndexOf('?');
        string path = q >= 0 ? target[..q] : target;
        try { return _handler(path); }
        catch (Exception e) { return Plain(500, "Internal Server Error: " + e.Message); }
    }

    static HttpReply Plain(int status, string text) => new(status, "text/plain; charset=utf-8", text + "\n");

    /// <summary>Reads up to the blank line. Returns (200, head), (400/431, null) for a bad head, or (0, null)
    /// when the client closed or was too slow.</summary>
    static async Task<(int, string?)> ReadHead(Socket client)
    {
        var buf = new byte[MaxHeadBytes];
        int filled = 0;
        using var timeout = new CancellationTokenSource(HeadTimeout);
        while (true)
        {
            if (filled == buf.Length) return (431, null);
            int n;
            try { n = await client.ReceiveAsync(buf.AsMemory(filled), SocketFlags.None, timeout.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return (0, null); }
            if (n == 0) return (0, null);
            int scanFrom = Math.Max(0, filled - 3);
            filled += n;
            int end = buf.AsSpan(scanFrom, filled - scanFrom).IndexOf("\r\n\r\n"u8);
            int endLf = buf.AsSpan(scanFrom, filled - scanFrom).IndexOf("\n\n"u8);
            if (end >= 0 || endLf >= 0)
            {
                int stop = scanFrom + (end >= 0 ? end : endLf);
                var span = buf.AsSpan(0, stop);
                // Only printable ASCII, tabs and line breaks in a head we answer.
                foreach (byte b in span) if (b is (< 0x20 and not (byte)'\r' and not (byte)'\n' and not (byte)'\t') or >= 0x7F) return (400, null);
                return (200, Encoding.ASCII.GetString(span));
            }
        }
    }

    static async Task Send(Socket client, HttpReply reply, bool headOnly)
    {
        byte[] body = Encoding.UTF8.GetBytes(reply.Body);
        string head = $"HTTP/1.1 {reply.Status} {StatusText(reply.Status)}\r\nContent-Type: {reply.ContentType}\r\n" +
                      $"Content-Length: {body.Length}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n";
        using var timeout = new CancellationTokenSource(SendTimeout);
        byte[] h = Encoding.ASCII.GetBytes(head);
        await SendAll(client, h, timeout.Token).ConfigureAwait(false);
        if (!headOnly) await SendAll(client, body, timeout.Token).ConfigureAwait(false);
    }

    /// <summary>Half-closes and reads what the client still sends (a request body, the rest of an oversized
    /// head) for at most a second: closing a socket with unread data makes Linux send a RST, which can
    /// destroy the reply before the client has read it.</summary>
    static async Task LingeringClose(Socket client)
    {
        client.Shutdown(SocketShutdown.Send);
        var sink = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        for (int total = 0; total < 1 << 20;)
        {
            int n;
            try { n = await client.ReceiveAsync(sink, SocketFlags.None, timeout.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            if (n == 0) return;
            total += n;
        }
    }

    static async Task SendAll(Socket client, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (!data.IsEmpty)
        {
            int n = await client.SendAsync(data, SocketFlags.None, ct).ConfigureAwait(false);
            data = data[n..];
        }
    }

    static string StatusText(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Error",
    };

    public void Dispose()
    {
        _stop.Cancel();
        try { _listener.Dispose(); } catch (SocketException) { }
        try { _acceptLoop?.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
        _stop.Dispose();
    }
}
