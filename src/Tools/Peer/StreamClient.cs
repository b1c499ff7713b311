using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Switchyard.Peer;

/// <summary>
/// Long-lived connections for tests of live changes: each one streams pattern bytes (the same generator as the
/// client) at a steady rate to a server's --stream-port, which echoes them; the client checks every echoed byte
/// against the pattern as it arrives, so "verified" is a live, byte-exact proof that the connection still works
/// in both directions. The server's first line names the backend, so with --want the client keeps opening
/// connections until each named backend holds its count (surplus ones are closed at once).
/// While streaming it rewrites --status FILE (atomically) with every connection's state; on "stop" (a line on
/// stdin, stdin's end, SIGTERM or --duration-s) it stops sending, half-closes, waits for the rest of the echo and
/// the server's FIN, prints a JSON summary and exits 0 only if every kept connection ended cleanly.
/// </summary>
static class StreamClient
{
    public const string Usage = """

          switchyard-peer stream --target ADDR --port P [--connections N | --want NAME:K[,NAME:K...]] [--max-attempts A]
                                 [--chunk B] [--interval-ms I] [--status FILE] [--status-ms S] [--duration-s D]
                                 [--timeout-ms T] [--finish-timeout-ms F] [--seed S] [--mptcp [--expect-subflows K]
                                 [--subflow-wait-ms W]]
        stream: long-lived connections to a server's --stream-port; each sends B bytes (default 4096) every I ms
        (default 50) and verifies the echo byte by byte. --want keeps, per backend NAME, K connections (opening at most A,
        default 400); else the first N (default 1). Prints "READY {json}" once they all stream (with --mptcp: once each
        has K subflows or W ms passed), then runs until "stop" on stdin, stdin's end, SIGTERM or D seconds (D = 0:
        no limit). --status FILE is rewritten every S ms (default 200): per connection state, backend, bytes sent
        and verified, last progress, error, MPTCP subflows. Exit: 0 every kept connection ended cleanly (all bytes
        echoed, then the server's FIN), 1 one did not, 3 the wanted connections could not be opened.
        """;

    /// <summary>One long-lived connection. Counters are written by its own sender/receiver and read by the status
    /// writer: plain 64-bit fields read with Volatile/Interlocked, state and error under the lock.</summary>
    sealed class Conn
    {
        public required long Id { get; init; }
        public required Socket Socket { get; init; }
        public required string Backend { get; init; }
        public required string Local { get; init; }
        public required string Remote { get; init; }
        public readonly object Lock = new();
        public long Sent, Verified;
        public double LastVerifiedMs;
        public string State = "streaming";  // streaming, finishing, closed (clean end), broken, corrupt
        public string? Error;
        public double? FailedAtMs;
        public bool ReachedSubflows;
        public MptcpConnInfo? Info;

        public void Fail(string state, string error, double atMs)
        {
            lock (Lock)
            {
                if (State is "broken" or "corrupt" or "closed") return;
                State = state; Error = error; FailedAtMs = atMs;
            }
        }
    }

