using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Switchyard.Peer;

// switchyard-peer: real Linux sockets on both ends of the end-to-end tests.
//
// Protocol (TCP): the client sends B bytes of a pattern derived from (seed, connection id) and then
// half-closes (FIN). The server reads to EOF and answers "ID\n<count> <sha256-hex>\n", then closes.
// The client recomputes the digest of what it sent: a match proves that exactly the right bytes,
// in order, crossed the path, and the ID says which backend got them.
// UDP: one datagram of B bytes per "connection" from its own socket (so its own source port, i.e. its
// own 5-tuple), answered with the same text in one datagram.
// MPTCP (--mptcp, TCP only): the same protocol over IPPROTO_MPTCP sockets. The client sends --prime-bytes, waits
// until the connection has --expect-subflows subflows (the kernel's path manager opens the joins), sends the rest,
// and reports per connection whether it stayed MPTCP and how many bytes each subflow carried. The server prints one
// "MPTCP {json}" line per connection: its token (the one the client's MP_JOINs carry), and its subflows.
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Usage();
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            var opts = Options.Parse(args.AsSpan(1));
            return args[0] switch
            {
                "server" => Server.Run(opts),
                "client" => Client.Run(opts),
                "stream" => StreamClient.Run(opts),
                _ => Fail($"unknown mode '{args[0]}' (expected server, client or stream)"),
            };
        }
        catch (ArgumentException e)
        {
            return Fail(e.Message);
        }
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine($"switchyard-peer: {message}");
        Usage();
        return 2;
    }

    static void Usage() => Console.Error.WriteLine("""
        usage:
          switchyard-peer server --listen ADDR [--listen ADDR ...] --port P --id NAME [--udp] [--max-seconds S]
                                 [--mptcp [--report FILE]] [--stream-port P2]
          switchyard-peer client --target ADDR --port P [--connections N] [--concurrency C] [--bytes B]
                                 [--timeout-ms T] [--deadline-ms D] [--seed S] [--udp] [--json]
                                 [--interval-ms I] [--stop-on-stdin] [--details FILE] [--source-ports FROM-TO]
                                 [--mptcp [--expect-subflows K] [--subflow-wait-ms W] [--prime-bytes P]
                                          [--settle-ms S] [--bind ADDR] [--details FILE]]
        --mptcp: IPPROTO_MPTCP sockets. The client sends P bytes (default 4096: a small prime keeps the first subflow's cwnd small, so the scheduler also uses the join), waits up to W ms (default 3000)
        for K subflows that can carry data (default 2; a join can once the server acked its MP_JOIN third ACK), S ms more (default 10),
        then sends the rest of B; the JSON summary adds mptcpConnections,
        fallbackToTcp, subflowsHistogram, connectionsWithAllSubflowsCarryingData, joinRemotes, ...;
        --details writes one JSON line per connection. The server prints "MPTCP {json}" per connection
        (token, subflows with addresses and bytes received) and writes them all to --report at exit.
        client exit code: 0 only if every connection got the right answer.
        --interval-ms I: each of the C workers pauses I ms after each connection (a steady arrival rate).
        --stop-on-stdin: a line "stop" (or stdin's end) stops starting connections; the summary counts those started.
        --source-ports FROM-TO: connection i binds local port FROM+i (never a 5-tuple twice; runs out after TO).
        --details FILE: one JSON line per connection (ok, backend, reason, ms, startUnixMs, MPTCP state).
        --stream-port P2: the server also listens on P2 (same addresses, same --mptcp) with the streaming protocol:
        it sends "ID\n" at once, then echoes every byte back until the client half-closes.
        """ + StreamClient.Usage);
}

/// <summary>Minimal "--name value" parser; repeated names keep every value.</summary>
sealed class Options
{
    readonly Dictionary<string, List<string>> _values = new();
    readonly HashSet<string> _flags = new();
    static readonly HashSet<string> FlagNames = ["--udp", "--json", "--mptcp", "--stop-on-stdin"];

