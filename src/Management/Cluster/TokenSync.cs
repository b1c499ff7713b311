using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Switchyard.Dataplane.Datapath.Steering.Pins;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Management.Options;

namespace Switchyard.Management.Cluster;

/// <summary>The backends a token can name on the wire ("pool/backend") and their ids in this process.</summary>
public sealed class BackendNames
{
    public static readonly BackendNames Empty = new(-1, []);
    public long Generation { get; }
    readonly string?[] _byId;
    readonly Dictionary<string, int> _byName = new(StringComparer.Ordinal);

    public BackendNames(long generation, IEnumerable<(string Pool, string Backend, int Id)> backends)
    {
        Generation = generation;
        var list = backends.Where(b => b.Id >= 0).ToList();
        _byId = new string?[list.Count == 0 ? 0 : list.Max(b => b.Id) + 1];
        foreach (var (pool, backend, id) in list)
        {
            string name = $"{pool}/{backend}";
            _byId[id] = name;
            _byName[name] = id;
        }
    }

    public string? NameOf(uint id) => id < (uint)_byId.Length ? _byId[id] : null;
    public bool TryGetId(string name, out int id) => _byName.TryGetValue(name, out id);
}

/// <summary>
/// Learned MPTCP tokens shared between the appliances of a cluster (issue 12, item 2; docs/scale-out.md).
/// <para>Workers never wait for it: each hands its learns, collisions and forgets to its own
/// <see cref="TokenExportQueue"/> (lock-free, single producer). This service's send thread drains the queues every
/// <see cref="ClusterOptions.FlushMilliseconds"/>, batches the events into HMAC-signed UDP datagrams to every peer
/// and, every <see cref="ClusterOptions.ResyncSeconds"/> (and when a peer starts or restarts), re-announces the
/// whole live table with each token's idle age (anti-entropy: a lost datagram is repaired by the next round).
/// Its receive thread verifies each datagram (MAC, structure, replay window, per-peer rate), then installs the
/// entries into the shared <see cref="LearnedTokenTable"/> with the same lock-free operations a worker uses
/// (<see cref="LearnedTokenTable.Learn(uint, uint, uint, uint)"/>, <see cref="LearnedTokenTable.LearnCollided"/>,
/// <see cref="LearnedTokenTable.Forget"/>): each change is one compare-and-swap of a 64-bit slot word, so a worker
/// sees a token absent, Live or Collided, never half-installed, and the packet path is unchanged. A remote entry is
/// installed with the sender's idle age (its last-seen tick is set that far back), so copies expire with the
/// original; a token Live here for another backend becomes Collided, counted as on one appliance.</para>
/// </summary>
public sealed class TokenSync : IDisposable
{
    readonly ClusterOptions _o;
    readonly byte[] _key;
    readonly LearnedTokenTable? _table;
    readonly TokenExportQueue[] _queues;
    readonly PinExportQueue[] _pinQueues;
    readonly SharedPinTable? _pins;
    readonly Func<BackendNames> _names;
    readonly Action<string> _log;
    readonly uint _idleTicks;
    readonly IPEndPoint _listen;
    readonly Peer[] _peers;
    readonly ulong _epoch = (ulong)Random.Shared.NextInt64() | 1;
    ulong _sequence;
    Socket? _socket;
    Thread? _sender, _receiver;
    volatile bool _stop;
    volatile bool _receiverStarted; // by the send thread, once the socket is bound
    volatile BackendNames _current = BackendNames.Empty;
    readonly Stopwatch _clock = Stopwatch.StartNew();
    readonly Counters _c = new();
    readonly object _forgottenLock = new();
    readonly Dictionary<uint, uint> _recentlyForgotten = new(); // token -> tick of the forget
    readonly object _delayLock = new();
    readonly long[] _delays = new long[4096]; // last propagation delays (us), a ring
    long _delayCount;

    sealed class Peer(IPEndPoint endpoint)
    {
        public IPEndPoint Endpoint { get; } = endpoint;
        public ReplayWindow Window { get; } = new(); // receive thread only
        public long LastHeardMs = -1;                 // written by the receive thread
        public long Received, Rejected, Restarts;
        public long ResyncWanted;                     // 1: send it the whole table (set by the receive thread)
        public long LastResyncAskMs = -1_000_000;
        public double Allowance;                      // receive rate limit (receive thread)
        public long AllowanceAtMs;
    }