    public static int Run(Options o)
    {
        var target = o.Addr("--target");
        int port = (int)o.Long("--port", 0, 1, 65535);
        if (port == 0) throw new ArgumentException("--port is required");
        var want = ParseWant(o.Str("--want"));
        int connections = (int)o.Long("--connections", 1, 1, 10_000);
        int maxAttempts = (int)o.Long("--max-attempts", 400, 1, 100_000);
        int chunk = (int)o.Long("--chunk", 4096, 1, 1 << 20);
        int intervalMs = (int)o.Long("--interval-ms", 50, 0, 60_000);
        string? statusFile = o.Str("--status");
        int statusMs = (int)o.Long("--status-ms", 200, 10, 60_000);
        long durationS = o.Long("--duration-s", 0, 0, 86_400);
        int timeoutMs = (int)o.Long("--timeout-ms", 5000, 1, 600_000);
        int finishTimeoutMs = (int)o.Long("--finish-timeout-ms", 10_000, 1, 600_000);
        ulong seed = (ulong)o.Long("--seed", Random.Shared.NextInt64(1, long.MaxValue), 0, long.MaxValue);
        bool mptcp = o.Flag("--mptcp");
        int expectSubflows = (int)o.Long("--expect-subflows", 2, 1, 8);
        int subflowWaitMs = (int)o.Long("--subflow-wait-ms", 5000, 0, 600_000);

        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        if (durationS > 0) stop.CancelAfter(TimeSpan.FromSeconds(durationS));
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.Cancel(); });
        if (durationS == 0)
            _ = Task.Run(() =>
            {
                // A line "stop" or the end of stdin: the test (or a person) is done with these connections.
                try { while (Console.In.ReadLine() is { } line && line.Trim() != "stop") { } } catch (IOException) { }
                stop.Cancel();
            });

        // ---- open: until every wanted backend holds its count (or the first N) ----
        var kept = new List<Conn>();
        var keptPer = new Dictionary<string, int>();
        var seen = new Dictionary<string, int>();
        var openErrors = new Dictionary<string, int>();
        int attempts = 0;
        bool Satisfied() => want is null ? kept.Count >= connections : want.All(w => keptPer.GetValueOrDefault(w.Key) >= w.Value);
        while (!Satisfied() && attempts < maxAttempts && !stop.IsCancellationRequested)
        {
            long id = attempts++;
            var (socket, backend, error) = Open(target, port, mptcp, timeoutMs);
            if (socket is null) { openErrors[error!] = openErrors.GetValueOrDefault(error!) + 1; continue; }
            seen[backend!] = seen.GetValueOrDefault(backend!) + 1;
            bool keep = want is null || keptPer.GetValueOrDefault(backend!) < want.GetValueOrDefault(backend!);
            if (!keep)
            {
                // Surplus: close at once (our FIN; the server echoes nothing and closes too).
                try { socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { }
                socket.Dispose();
                continue;
            }
            keptPer[backend!] = keptPer.GetValueOrDefault(backend!) + 1;
            kept.Add(new Conn
            {
                Id = id, Socket = socket, Backend = backend!,
                Local = socket.LocalEndPoint?.ToString() ?? "?", Remote = socket.RemoteEndPoint?.ToString() ?? "?",
            });
        }
        if (!Satisfied())
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                error = "could not open the wanted connections", attempts, seen, kept = keptPer, openErrors,
            }));
            foreach (var c in kept) c.Socket.Dispose();
            return 3;
        }

        // ---- stream ----
        using var stopSending = new CancellationTokenSource();
        using var abort = new CancellationTokenSource(); // only for the finish timeout: receivers give up then
        var tasks = new List<Task>();
        foreach (var c in kept)
        {
            tasks.Add(Task.Run(() => Send(c, seed, chunk, intervalMs, clock, stopSending.Token)));
            tasks.Add(Task.Run(() => Receive(c, seed, clock, abort.Token)));
        }
        if (mptcp)
        {
            // The path manager opens the join once the connection is established; wait for it on every connection.
            var until = clock.ElapsedMilliseconds + subflowWaitMs;
            while (clock.ElapsedMilliseconds < until && !stop.IsCancellationRequested)
            {
                foreach (var c in kept)
                    if (!c.ReachedSubflows && Mptcp.Query(c.Socket) is { Fallback: false } q && q.Subflows.Count >= expectSubflows
                        && q.Subflows.All(sf => sf.State == 1))
                        c.ReachedSubflows = true;
                if (kept.All(c => c.ReachedSubflows)) break;
                Thread.Sleep(20);
            }
        }
        WriteStatus(statusFile, kept, clock, "streaming", mptcp);
        Console.WriteLine("READY " + JsonSerializer.Serialize(new
        {
            attempts, seen, kept = keptPer, openErrors,
            reachedSubflows = mptcp ? kept.Count(c => c.ReachedSubflows) : (int?)null,
        }));
        Console.Out.Flush();

        while (!stop.IsCancellationRequested)
        {
            try { Task.Delay(statusMs, stop.Token).Wait(); } catch (AggregateException) { }
            WriteStatus(statusFile, kept, clock, "streaming", mptcp);
        }

        // ---- finish: stop sending, half-close once the last chunk is out, wait for the rest of the echo and the FIN ----
        foreach (var c in kept) lock (c.Lock) if (c.State == "streaming") c.State = "finishing";
        stopSending.Cancel();
        abort.CancelAfter(finishTimeoutMs);
        try { Task.WaitAll(tasks.ToArray()); } catch (AggregateException) { }
        WriteStatus(statusFile, kept, clock, "finished", mptcp);
        int clean = kept.Count(c => c.State == "closed");
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            connections = kept.Count, clean,
            failed = kept.Where(c => c.State != "closed").Select(c => new { id = c.Id, backend = c.Backend, state = c.State, error = c.Error }).ToArray(),
            bytesSent = kept.Sum(c => Interlocked.Read(ref c.Sent)),
            bytesVerified = kept.Sum(c => Interlocked.Read(ref c.Verified)),
            elapsedMs = Math.Round(clock.Elapsed.TotalMilliseconds, 1),
        }));
        foreach (var c in kept) c.Socket.Dispose();
        return clean == kept.Count ? 0 : 1;
    }

    static Dictionary<string, int>? ParseWant(string? s)
    {
        if (s is null) return null;
        var d = new Dictionary<string, int>();
        foreach (var part in s.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = part.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(part[(colon + 1)..], out int k) || k < 1)
                throw new ArgumentException($"--want: '{part}' is not NAME:COUNT (COUNT >= 1)");
            d[part[..colon]] = k;
        }
        return d.Count > 0 ? d : throw new ArgumentException("--want names no backend");
    }

    /// <summary>Connects and reads the server's "ID\n" line (bounded by timeoutMs).</summary>
    static (Socket? Socket, string? Backend, string? Error) Open(IPAddress target, int port, bool mptcp, int timeoutMs)
    {
        Socket? s = null;
        string stage = "connect";
        try
        {
            s = mptcp ? Mptcp.NewStreamSocket(target.AddressFamily) : new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            s.NoDelay = true;
            using var cts = new CancellationTokenSource(timeoutMs);
            s.ConnectAsync(new IPEndPoint(target, port), cts.Token).AsTask().GetAwaiter().GetResult();
            stage = "hello";
            var line = new StringBuilder();
            var one = new byte[1];
            while (true)
            {
                int n = s.ReceiveAsync(one, SocketFlags.None, cts.Token).AsTask().GetAwaiter().GetResult();
                if (n == 0) throw new SocketException((int)SocketError.ConnectionReset);
                if (one[0] == (byte)'\n') break;
                if (line.Length > 200) throw new SocketException((int)SocketError.ProtocolNotSupported);
                line.Append((char)one[0]);
            }
            return (s, line.ToString(), null);
        }
        catch (OperationCanceledException)
        {
            s?.Dispose();
            return (null, null, $"{stage}: timeout after {timeoutMs} ms");
        }
        catch (SocketException e)
        {
            s?.Dispose();
            return (null, null, $"{stage}: {e.SocketErrorCode}");
        }
    }

    static async Task Send(Conn c, ulong seed, int chunk, int intervalMs, Stopwatch clock, CancellationToken stopSending)
    {
        var buf = new byte[chunk];
        try
        {
            while (!stopSending.IsCancellationRequested)
            {
                long off = Interlocked.Read(ref c.Sent);
                Pattern.Fill(buf, seed, c.Id, off);
                // Not cancelled by stopSending: a chunk is either all out or the connection failed.
                for (int sent = 0; sent < chunk;) sent += await c.Socket.SendAsync(buf.AsMemory(sent), SocketFlags.None);
                Interlocked.Add(ref c.Sent, chunk);
                if (intervalMs > 0)
                    try { await Task.Delay(intervalMs, stopSending); } catch (OperationCanceledException) { break; }
            }
            c.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            c.Fail("broken", $"send: {(e is SocketException se ? se.SocketErrorCode.ToString() : "disposed")}", clock.Elapsed.TotalMilliseconds);
        }
    }

    static async Task Receive(Conn c, ulong seed, Stopwatch clock, CancellationToken abort)
    {
        var buf = new byte[65536];
        var expected = new byte[65536];
        try
        {
            while (true)
            {
                int n = await c.Socket.ReceiveAsync(buf, SocketFlags.None, abort);
                long verified = Interlocked.Read(ref c.Verified);
                if (n == 0)
                {
                    // The server closes only after our FIN: anything else is a connection that ended under us.
                    bool finishing;
                    lock (c.Lock) finishing = c.State == "finishing";
                    if (finishing && verified == Interlocked.Read(ref c.Sent)) lock (c.Lock) c.State = "closed";
                    else c.Fail("broken", $"receive: end of stream after {verified} of {Interlocked.Read(ref c.Sent)} bytes", clock.Elapsed.TotalMilliseconds);
                    return;
                }
                Pattern.Fill(expected.AsSpan(0, n), seed, c.Id, verified);
                if (!buf.AsSpan(0, n).SequenceEqual(expected.AsSpan(0, n)))
                {
                    int at = 0;
                    while (buf[at] == expected[at]) at++;
                    c.Fail("corrupt", $"echo differs from what was sent at byte {verified + at}", clock.Elapsed.TotalMilliseconds);
                    return;
                }
                Interlocked.Add(ref c.Verified, n);
                Volatile.Write(ref c.LastVerifiedMs, clock.Elapsed.TotalMilliseconds);
            }
        }
        catch (OperationCanceledException)
        {
            c.Fail("broken", $"finish: echo incomplete after the finish timeout ({Interlocked.Read(ref c.Verified)} of {Interlocked.Read(ref c.Sent)} bytes)",
                clock.Elapsed.TotalMilliseconds);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            c.Fail("broken", $"receive: {(e is SocketException se ? se.SocketErrorCode.ToString() : "disposed")}", clock.Elapsed.TotalMilliseconds);
        }
    }

    static void WriteStatus(string? path, List<Conn> kept, Stopwatch clock, string phase, bool mptcp)
    {
        if (path is null) return;
        var list = new List<object>(kept.Count);
        foreach (var c in kept)
        {
            string state; string? error; double? failedAt;
            lock (c.Lock) { state = c.State; error = c.Error; failedAt = c.FailedAtMs; }
            MptcpConnInfo? info = null;
            if (mptcp && state is "streaming" or "finishing")
                try { info = Mptcp.Query(c.Socket); } catch (ObjectDisposedException) { }
            if (info is not null) c.Info = info;
            info = c.Info;
            list.Add(new
            {
                id = c.Id, backend = c.Backend, local = c.Local, remote = c.Remote, state, error,
                failedAtMs = failedAt is { } f ? Math.Round(f, 1) : (double?)null,
                sent = Interlocked.Read(ref c.Sent), verified = Interlocked.Read(ref c.Verified),
                lastVerifiedMs = Math.Round(Volatile.Read(ref c.LastVerifiedMs), 1),
                mptcp = info is null ? null : new
                {
                    fallback = info.Fallback, token = info.TokenHex, reachedSubflows = c.ReachedSubflows,
                    subflows = info.Subflows.Select(sf => new { local = sf.Local, remote = sf.Remote, state = sf.State, bytesAcked = sf.BytesAcked }).ToArray(),
                },
            });
        }
        var json = JsonSerializer.Serialize(new { phase, elapsedMs = Math.Round(clock.Elapsed.TotalMilliseconds, 1), connections = list });
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, json);
        File.Move(tmp, path, overwrite: true);
    }
}