    public static Options Parse(ReadOnlySpan<string> args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--")) throw new ArgumentException($"unexpected argument '{a}'");
            if (FlagNames.Contains(a)) { o._flags.Add(a); continue; }
            if (i + 1 >= args.Length) throw new ArgumentException($"{a} needs a value");
            if (!o._values.TryGetValue(a, out var list)) o._values[a] = list = new();
            list.Add(args[++i]);
        }
        return o;
    }

    public bool Flag(string name) => _flags.Contains(name);
    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var l) ? l : [];
    public string? Str(string name) => _values.TryGetValue(name, out var l) ? l[^1] : null;
    public string Req(string name) => Str(name) ?? throw new ArgumentException($"{name} is required");

    public long Long(string name, long dflt, long min, long max)
    {
        var s = Str(name);
        if (s is null) return dflt;
        if (!long.TryParse(s, out var v) || v < min || v > max)
            throw new ArgumentException($"{name} must be an integer in [{min}, {max}], got '{s}'");
        return v;
    }

    public IPAddress Addr(string name) => ParseAddr(name, Req(name));

    public static IPAddress ParseAddr(string name, string s) =>
        IPAddress.TryParse(s, out var a) ? a : throw new ArgumentException($"{name}: '{s}' is not an IP address");
}

static class Pattern
{
    /// <summary>Deterministic bytes for one connection: xorshift64* seeded by (seed, connection id).</summary>
    public static void Fill(Span<byte> dst, ulong seed, long connId, long offset)
    {
        // Blocks of 8 bytes derived from the absolute block index so any chunk can be produced on its own.
        for (int i = 0; i < dst.Length;)
        {
            long pos = offset + i;
            ulong block = Mix(seed ^ ((ulong)connId * 0x9E3779B97F4A7C15UL) ^ ((ulong)(pos >> 3) * 0xD1B54A32D192ED03UL));
            int start = (int)(pos & 7);
            for (int b = start; b < 8 && i < dst.Length; b++, i++)
                dst[i] = (byte)(block >> (b * 8));
        }
    }

    static ulong Mix(ulong x)
    {
        x ^= x >> 30; x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 27; x *= 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    public static string Digest(ulong seed, long connId, long length)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buf = new byte[16384];
        for (long off = 0; off < length; off += buf.Length)
        {
            int n = (int)Math.Min(buf.Length, length - off);
            Fill(buf.AsSpan(0, n), seed, connId, off);
            h.AppendData(buf, 0, n);
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }
}

static class Server
{
    const long MaxRequestBytes = 256L << 20; // bounds memory/time per connection: reading is hashed, not stored
    static readonly TimeSpan ConnectionTimeout = TimeSpan.FromSeconds(30);

    public static int Run(Options o)
    {
        var listens = o.All("--listen").Select(s => Options.ParseAddr("--listen", s)).ToList();
        if (listens.Count == 0) throw new ArgumentException("--listen is required");
        int port = (int)o.Long("--port", 0, 1, 65535);
        if (port == 0) throw new ArgumentException("--port is required");
        string id = o.Req("--id");
        if (id.Contains('\n')) throw new ArgumentException("--id must be one line");
        long maxSeconds = o.Long("--max-seconds", 0, 0, 86400);
        bool udp = o.Flag("--udp");
        bool mptcp = o.Flag("--mptcp");
        if (mptcp && udp) throw new ArgumentException("--mptcp is for TCP only");
        string? report = o.Str("--report");
        int streamPort = (int)o.Long("--stream-port", 0, 0, 65535);
        if (streamPort != 0 && (udp || streamPort == port)) throw new ArgumentException("--stream-port needs TCP and a port other than --port");
        var records = new ConcurrentQueue<object>();

        using var cts = new CancellationTokenSource();
        if (maxSeconds > 0) cts.CancelAfter(TimeSpan.FromSeconds(maxSeconds));
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; cts.Cancel(); });