    sealed class Counters
    {
        public long DatagramsSent, DatagramsReceived, EntriesSent, EntriesReceived, Installed, Refreshed, Collisions, Forgotten,
            BadMac, Replayed, Malformed, UnknownPeer, RateLimited, UnknownBackend, TableFull, Expired, IgnoredForgotten,
            SendErrors, SendDeferred, Resyncs, HellosSent, HellosReceived, BindErrors,
            PinsSent, PinsReceived, PinsInstalled, PinsRefreshed, PinsReplaced, PinsUnknownBackend, PinsNotShared;
    }

    /// <param name="table">The learned-token table (null: no learned-token VIP, only pins are shared).</param>
    /// <param name="pins">Where peers' pins are installed (null: pins are not shared, issue 12 item 4).</param>
    /// <param name="pinQueues">The workers' queues of pins that differ from Maglev (empty: none exported).</param>
    public TokenSync(ClusterOptions options, byte[] key, uint idleTicks, LearnedTokenTable? table, TokenExportQueue[] queues,
        Func<BackendNames> names, Action<string> log, SharedPinTable? pins = null, PinExportQueue[]? pinQueues = null)
    {
        _o = options; _key = key; _idleTicks = idleTicks; _table = table; _queues = queues; _names = names; _log = log;
        _pins = pins; _pinQueues = pinQueues ?? [];
        if (!OptionsValidator.TryParseEndpoint(options.Listen, out _listen)) throw new ArgumentException($"Cluster.Listen '{options.Listen}'");
        _peers = options.Peers.Select(p => OptionsValidator.TryParseEndpoint(p, out var ep) ? new Peer(ep) : throw new ArgumentException($"Cluster.Peers '{p}'")).ToArray();
    }

    /// <summary>The key of Cluster.Key or Cluster.KeyFile (validated before).</summary>
    public static byte[] LoadKey(ClusterOptions o)
    {
        string hex = o.Key ?? File.ReadAllText(o.KeyFile!);
        if (OptionsValidator.TryParseClusterKey(hex, out var key) is { } why) throw new InvalidOperationException($"Cluster key: {why}");
        return key;
    }

    public IPEndPoint Listen => _listen;

    public void Start()
    {
        _current = _names();
        _sender = new Thread(SendLoop) { IsBackground = true, Name = "switchyard-cluster-tx" };
        _receiver = new Thread(ReceiveLoop) { IsBackground = true, Name = "switchyard-cluster-rx" };
        _sender.Start();
        _log($"cluster: sharing {(_table is null ? "" : "learned tokens")}{(_table is not null && _pins is not null ? " and " : "")}{(_pins is null ? "" : "flow pins")} on {_listen} with {string.Join(", ", _peers.Select(p => p.Endpoint))} (resync every {_o.ResyncSeconds} s)");
    }

    static long UnixMicroseconds() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    // ------------------------------------------------------------------ sending

    sealed class ResyncRun
    {
        public required List<(uint Token, uint Id, bool Collided, uint AgeTicks)> Entries;
        public required Peer[] Targets;
        public required long TakenAtMs;
        public int Next;
    }

    void SendLoop()
    {
        var live = new TokenSyncCodec.Writer(_o.MaxDatagramBytes);
        var resyncWriter = new TokenSyncCodec.Writer(_o.MaxDatagramBytes);
        var pinWriter = new TokenSyncCodec.Writer(_o.MaxDatagramBytes);
        ResyncRun? run = null;
        long nextResync = _o.ResyncSeconds * 1000L;
        long lastHello = -1_000_000;
        double budget = Math.Min(_o.MaxDatagramsPerSecond, 100);
        long budgetAt = 0;
        while (!_stop)
        {
            if (_socket is null && !TryBind()) { Thread.Sleep(100); continue; }
            if (!_receiverStarted) { _receiver!.Start(); _receiverStarted = true; }
            long now = _clock.ElapsedMilliseconds;
            budget = Math.Min(_o.MaxDatagramsPerSecond, budget + (now - budgetAt) * _o.MaxDatagramsPerSecond / 1000.0);
            budgetAt = now;
            var names = _names();
            if (names.Generation != _current.Generation) _current = names;

            // 1. Live events, in the order each worker produced them.
            foreach (var q in _queues)
                while (q.TryDequeue(out var e))
                {
                    var entry = ToEntry(e, names);
                    if (entry is null) continue;
                    if (!live.TryAdd(entry.Value)) { SendToAll(live, SyncMessageType.Tokens, ref budget); live.TryAdd(entry.Value); }
                }
            if (live.Count > 0) SendToAll(live, SyncMessageType.Tokens, ref budget);

            // 1b. Pins the workers' sweeps found differing from Maglev (issue 12 item 4). Best effort within the
            // budget: what stays queued (or overflows) is exported again by the next sweep pass.
            if (_pinQueues.Length > 0) SendPins(pinWriter, names, ref budget);

            // 2. Hello until every peer has been heard from (a starting appliance asks for the others' tables).
            if (now - lastHello >= 1000 && _peers.Any(p => Volatile.Read(ref p.LastHeardMs) < 0))
            {
                lastHello = now;
                foreach (var p in _peers.Where(p => Volatile.Read(ref p.LastHeardMs) < 0))
                    if (Send(p, Sign(new TokenSyncCodec.Writer(_o.MaxDatagramBytes), SyncMessageType.Hello), ref budget)) Interlocked.Increment(ref _c.HellosSent);
            }

            // 3. Re-announcement: every ResyncSeconds to every peer, at once to a peer that asked or restarted.
            if (run is null)
            {
                var wanted = _peers.Where(p => Interlocked.Exchange(ref p.ResyncWanted, 0) != 0).ToList();
                if (now >= nextResync) { wanted = [.. _peers]; nextResync = now + _o.ResyncSeconds * 1000L; }
                if (wanted.Count > 0) run = Snapshot(wanted, now, names);
            }
            if (run is not null && ContinueResync(run, resyncWriter, names, ref budget)) run = null;

            DropOldForgets();
            Thread.Sleep(_o.FlushMilliseconds);
        }
    }

    void SendPins(TokenSyncCodec.Writer w, BackendNames names, ref double budget)
    {
        w.Clear();
        foreach (var q in _pinQueues)
            while (budget >= _peers.Length && q.TryDequeue(out var e))
            {
                var name = names.NameOf(e.BackendId);
                if (name is null) { Interlocked.Increment(ref _c.PinsUnknownBackend); continue; }
                var pin = new PinEntry(e.Hash, name, Math.Max(1u, e.RemainingTicks)); // ticks are milliseconds
                if (!w.TryAddPin(pin)) { FlushPins(w, ref budget); w.TryAddPin(pin); }
            }
        if (w.Count > 0) FlushPins(w, ref budget);
    }

    void FlushPins(TokenSyncCodec.Writer w, ref double budget)
    {
        var d = Sign(w, SyncMessageType.Pins);
        foreach (var p in _peers) Send(p, d, ref budget);
        Interlocked.Add(ref _c.PinsSent, w.Count);
        w.Clear();
    }

    SyncEntry? ToEntry(TokenEvent e, BackendNames names)
    {
        ulong age = (ulong)Math.Max(0, (Stopwatch.GetTimestamp() - e.Stamp) * 1_000_000 / Stopwatch.Frequency);
        switch (e.Kind)
        {
            case TokenEventKind.Collided:
                return new SyncEntry(SyncOp.Collided, true, e.Token, null, age);
            case TokenEventKind.Learned or TokenEventKind.Forgotten:
                var name = names.NameOf(e.BackendId);
                if (name is null) { Interlocked.Increment(ref _c.UnknownBackend); return null; }
                if (e.Kind == TokenEventKind.Forgotten) NoteForgotten(e.Token);
                return new SyncEntry(e.Kind == TokenEventKind.Learned ? SyncOp.Live : SyncOp.Forgotten, true, e.Token, name, age);
            default:
                return null;
        }
    }