        var sockets = new List<Socket>();
        var loops = new List<Task>();
        try
        {
            foreach (var addr in listens)
            {
                var s = mptcp ? Mptcp.NewStreamSocket(addr.AddressFamily)
                    : new Socket(addr.AddressFamily, udp ? SocketType.Dgram : SocketType.Stream, udp ? ProtocolType.Udp : ProtocolType.Tcp);
                s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                if (addr.AddressFamily == AddressFamily.InterNetworkV6)
                    s.DualMode = addr.Equals(IPAddress.IPv6Any); // "::" serves both families
                s.Bind(new IPEndPoint(addr, port));
                if (!udp) s.Listen(1024);
                sockets.Add(s);
                loops.Add(udp ? UdpLoop(s, id, cts.Token) : AcceptLoop(s, id, mptcp ? records : null, cts.Token));
                // Tests wait for this line before starting clients.
                Console.WriteLine($"READY {(udp ? "udp" : mptcp ? "mptcp" : "tcp")} {new IPEndPoint(addr, port)} id={id}");
                if (streamPort != 0)
                {
                    var ss = mptcp ? Mptcp.NewStreamSocket(addr.AddressFamily) : new Socket(addr.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                    ss.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                    if (addr.AddressFamily == AddressFamily.InterNetworkV6) ss.DualMode = addr.Equals(IPAddress.IPv6Any);
                    ss.Bind(new IPEndPoint(addr, streamPort));
                    ss.Listen(1024);
                    sockets.Add(ss);
                    loops.Add(StreamAcceptLoop(ss, id, cts.Token));
                    Console.WriteLine($"READY stream {new IPEndPoint(addr, streamPort)} id={id}");
                }
            }
            Console.Out.Flush();
            try { Task.WaitAll(loops.ToArray(), cts.Token); } catch (OperationCanceledException) { }
            return 0;
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"switchyard-peer server: {e.SocketErrorCode}: {e.Message}");
            return 1;
        }
        finally
        {
            foreach (var s in sockets) s.Dispose();
            if (report is not null)
                File.WriteAllText(report, JsonSerializer.Serialize(new { id, connections = records.ToArray() }));
        }
    }

    static async Task AcceptLoop(Socket listener, string id, ConcurrentQueue<object>? mptcpRecords, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket c;
            try { c = await listener.AcceptAsync(ct); }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { continue; }
            _ = Task.Run(() => Serve(c, id, mptcpRecords, ct));
        }
    }

    static async Task StreamAcceptLoop(Socket listener, string id, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket c;
            try { c = await listener.AcceptAsync(ct); }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { continue; }
            _ = Task.Run(() => ServeStream(c, id, ct));
        }
    }

    /// <summary>The streaming protocol: "ID\n" first, then an echo of everything until the client's FIN. No time
    /// limit: a stream lives as long as its client keeps it (the tests' long-lived connections).</summary>
    static async Task ServeStream(Socket c, string id, CancellationToken ct)
    {
        using var _ = c;
        try
        {
            c.NoDelay = true;
            var hello = Encoding.ASCII.GetBytes(id + "\n");
            for (int sent = 0; sent < hello.Length;) sent += await c.SendAsync(hello.AsMemory(sent), SocketFlags.None, ct);
            var buf = new byte[65536];
            while (true)
            {
                int n = await c.ReceiveAsync(buf, SocketFlags.None, ct);
                if (n == 0) break;
                for (int sent = 0; sent < n;) sent += await c.SendAsync(buf.AsMemory(sent, n - sent), SocketFlags.None, ct);
            }
            c.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client reports a broken stream; the server keeps serving the others.
        }
    }

    static async Task Serve(Socket c, string id, ConcurrentQueue<object>? mptcpRecords, CancellationToken ct)
    {
        using var _ = c;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConnectionTimeout);
        try
        {
            using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buf = new byte[65536];
            long total = 0;
            while (true)
            {
                int n = await c.ReceiveAsync(buf, SocketFlags.None, timeout.Token);
                if (n == 0) break;
                h.AppendData(buf, 0, n);
                total += n;
                if (total > MaxRequestBytes) return; // misbehaving client: drop it
            }
            string digest = Convert.ToHexStringLower(h.GetHashAndReset());
            if (mptcpRecords is not null)
            {
                // At EOF (the client's DATA_FIN) every subflow is still there: the client has not closed yet.
                var info = Mptcp.Query(c);
                var rec = new
                {
                    id,
                    remote = c.RemoteEndPoint?.ToString(),
                    local = c.LocalEndPoint?.ToString(),
                    mptcp = info is { Fallback: false },
                    token = info?.TokenHex,
                    subflows = info?.Subflows.Count ?? 0,
                    bytes = total,
                    digest,
                    subflowDetails = info?.Subflows.Select(sf => new { local = sf.Local, remote = sf.Remote, bytesReceived = sf.BytesReceived }).ToArray(),
                };
                mptcpRecords.Enqueue(rec);
                var line = "MPTCP " + JsonSerializer.Serialize(rec);
                lock (Console.Out) { Console.WriteLine(line); Console.Out.Flush(); }
            }
            var answer = Encoding.ASCII.GetBytes($"{id}\n{total} {digest}\n");
            int sent = 0;
            while (sent < answer.Length)
                sent += await c.SendAsync(answer.AsMemory(sent), SocketFlags.None, timeout.Token);
            c.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // A failed connection is the client's to report; the server keeps serving others.
        }
    }

    static async Task UdpLoop(Socket s, string id, CancellationToken ct)
    {
        var buf = new byte[65536];
        EndPoint any = s.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
        while (!ct.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try { r = await s.ReceiveFromAsync(buf, SocketFlags.None, any, ct); }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { continue; }
            var digest = Convert.ToHexStringLower(SHA256.HashData(buf.AsSpan(0, r.ReceivedBytes)));
            var answer = Encoding.ASCII.GetBytes($"{id}\n{r.ReceivedBytes} {digest}\n");
            try { await s.SendToAsync(answer, SocketFlags.None, r.RemoteEndPoint, ct); }
            catch (Exception e) when (e is SocketException or OperationCanceledException) { }
        }
    }
}