    ResyncRun Snapshot(List<Peer> targets, long now, BackendNames names)
    {
        var entries = new List<(uint, uint, bool, uint)>();
        _table?.ForEachEntry(DataplaneClock.Now, _idleTicks, (token, id, collided, age) =>
        {
            if (collided || names.NameOf(id) is not null) entries.Add((token, id, collided, age));
        });
        Interlocked.Increment(ref _c.Resyncs);
        return new ResyncRun { Entries = entries, Targets = [.. targets], TakenAtMs = now };
    }

    /// <summary>Sends as much of the run as the rate allows; true when done (an empty table still sends one
    /// empty datagram to each target: a keepalive that shows the peer this appliance is up).</summary>
    bool ContinueResync(ResyncRun run, TokenSyncCodec.Writer w, BackendNames names, ref double budget)
    {
        uint since = (uint)(_clock.ElapsedMilliseconds - run.TakenAtMs);
        do
        {
            if (budget < run.Targets.Length) { Interlocked.Increment(ref _c.SendDeferred); return false; }
            w.Clear();
            while (run.Next < run.Entries.Count)
            {
                var (token, id, collided, age) = run.Entries[run.Next];
                ulong ageUs = (ulong)Math.Min((ulong)age + since, _idleTicks) * 1000;
                var e = collided ? new SyncEntry(SyncOp.Collided, false, token, null, ageUs)
                                 : new SyncEntry(SyncOp.Live, false, token, names.NameOf(id) ?? "?", ageUs);
                if (!w.TryAdd(e)) break;
                run.Next++;
            }
            var d = Sign(w, SyncMessageType.Tokens);
            foreach (var p in run.Targets) Send(p, d, ref budget);
        }
        while (run.Next < run.Entries.Count);
        return true;
    }

    byte[] Sign(TokenSyncCodec.Writer w, SyncMessageType type) =>
        w.Finish(type, _epoch, ++_sequence, UnixMicroseconds(), _key);

    void SendToAll(TokenSyncCodec.Writer w, SyncMessageType type, ref double budget)
    {
        var d = Sign(w, type);
        foreach (var p in _peers) Send(p, d, ref budget, live: true);
        Interlocked.Add(ref _c.EntriesSent, (long)w.Count * _peers.Length);
        w.Clear();
    }

    bool Send(Peer p, byte[] d, ref double budget, bool live = false)
    {
        // Live updates may overdraw the budget by one second's worth (they are what joins wait for); re-announcements wait.
        if (budget < 1 && !(live && budget > -_o.MaxDatagramsPerSecond)) { Interlocked.Increment(ref _c.SendDeferred); return false; }
        budget -= 1;
        try
        {
            _socket!.SendTo(d, SocketFlags.None, p.Endpoint);
            Interlocked.Increment(ref _c.DatagramsSent);
            return true;
        }
        catch (SocketException e)
        {
            if (Interlocked.Increment(ref _c.SendErrors) <= 5) _log($"cluster: send to {p.Endpoint}: {e.SocketErrorCode} ({e.Message})");
            return false;
        }
        catch (ObjectDisposedException) { return false; }
    }

    bool TryBind()
    {
        var s = new Socket(_listen.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            s.ReceiveBufferSize = 4 << 20;
            // Non-blocking: a send never waits (a full socket buffer, e.g. datagrams queued behind an unresolved
            // neighbour while a peer is down or this appliance stops, refuses the datagram, counted; the resync
            // repairs), so the threads always stop promptly. The receiver polls with a timeout instead.
            s.Blocking = false;
            s.Bind(_listen);
            _socket = s;
            _log($"cluster: bound {_listen}");
            return true;
        }
        catch (SocketException e)
        {
            s.Dispose();
            // With the exception path the address appears on the tap a moment after the start: retried every 100 ms.
            if (Interlocked.Increment(ref _c.BindErrors) % 50 == 1) _log($"cluster: cannot bind {_listen} yet: {e.SocketErrorCode}");
            return false;
        }
    }

    // ------------------------------------------------------------------ receiving