static class Client
{
    sealed record Outcome(long ConnId, bool Ok, string? Backend, string? Reason, double Ms)
    {
        /// <summary>MPTCP runs: the connection's state just after the answer arrived (or before the half-close if
        /// that saw more subflows), and how long the client waited for the expected subflows.</summary>
        public MptcpConnInfo? Mptcp { get; init; }
        public bool ReachedExpectedSubflows { get; init; }
        public double SubflowWaitMs { get; init; }
        /// <summary>Wall clock (Unix ms) just before the connect: lets a test place each connection in its own timeline.</summary>
        public long StartUnixMs { get; init; }
        /// <summary>The connection's local address and port (TCP, UDP and MPTCP's first subflow), null if it never got one.</summary>
        public string? Local { get; init; }
    }

    sealed record MptcpOptions(int ExpectSubflows, int SubflowWaitMs, long PrimeBytes, IPAddress? Bind, int SettleMs);

    // tcpi_bytes_sent counts payload only (never SYN/FIN); bytes_acked also moves by one for a SYN or FIN, so both are
    // checked: data left on the subflow and was acknowledged there.
    /// <summary><see cref="Mptcp.Query"/> once the subflows together acked at least <paramref name="bytes"/> (what was sent),
    /// polled every 2 ms for at most 2 s; the last view either way (null: not an MPTCP socket).</summary>
    static async Task<MptcpConnInfo?> QueryOnceAcked(Socket s, long bytes, CancellationToken ct)
    {
        var wait = Stopwatch.StartNew();
        while (true)
        {
            var q = Mptcp.Query(s);
            if (q is null || q.Fallback || q.Subflows.Sum(sf => (long)sf.BytesAcked) >= bytes || wait.ElapsedMilliseconds >= 2000) return q;
            await Task.Delay(2, ct);
        }
    }