    void ReceiveLoop()
    {
        var buffer = new byte[65536];
        EndPoint from = new IPEndPoint(_listen.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
        while (!_stop)
        {
            int n;
            try
            {
                if (!_socket!.Poll(200_000, SelectMode.SelectRead)) continue;
                n = _socket.ReceiveFrom(buffer, ref from);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock or SocketError.Interrupted) { continue; }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { if (_stop) return; Thread.Sleep(10); continue; }
            Receive(buffer.AsSpan(0, n), (IPEndPoint)from);
        }
    }

    /// <summary>One datagram from <paramref name="from"/> (internal for the tests: no socket needed).</summary>
    internal void Receive(ReadOnlySpan<byte> d, IPEndPoint from)
    {
        Interlocked.Increment(ref _c.DatagramsReceived);
        var peer = Array.Find(_peers, p => p.Endpoint.Equals(from));
        if (peer is null) { Interlocked.Increment(ref _c.UnknownPeer); return; }
        long nowMs = _clock.ElapsedMilliseconds;
        peer.Allowance = Math.Min(_o.MaxReceivePerSecond, peer.Allowance + (nowMs - peer.AllowanceAtMs) * _o.MaxReceivePerSecond / 1000.0);
        if (peer.AllowanceAtMs == 0 && peer.Allowance < 1) peer.Allowance = _o.MaxReceivePerSecond;
        peer.AllowanceAtMs = nowMs;
        if (peer.Allowance < 1) { Interlocked.Increment(ref _c.RateLimited); Interlocked.Increment(ref peer.Rejected); return; }
        peer.Allowance -= 1;

        switch (TokenSyncCodec.TryParse(d, _key, out var m, out _))
        {
            case TokenSyncCodec.Refusal.BadMac: Interlocked.Increment(ref _c.BadMac); Interlocked.Increment(ref peer.Rejected); return;
            case TokenSyncCodec.Refusal.Malformed: Interlocked.Increment(ref _c.Malformed); Interlocked.Increment(ref peer.Rejected); return;
        }
        long nowUs = UnixMicroseconds();
        var verdict = peer.Window.Check(m!.Epoch, m.Sequence, m.TimestampMicroseconds, nowUs, _o.MaxClockSkewSeconds * 1_000_000L);
        if (verdict is ReplayWindow.Verdict.Replay or ReplayWindow.Verdict.Stale)
        {
            Interlocked.Increment(ref _c.Replayed); Interlocked.Increment(ref peer.Rejected);
            return;
        }
        bool firstContact = Volatile.Read(ref peer.LastHeardMs) < 0;
        Volatile.Write(ref peer.LastHeardMs, nowMs);
        Interlocked.Increment(ref peer.Received);
        if (verdict == ReplayWindow.Verdict.AcceptedNewEpoch)
        {
            Interlocked.Increment(ref peer.Restarts);
            _log($"cluster: peer {peer.Endpoint} restarted: sending it the table");
        }
        // A peer heard from for the first time, restarted, or asking (hello) gets the whole table (at most once a second).
        if ((firstContact || verdict == ReplayWindow.Verdict.AcceptedNewEpoch || m.Type == SyncMessageType.Hello) && nowMs - peer.LastResyncAskMs >= 1000)
        {
            peer.LastResyncAskMs = nowMs;
            Interlocked.Exchange(ref peer.ResyncWanted, 1);
        }
        if (m.Type == SyncMessageType.Hello) { Interlocked.Increment(ref _c.HellosReceived); return; }
        if (m.Type == SyncMessageType.Pins) { InstallPins(m.Pins); return; }
        long transitUs = Math.Max(0, nowUs - m.TimestampMicroseconds);
        Interlocked.Add(ref _c.EntriesReceived, m.Entries.Count);
        Install(m.Entries, transitUs);
    }

    void InstallPins(IReadOnlyList<PinEntry> pins)
    {
        Interlocked.Add(ref _c.PinsReceived, pins.Count);
        if (_pins is null) { Interlocked.Add(ref _c.PinsNotShared, pins.Count); return; }
        var names = _current;
        uint now = DataplaneClock.Now;
        foreach (var p in pins)
        {
            if (!names.TryGetId(p.Backend, out int id) || id < 0) { Interlocked.Increment(ref _c.PinsUnknownBackend); continue; }
            switch (_pins.Install(p.FlowHash, (uint)id, now, p.RemainingMilliseconds))
            {
                case PinInstall.Inserted: Interlocked.Increment(ref _c.PinsInstalled); break;
                case PinInstall.Refreshed: Interlocked.Increment(ref _c.PinsRefreshed); break;
                case PinInstall.Replaced: Interlocked.Increment(ref _c.PinsInstalled); Interlocked.Increment(ref _c.PinsReplaced); break;
            }
        }
    }

    void Install(IReadOnlyList<SyncEntry> entries, long transitUs)
    {
        if (_table is null) { Interlocked.Add(ref _c.UnknownBackend, entries.Count); return; }
        var names = _current;
        uint now = DataplaneClock.Now;
        foreach (var e in entries)
        {
            if (e.AgeMicroseconds >= (ulong)_idleTicks * 1000) { Interlocked.Increment(ref _c.Expired); continue; }
            uint ageTicks = (uint)(e.AgeMicroseconds / 1000);
            uint seen = now - ageTicks;
            int id = 0;
            if (e.Op != SyncOp.Collided && !names.TryGetId(e.Backend!, out id)) { Interlocked.Increment(ref _c.UnknownBackend); continue; }
            switch (e.Op)
            {
                case SyncOp.Live:
                    if (ForgottenSince(e.Token, seen)) { Interlocked.Increment(ref _c.IgnoredForgotten); continue; }
                    if ((uint)id > LearnedTokenTable.MaxBackendId) continue;
                    Count(_table.Learn(e.Token, (uint)id, seen, _idleTicks));
                    break;
                case SyncOp.Collided:
                    Count(_table.LearnCollided(e.Token, seen, _idleTicks));
                    break;
                case SyncOp.Forgotten:
                    NoteForgotten(e.Token);
                    if (_table.Forget(e.Token, (uint)id)) Interlocked.Increment(ref _c.Forgotten);
                    break;
            }
            if (e.Fresh && e.Op != SyncOp.Forgotten) RecordDelay((long)Math.Min(e.AgeMicroseconds, long.MaxValue / 2) + transitUs);
        }
    }

    void Count(LearnResult r)
    {
        switch (r)
        {
            case LearnResult.Learned: Interlocked.Increment(ref _c.Installed); break;
            case LearnResult.Refreshed or LearnResult.StillCollided: Interlocked.Increment(ref _c.Refreshed); break;
            case LearnResult.Collision: Interlocked.Increment(ref _c.Collisions); break;
            case LearnResult.Full: Interlocked.Increment(ref _c.TableFull); break;
        }
    }

    // A forget overtaken by an older re-announcement (taken by a third appliance before it heard the forget) must not
    // bring the token back: re-announcements last seen before the forget are ignored for two resync periods.
    void NoteForgotten(uint token)
    {
        lock (_forgottenLock)
            if (_recentlyForgotten.Count < (_table?.Capacity ?? 0)) _recentlyForgotten[token] = DataplaneClock.Now;
    }

    bool ForgottenSince(uint token, uint seen)
    {
        lock (_forgottenLock)
            return _recentlyForgotten.TryGetValue(token, out uint at) && (int)(seen - at) <= 0;
    }

    long _lastForgetSweep;
    void DropOldForgets()
    {
        long now = _clock.ElapsedMilliseconds;
        if (now - _lastForgetSweep < 1000) return;
        _lastForgetSweep = now;
        uint tick = DataplaneClock.Now;
        uint keep = (uint)_o.ResyncSeconds * 2000u;
        lock (_forgottenLock)
            foreach (var k in _recentlyForgotten.Where(kv => tick - kv.Value > keep).Select(kv => kv.Key).ToList()) _recentlyForgotten.Remove(k);
    }

    void RecordDelay(long us)
    {
        lock (_delayLock) _delays[_delayCount++ % _delays.Length] = us;
    }

    /// <summary>The last (up to 4096) propagation delays in microseconds: worker learn on the sender to install here.</summary>
    public long[] DelaySamples()
    {
        lock (_delayLock) return _delays.AsSpan(0, (int)Math.Min(_delayCount, _delays.Length)).ToArray();
    }

    public static long Percentile(long[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];

    // ------------------------------------------------------------------ status

    /// <summary>Events the workers could not queue (rings full), all workers together.</summary>
    public long QueueOverflows => _queues.Sum(q => q.Overflows);

    /// <summary>The `cluster` section of ctl and the counters JSON.</summary>
    public JsonObject StatusJson(bool samples = false)
    {
        var delays = DelaySamples();
        Array.Sort(delays);
        long now = _clock.ElapsedMilliseconds;
        var o = new JsonObject
        {
            ["enabled"] = true, ["listen"] = _listen.ToString(), ["bound"] = _socket is not null,
            ["datagramsSent"] = Read(ref _c.DatagramsSent), ["datagramsReceived"] = Read(ref _c.DatagramsReceived),
            ["entriesSent"] = Read(ref _c.EntriesSent), ["entriesReceived"] = Read(ref _c.EntriesReceived),
            ["installed"] = Read(ref _c.Installed), ["refreshed"] = Read(ref _c.Refreshed), ["collisions"] = Read(ref _c.Collisions),
            ["forgotten"] = Read(ref _c.Forgotten), ["expired"] = Read(ref _c.Expired), ["ignoredForgotten"] = Read(ref _c.IgnoredForgotten),
            ["unknownBackend"] = Read(ref _c.UnknownBackend), ["tableFull"] = Read(ref _c.TableFull),
            ["rejected"] = new JsonObject
            {
                ["badMac"] = Read(ref _c.BadMac), ["replay"] = Read(ref _c.Replayed), ["malformed"] = Read(ref _c.Malformed),
                ["unknownPeer"] = Read(ref _c.UnknownPeer), ["rateLimited"] = Read(ref _c.RateLimited),
            },
            ["queueOverflows"] = QueueOverflows, ["sendErrors"] = Read(ref _c.SendErrors), ["sendDeferred"] = Read(ref _c.SendDeferred),
            ["resyncs"] = Read(ref _c.Resyncs), ["hellosSent"] = Read(ref _c.HellosSent), ["hellosReceived"] = Read(ref _c.HellosReceived),
            ["propagationUs"] = new JsonObject
            {
                ["samples"] = (long)delays.Length, ["p50"] = Percentile(delays, 50), ["p99"] = Percentile(delays, 99),
                ["max"] = delays.Length == 0 ? 0 : delays[^1],
            },
            ["pins"] = new JsonObject
            {
                ["enabled"] = _pins is not null, ["sent"] = Read(ref _c.PinsSent), ["received"] = Read(ref _c.PinsReceived),
                ["installed"] = Read(ref _c.PinsInstalled), ["refreshed"] = Read(ref _c.PinsRefreshed), ["replaced"] = Read(ref _c.PinsReplaced),
                ["unknownBackend"] = Read(ref _c.PinsUnknownBackend), ["notShared"] = Read(ref _c.PinsNotShared),
                ["queueOverflows"] = _pinQueues.Sum(q => q.Overflows), ["live"] = (long)(_pins?.Count(DataplaneClock.Now) ?? 0),
                ["capacity"] = (long)(_pins?.Capacity ?? 0),
            },
            ["peers"] = new JsonArray([.. _peers.Select(p => (JsonNode)new JsonObject
            {
                ["peer"] = p.Endpoint.ToString(),
                ["lastHeardMsAgo"] = Volatile.Read(ref p.LastHeardMs) is var h and >= 0 ? now - h : null,
                ["received"] = Read(ref p.Received), ["rejected"] = Read(ref p.Rejected), ["restarts"] = Read(ref p.Restarts),
            })]),
        };
        if (samples) o["propagationSamplesUs"] = new JsonArray([.. DelaySamples().Select(x => (JsonNode)x)]);
        return o;
    }

    static long Read(ref long x) => Volatile.Read(ref x);

    /// <summary>Stops both threads (each within about 200 ms) and closes the socket; idempotent. The counters stay readable.</summary>
    public void Dispose()
    {
        if (_stop) return;
        _stop = true;
        _sender?.Join(TimeSpan.FromSeconds(2));
        if (_receiverStarted) _receiver!.Join(TimeSpan.FromSeconds(2));
        _socket?.Dispose();
    }
}