    static bool AllCarry(MptcpConnInfo i) => i.Subflows.Count > 0 && i.Subflows.All(sf => sf.BytesSent > 0 && sf.BytesAcked > 2);

    public static int Run(Options o)
    {
        var target = o.Addr("--target");
        int port = (int)o.Long("--port", 0, 1, 65535);
        if (port == 0) throw new ArgumentException("--port is required");
        long connections = o.Long("--connections", 1, 1, 1_000_000);
        int concurrency = (int)o.Long("--concurrency", 1, 1, 10_000);
        long bytes = o.Long("--bytes", 1024, 0, 1L << 30);
        int timeoutMs = (int)o.Long("--timeout-ms", 5000, 1, 600_000);
        // The whole run is bounded too: by default enough for every wave of connections to time out once.
        long deadlineMs = o.Long("--deadline-ms", Math.Min(3_600_000, timeoutMs * ((connections + concurrency - 1) / concurrency) + 5000), 1, 3_600_000);
        ulong seed = (ulong)o.Long("--seed", Random.Shared.NextInt64(1, long.MaxValue), 0, long.MaxValue);
        bool udp = o.Flag("--udp");
        bool json = o.Flag("--json");
        if (udp && bytes > 65000) throw new ArgumentException("--bytes must fit one datagram with --udp (<= 65000)");
        bool mptcp = o.Flag("--mptcp");
        if (mptcp && udp) throw new ArgumentException("--mptcp is for TCP only");
        MptcpOptions? mp = mptcp
            ? new MptcpOptions((int)o.Long("--expect-subflows", 2, 1, 8), (int)o.Long("--subflow-wait-ms", 3000, 0, 600_000),
                o.Long("--prime-bytes", 4096, 1, 1L << 30), o.Str("--bind") is { } bindStr ? Options.ParseAddr("--bind", bindStr) : null,
                (int)o.Long("--settle-ms", 10, 0, 10_000))
            : null;
        string? details = o.Str("--details");
        int intervalMs = (int)o.Long("--interval-ms", 0, 0, 600_000);
        bool stopOnStdin = o.Flag("--stop-on-stdin");
        // --source-ports FROM-TO: connection i binds local port FROM + i, so no 5-tuple repeats within the run (or across
        // runs given disjoint ranges), whatever the kernel's ephemeral port choice would have reused after TIME_WAIT.
        (int From, int To)? sourcePorts = null;
        if (o.Str("--source-ports") is { } sp)
        {
            var parts = sp.Split('-');
            if (parts.Length != 2 || !int.TryParse(parts[0], out int f) || !int.TryParse(parts[1], out int t) || f < 1 || t > 65535 || f > t)
                throw new ArgumentException($"--source-ports: '{sp}' is not FROM-TO within 1..65535");
            sourcePorts = (f, t);
        }

        var outcomes = new ConcurrentBag<Outcome>();
        var sw = Stopwatch.StartNew();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(deadlineMs));
        long next = -1;
        using var stopStarting = new CancellationTokenSource();
        if (stopOnStdin)
            _ = Task.Run(() =>
            {
                // A line "stop" or the end of stdin: start no more connections; the ones in flight finish.
                try { while (Console.In.ReadLine() is { } line && line.Trim() != "stop") { } } catch (IOException) { }
                stopStarting.Cancel();
            });
        var workers = Enumerable.Range(0, (int)Math.Min(concurrency, connections)).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                if (stopStarting.IsCancellationRequested) return;
                long id = Interlocked.Increment(ref next);
                if (id >= connections) return;
                if (deadline.IsCancellationRequested)
                {
                    outcomes.Add(new Outcome(id, false, null, "run deadline passed before start", 0));
                    continue;
                }
                long startUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                int localPort = 0;
                if (sourcePorts is { } r)
                {
                    if (id > r.To - r.From)
                    {
                        outcomes.Add(new Outcome(id, false, null, $"source ports {r.From}-{r.To} exhausted", 0) { StartUnixMs = startUnixMs });
                        continue;
                    }
                    localPort = r.From + (int)id;
                }
                outcomes.Add(await One(id, target, port, bytes, seed, timeoutMs, udp, mp, deadline.Token, localPort) with { StartUnixMs = startUnixMs });
                if (intervalMs > 0)
                    try { await Task.Delay(intervalMs, stopStarting.Token); } catch (OperationCanceledException) { return; }
            }
        })).ToArray();
        Task.WaitAll(workers);
        sw.Stop();

        var list = outcomes.OrderBy(x => x.ConnId).ToList();
        // With --stop-on-stdin the run ends early: it counts the connections it started.
        if (stopOnStdin) connections = list.Count;
        int ok = list.Count(x => x.Ok);
        var withInfo = list.Where(x => x.Mptcp is not null).ToList();
        var joins = withInfo.Where(x => !x.Mptcp!.Fallback).SelectMany(x => x.Mptcp!.Subflows.Skip(1)).ToList();
        var mptcpSummary = mp is null ? null : new
        {
            expectSubflows = mp.ExpectSubflows,
            mptcpConnections = withInfo.Count(x => !x.Mptcp!.Fallback),
            fallbackToTcp = withInfo.Count(x => x.Mptcp!.Fallback),
            noInfo = list.Count(x => x.Mptcp is null),
            subflowsHistogram = withInfo.GroupBy(x => x.Mptcp!.Subflows.Count).OrderBy(g => g.Key).ToDictionary(g => g.Key.ToString(), g => g.Count()),
            connectionsWithAllSubflowsCarryingData = withInfo.Count(x => !x.Mptcp!.Fallback && AllCarry(x.Mptcp!)),
            connectionsReachingExpectedSubflows = list.Count(x => x.ReachedExpectedSubflows),
            maxSubflowWaitMs = list.Count == 0 ? 0 : Math.Round(list.Max(x => x.SubflowWaitMs), 1),
            // Where the joins (every subflow but the first) went, and from which local address.
            joinRemotes = joins.GroupBy(sf => sf.Remote).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()),
            joinLocalAddresses = joins.GroupBy(sf => LocalAddr(sf.Local)).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()),
            initialSubflowBytesAcked = withInfo.Sum(x => (long)(x.Mptcp!.Subflows.FirstOrDefault()?.BytesAcked ?? 0)),
            joinSubflowBytesAcked = joins.Sum(sf => (long)sf.BytesAcked),
        };
        if (details is not null)
            File.WriteAllLines(details, list.Select(x => JsonSerializer.Serialize(new
            {
                conn = x.ConnId, ok = x.Ok, backend = x.Backend, reason = x.Reason, ms = Math.Round(x.Ms, 1), startUnixMs = x.StartUnixMs, local = x.Local,
                mptcp = x.Mptcp is { Fallback: false }, fallback = x.Mptcp?.Fallback, token = x.Mptcp?.TokenHex,
                reachedExpectedSubflows = x.ReachedExpectedSubflows, subflowWaitMs = Math.Round(x.SubflowWaitMs, 1),
                subflows = x.Mptcp?.Subflows.Select(sf => new { local = sf.Local, remote = sf.Remote, bytesSent = sf.BytesSent, bytesAcked = sf.BytesAcked, bytesReceived = sf.BytesReceived }),
            })));
        var summary = new
        {
            protocol = udp ? "udp" : mp is null ? "tcp" : "mptcp",
            target = new IPEndPoint(target, port).ToString(),
            seed,
            bytes,
            total = connections,
            succeeded = ok,
            failed = connections - ok,
            failures = list.Where(x => !x.Ok).GroupBy(x => x.Reason!).ToDictionary(g => g.Key, g => g.Count()),
            failureSamples = list.Where(x => !x.Ok).Take(10).Select(x => new { conn = x.ConnId, reason = x.Reason }).ToList(),
            backends = list.Where(x => x.Ok).GroupBy(x => x.Backend!).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()),
            elapsedMs = Math.Round(sw.Elapsed.TotalMilliseconds, 1),
            maxConnectionMs = list.Count == 0 ? 0 : Math.Round(list.Max(x => x.Ms), 1),
            mptcp = mptcpSummary,
        };
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(summary));
        else
        {
            Console.WriteLine($"{summary.protocol} {summary.target}: {ok}/{connections} succeeded in {summary.elapsedMs} ms");
            foreach (var (b, n) in summary.backends) Console.WriteLine($"  backend {b}: {n}");
            foreach (var (r, n) in summary.failures) Console.WriteLine($"  failed {n}: {r}");
            if (mptcpSummary is not null) Console.WriteLine($"  mptcp: {JsonSerializer.Serialize(mptcpSummary)}");
        }
        return ok == connections ? 0 : 1;
    }

    static string LocalAddr(string endpoint) => IPEndPoint.TryParse(endpoint, out var ep) ? ep.Address.ToString() : endpoint;

    static async Task<Outcome> One(long connId, IPAddress target, int port, long bytes, ulong seed, int timeoutMs, bool udp,
        MptcpOptions? mp, CancellationToken deadline, int localPort)
    {
        var local = new System.Runtime.CompilerServices.StrongBox<string?>(localPort == 0 ? null : $"port {localPort}");
        var o = await OneCore(connId, target, port, bytes, seed, timeoutMs, udp, mp, deadline, local, localPort);
        return o with { Local = local.Value };
    }

    static async Task<Outcome> OneCore(long connId, IPAddress target, int port, long bytes, ulong seed, int timeoutMs, bool udp,
        MptcpOptions? mp, CancellationToken deadline, System.Runtime.CompilerServices.StrongBox<string?> local, int localPort)
    {
        var sw = Stopwatch.StartNew();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(deadline);
        cts.CancelAfter(timeoutMs);
        string stage = "connect";
        try
        {
            using var s = mp is not null ? Mptcp.NewStreamSocket(target.AddressFamily)
                : new Socket(target.AddressFamily, udp ? SocketType.Dgram : SocketType.Stream, udp ? ProtocolType.Udp : ProtocolType.Tcp);
            if (mp?.Bind is not null || localPort != 0)
            {
                stage = "bind";
                s.Bind(new IPEndPoint(mp?.Bind ?? (target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any), localPort));
                stage = "connect";
            }
            string answer;
            MptcpConnInfo? info = null;
            bool reached = false;
            double waitMs = 0;
            if (udp)
            {
                var payload = new byte[bytes];
                Pattern.Fill(payload, seed, connId, 0);
                await s.ConnectAsync(new IPEndPoint(target, port), cts.Token);
                local.Value = s.LocalEndPoint?.ToString();
                stage = "send";
                await s.SendAsync(payload, SocketFlags.None, cts.Token);
                stage = "receive";
                var buf = new byte[1024];
                int n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token);
                answer = Encoding.ASCII.GetString(buf, 0, n);
            }
            else
            {
                s.NoDelay = true;
                await s.ConnectAsync(new IPEndPoint(target, port), cts.Token);
                local.Value = s.LocalEndPoint?.ToString();
                stage = "send";
                var buf = new byte[(int)Math.Min(65536, Math.Max(bytes, 1))];
                long prime = mp is null ? bytes : Math.Min(bytes, mp.PrimeBytes);
                await SendRange(s, buf, seed, connId, 0, prime, cts.Token);
                if (mp is not null)
                {
                    // The path manager opens the joins once the connection is fully established (the server acked
                    // data): wait for them, so the rest of the bytes can spread over every subflow.
                    stage = "subflows";
                    var wait = Stopwatch.StartNew();
                    while (true)
                    {
                        // A join is listed as soon as its SYN leaves; it can carry data only once fully established (the
                        // server's ACK of its third ACK arrived), so wait for that on every listed subflow, not just for
                        // the count: sent earlier, the rest can all be queued on the first subflow (seen under CPU load).
                        int nsub = Mptcp.SubflowCount(s);
                        if (nsub >= mp.ExpectSubflows && Mptcp.Query(s) is { } q && q.Subflows.Count >= mp.ExpectSubflows
                            && Mptcp.AllSubflowsCanSend(q)) { reached = true; break; }
                        if (nsub < 0 || wait.ElapsedMilliseconds >= mp.SubflowWaitMs) break; // fallen back, or timed out
                        await Task.Delay(2, cts.Token);
                    }
                    waitMs = wait.Elapsed.TotalMilliseconds;
                    // The wait above already saw the fourth packet; this is only a margin on top of it.
                    if (reached && mp.SettleMs > 0) await Task.Delay(mp.SettleMs, cts.Token);
                    stage = "send";
                }
                await SendRange(s, buf, seed, connId, prime, bytes, cts.Token);
                // The view the data check reads: taken once the subflows acked what was sent (up to 2 s). Taken as soon as
                // the send returned, most of the megabyte could still sit in the socket's buffer, not yet given to a
                // subflow; and when the server's close removed the join before the view after the answer, that early view
                // was all there was (a join that carried data counted as one that carried none).
                var before = mp is not null ? await QueryOnceAcked(s, bytes, cts.Token) : null;
                s.Shutdown(SocketShutdown.Send);
                stage = "receive";
                var ms = new MemoryStream();
                var rb = new byte[1024];
                while (true)
                {
                    int n = await s.ReceiveAsync(rb, SocketFlags.None, cts.Token);
                    if (n == 0) break;
                    ms.Write(rb, 0, n);
                    if (ms.Length > 4096) return new(connId, false, null, "answer too long", sw.Elapsed.TotalMilliseconds);
                }
                answer = Encoding.ASCII.GetString(ms.ToArray());
                if (mp is not null)
                {
                    // After the answer every byte is acked; keep the earlier view if subflows were closed meanwhile.
                    var after = Mptcp.Query(s);
                    info = after is not null && (before is null || after.Subflows.Count >= before.Subflows.Count) ? after : before;
                }
            }
            Outcome R(bool ok, string? backend, string? reason) =>
                new(connId, ok, backend, reason, sw.Elapsed.TotalMilliseconds) { Mptcp = info, ReachedExpectedSubflows = reached, SubflowWaitMs = waitMs };
            var lines = answer.Split('\n');
            if (lines.Length < 2) return R(false, null, "malformed answer");
            var parts = lines[1].Split(' ');
            if (parts.Length != 2 || !long.TryParse(parts[0], out var count))
                return R(false, lines[0], "malformed answer");
            if (count != bytes) return R(false, lines[0], "server received a different byte count");
            if (parts[1] != Pattern.Digest(seed, connId, bytes))
                return R(false, lines[0], "server received different bytes (digest mismatch)");
            return R(true, lines[0], null);
        }
        catch (OperationCanceledException)
        {
            var why = deadline.IsCancellationRequested ? "run deadline" : $"timeout after {timeoutMs} ms";
            return new(connId, false, null, $"{stage}: {why}", sw.Elapsed.TotalMilliseconds);
        }
        catch (SocketException e)
        {
            return new(connId, false, null, $"{stage}: {e.SocketErrorCode}", sw.Elapsed.TotalMilliseconds);
        }
    }

    static async Task SendRange(Socket s, byte[] buf, ulong seed, long connId, long from, long to, CancellationToken ct)
    {
        for (long off = from; off < to;)
        {
            int n = (int)Math.Min(buf.Length, to - off);
            Pattern.Fill(buf.AsSpan(0, n), seed, connId, off);
            int sent = 0;
            while (sent < n) sent += await s.SendAsync(buf.AsMemory(sent, n - sent), SocketFlags.None, ct);
            off += n;
        }
    }
}
