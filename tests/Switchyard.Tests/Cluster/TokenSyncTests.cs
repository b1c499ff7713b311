using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Management.Cluster;
using Switchyard.Management.Options;
using static Switchyard.Tests.Config.ConfigFixtures;

namespace Switchyard.Tests.Cluster;

/// <summary>Learned tokens shared between appliances (issue 12, item 2), without namespaces: the datagram codec
/// (malformed, forged, replayed), the replay window, the workers' export queue, collided installs, the Cluster
/// section's validation, and two or three exchanges talking over loopback UDP.</summary>
public class TokenSyncTests
{
    static readonly byte[] Key = Convert.FromHexString("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    static long NowUs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    static byte[] Datagram(byte[] key, ulong epoch = 7, ulong seq = 1, long? ts = null, params SyncEntry[] entries)
    {
        var w = new TokenSyncCodec.Writer(1400);
        foreach (var e in entries) Assert.True(w.TryAdd(e));
        return w.Finish(SyncMessageType.Tokens, epoch, seq, ts ?? NowUs(), key);
    }

    /// <summary>Re-signs a datagram after editing it (to test the structure checks behind the MAC).</summary>
    static byte[] Resign(byte[] d, Action<byte[]> edit, byte[]? key = null)
    {
        var c = (byte[])d.Clone();
        edit(c);
        HMACSHA256.HashData(key ?? Key, c.AsSpan(0, c.Length - 32), c.AsSpan(c.Length - 32));
        return c;
    }

    [Fact]
    public void A_datagram_round_trips_with_its_entries_and_names()
    {
        var d = Datagram(Key, 42, 9, 1234, new SyncEntry(SyncOp.Live, true, 0xDEADBEEF, "web/b0", 15),
            new SyncEntry(SyncOp.Collided, false, 7, null, 1000), new SyncEntry(SyncOp.Forgotten, false, 8, "web/b0", 0),
            new SyncEntry(SyncOp.Live, false, 9, "wéb/b1", ulong.MaxValue));
        Assert.Equal(TokenSyncCodec.HeaderBytes + 2 * 7 + 4 * TokenSyncCodec.EntryBytes + 32 + 1, d.Length); // "wéb/b1" is 7 bytes
        Assert.Equal(TokenSyncCodec.Refusal.None, TokenSyncCodec.TryParse(d, Key, out var m, out var why));
        Assert.Equal("", why);
        Assert.Equal((SyncMessageType.Tokens, 42UL, 9UL, 1234L), (m!.Type, m.Epoch, m.Sequence, m.TimestampMicroseconds));
        Assert.Equal(new SyncEntry(SyncOp.Live, true, 0xDEADBEEF, "web/b0", 15), m.Entries[0]);
        Assert.Equal(new SyncEntry(SyncOp.Collided, false, 7, null, 1000), m.Entries[1]);
        Assert.Equal(new SyncEntry(SyncOp.Forgotten, false, 8, "web/b0", 0), m.Entries[2]);
        Assert.Equal(new SyncEntry(SyncOp.Live, false, 9, "wéb/b1", ulong.MaxValue), m.Entries[3]);
    }

    [Fact]
    public void A_writer_fills_a_datagram_to_its_size_and_no_further()
    {
        var w = new TokenSyncCodec.Writer(1400);
        int n = 0;
        while (w.TryAdd(new SyncEntry(SyncOp.Live, false, (uint)n, "web/b" + (n % 3), 0))) n++;
        var d = w.Finish(SyncMessageType.Tokens, 1, 1, NowUs(), Key);
        Assert.True(d.Length <= 1400 && d.Length > 1400 - TokenSyncCodec.EntryBytes, $"{d.Length} bytes");
        Assert.Equal(TokenSyncCodec.Refusal.None, TokenSyncCodec.TryParse(d, Key, out var m, out _));
        Assert.Equal(n, m!.Entries.Count);
        Assert.Equal(93, n); // (1400 - 33 - 32 - 3 names of 7 bytes) / 14
    }

    [Fact]
    public void Forged_datagrams_are_refused_as_bad_mac()
    {
        var d = Datagram(Key, entries: new SyncEntry(SyncOp.Live, false, 1, "web/b0", 0));
        var otherKey = (byte[])Key.Clone(); otherKey[0] ^= 1;
        Assert.Equal(TokenSyncCodec.Refusal.BadMac, TokenSyncCodec.TryParse(d, otherKey, out _, out _));
        for (int i = 4; i < d.Length; i++) // any altered byte after the magic (including the MAC itself)
        {
            var f = (byte[])d.Clone(); f[i] ^= 0x40;
            Assert.Equal(TokenSyncCodec.Refusal.BadMac, TokenSyncCodec.TryParse(f, Key, out _, out _));
        }
        Assert.Equal(TokenSyncCodec.Refusal.BadMac, TokenSyncCodec.TryParse(Datagram(otherKey), Key, out _, out _));
    }

    [Theory]
    [InlineData("short")]
    [InlineData("magic")]
    [InlineData("version")]
    [InlineData("type")]
    [InlineData("count")]
    [InlineData("nameindex")]
    [InlineData("op")]
    [InlineData("namelength")]
    [InlineData("trailing")]
    public void Malformed_datagrams_are_refused_with_a_reason_even_when_signed(string what)
    {
        var d = Datagram(Key, entries: new SyncEntry(SyncOp.Live, false, 1, "web/b0", 0));
        int entry = TokenSyncCodec.HeaderBytes + 1 + 6;
        byte[] bad = what switch
        {
            "short" => d[..40],
            "magic" => Resign(d, c => c[0] = (byte)'X'),
            "version" => Resign(d, c => c[4] = 2),
            "type" => Resign(d, c => c[5] = 9),
            "count" => Resign(d, c => BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(6), 2)),
            "nameindex" => Resign(d, c => c[entry + 1] = 3),
            "op" => Resign(d, c => c[entry] = 9),
            "namelength" => Resign(d, c => c[TokenSyncCodec.HeaderBytes] = 200),
            "trailing" => Resign([.. d[..^32], 0, .. d[^32..]], _ => { }),
            _ => throw new ArgumentException(what),
        };
        Assert.Equal(TokenSyncCodec.Refusal.Malformed, TokenSyncCodec.TryParse(bad, Key, out var m, out var why));
        Assert.Null(m);
        Assert.NotEqual("", why);
    }

    [Fact]
    public void The_replay_window_accepts_each_datagram_once_and_an_old_run_never_after_a_restart()
    {
        var w = new ReplayWindow();
        long now = NowUs(), skew = 30_000_000;
        Assert.Equal(ReplayWindow.Verdict.Accepted, w.Check(1, 10, now, now, skew));
        Assert.Equal(ReplayWindow.Verdict.Replay, w.Check(1, 10, now, now, skew));         // the same again
        Assert.Equal(ReplayWindow.Verdict.Accepted, w.Check(1, 12, now + 2, now, skew));
        Assert.Equal(ReplayWindow.Verdict.Accepted, w.Check(1, 11, now + 1, now, skew));    // reordered within the window: once
        Assert.Equal(ReplayWindow.Verdict.Replay, w.Check(1, 11, now + 1, now, skew));
        Assert.Equal(ReplayWindow.Verdict.Accepted, w.Check(1, 100, now + 3, now, skew));
        Assert.Equal(ReplayWindow.Verdict.Replay, w.Check(1, 20, now + 3, now, skew));      // fell out of the 64-wide window
        Assert.Equal(ReplayWindow.Verdict.Stale, w.Check(1, 101, now - 31_000_000, now, skew));
        Assert.Equal(ReplayWindow.Verdict.Stale, w.Check(1, 102, now + 31_000_000, now, skew));
        // The peer restarts (new epoch): accepted only with a newer timestamp than anything seen from it.
        Assert.Equal(ReplayWindow.Verdict.Replay, w.Check(2, 1, now + 3, now, skew));
        Assert.Equal(ReplayWindow.Verdict.AcceptedNewEpoch, w.Check(2, 1, now + 10, now, skew));
        // ... after which the old run's datagrams are replays.
        Assert.Equal(ReplayWindow.Verdict.Replay, w.Check(1, 101, now + 5, now, skew));
        Assert.Equal(ReplayWindow.Verdict.Accepted, w.Check(2, 2, now + 11, now, skew));
    }

    [Fact]
    public void The_export_queue_keeps_order_counts_overflow_and_loses_nothing_between_two_threads()
    {
        var q = new TokenExportQueue(8);
        for (uint i = 0; i < 8; i++) Assert.True(q.TryEnqueue(TokenEventKind.Learned, i, i + 100));
        Assert.False(q.TryEnqueue(TokenEventKind.Learned, 99, 1));
        Assert.False(q.TryEnqueue(TokenEventKind.Forgotten, 98, 1));
        Assert.Equal(2, q.Overflows);
        for (uint i = 0; i < 8; i++)
        {
            Assert.True(q.TryDequeue(out var e));
            Assert.Equal((TokenEventKind.Learned, i, i + 100), (e.Kind, e.Token, e.BackendId));
        }
        Assert.False(q.TryDequeue(out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenExportQueue(12));

        // One producer, one consumer: every accepted event arrives once, in order; refused ones are counted.
        var big = new TokenExportQueue(256);
        const int N = 300_000;
        long accepted = 0;
        var producer = new Thread(() => { for (uint i = 0; i < N; i++) if (big.TryEnqueue(TokenEventKind.Learned, i, i ^ 0x5555)) accepted++; });
        producer.Start();
        long received = 0; uint last = 0; bool first = true;
        while (producer.IsAlive || big.Count > 0)
            while (big.TryDequeue(out var e))
            {
                Assert.Equal(e.Token ^ 0x5555, e.BackendId); // never a torn or half-written slot
                Assert.True(first || e.Token > last);
                first = false; last = e.Token; received++;
            }
        producer.Join();
        while (big.TryDequeue(out _)) received++;
        Assert.Equal(accepted, received);
        Assert.Equal(N, accepted + big.Overflows);
    }

    [Fact]
    public void A_token_reported_collided_by_a_peer_is_installed_collided_or_turns_a_live_entry_collided()
    {
        using var t = new LearnedTokenTable(1024, 10_000, seed: 1);
        Assert.Equal(LearnResult.Learned, t.LearnCollided(5, 100, 10_000));
        Assert.Equal(TokenLookup.Collided, t.Lookup(5, 101, 10_000, out _));
        Assert.Equal(LearnResult.StillCollided, t.LearnCollided(5, 102, 10_000));
        Assert.Equal(0, t.Collisions); // installed collided: counted where it happened
        Assert.Equal(LearnResult.Learned, t.Learn(6, 3, 100));
        Assert.Equal(LearnResult.Collision, t.LearnCollided(6, 101, 10_000));
        Assert.Equal(1, t.Collisions);
        Assert.Equal(TokenLookup.Collided, t.Lookup(6, 102, 10_000, out _));
        Assert.Equal(1, t.SlotsHolding(6));
        var seen = new List<(uint, uint, bool, uint)>();
        t.ForEachEntry(150, 10_000, (tok, id, col, age) => seen.Add((tok, id, col, age)));
        Assert.Equal([(5u, 0u, true, 48u), (6u, 0u, true, 49u)], seen.OrderBy(x => x.Item1).ToList());
    }

    // ------------------------------------------------------------------ configuration

    static readonly string[] ValidCluster =
    [
        "--Vips:0:Joins:0=learned-token", "--Cluster:Enabled=true", "--Cluster:Listen=192.0.2.1:7946",
        "--Cluster:Peers:0=192.0.2.2:7946", "--Cluster:Key=000102030405060708090a0b0c0d0e0f",
    ];

    [Fact]
    public void A_valid_cluster_section_loads_with_its_defaults()
    {
        var o = Load(ValidJson, ValidCluster).Options;
        Assert.True(o.Cluster.Enabled);
        Assert.Equal(10, o.Cluster.ResyncSeconds);
        Assert.Equal(16384, o.Cluster.QueueCapacity);
        Assert.Equal(16, TokenSync.LoadKey(o.Cluster).Length);
    }

    [Theory]
    [InlineData("Cluster:Listen=192.0.2.1", "Cluster.Listen", "ADDRESS:PORT")]
    [InlineData("Cluster:Listen=fd00::1:7946", "Cluster.Listen", "ADDRESS:PORT")]
    [InlineData("Cluster:Peers:0=peer", "Cluster.Peers[0]", "ADDRESS:PORT")]
    [InlineData("Cluster:Peers:0=192.0.2.1:7946", "Cluster.Peers[0]", "own Cluster.Listen")]
    [InlineData("Cluster:Peers:0=[fd00::2]:7946", "Cluster.Peers[0]", "address family")]
    [InlineData("Cluster:Key=0011", "Cluster.Key", "at least 16")]
    [InlineData("Cluster:Key=zz0102030405060708090a0b0c0d0e0f", "Cluster.Key", "hex digits")]
    [InlineData("Cluster:KeyFile=/nonexistent/cs-key", "Cluster.KeyFile", "exactly one")]
    [InlineData("Cluster:ResyncSeconds=0", "Cluster.ResyncSeconds", "at least 1")]
    [InlineData("Cluster:ResyncSeconds=400", "Cluster.ResyncSeconds", "half of Mptcp.LearnedTokenIdleTimeoutSeconds")]
    [InlineData("Cluster:FlushMilliseconds=0", "Cluster.FlushMilliseconds", "1..1000")]
    [InlineData("Cluster:QueueCapacity=1000", "Cluster.QueueCapacity", "power of two")]
    [InlineData("Cluster:MaxDatagramsPerSecond=1", "Cluster.MaxDatagramsPerSecond", "10..1000000")]
    [InlineData("Cluster:MaxReceivePerSecond=0", "Cluster.MaxReceivePerSecond", "10..1000000")]
    [InlineData("Cluster:MaxClockSkewSeconds=0", "Cluster.MaxClockSkewSeconds", "1..3600")]
    [InlineData("Cluster:MaxDatagramBytes=100", "Cluster.MaxDatagramBytes", "256..8192")]
    [InlineData("Cluster:Enable=true", "Cluster.Enable", "unknown setting")]
    [InlineData("Cluster:SharedPinCapacity=10", "Cluster.SharedPinCapacity", "64..67108864")]
    [InlineData("Cluster:PinSweepBucketsPerBurst=0", "Cluster.PinSweepBucketsPerBurst", "1..4096")]
    public void Each_cluster_mistake_is_reported_at_its_exact_path(string setting, string path, string reason)
    {
        var errors = Errors(ValidJson, [.. ValidCluster, $"--{setting}"]);
        var e = Assert.Single(errors);
        Assert.Equal(path, e.Path);
        Assert.Contains(reason, e.Reason);
    }

    [Fact]
    public void A_key_file_is_read_and_checked_and_sharing_needs_a_learned_token_vip()
    {
        var file = Path.Combine(Path.GetTempPath(), $"cs-key-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllText(file, "0001020304050607\n08090a0b0c0d0e0f\n");
            var args = ValidCluster.Where(a => !a.StartsWith("--Cluster:Key=", StringComparison.Ordinal)).Append($"--Cluster:KeyFile={file}").ToArray();
            Assert.Equal(Convert.FromHexString("000102030405060708090a0b0c0d0e0f"), TokenSync.LoadKey(Load(ValidJson, args).Options.Cluster));
            File.WriteAllText(file, "0001");
            Assert.Contains(Errors(ValidJson, args), e => e.Path == "Cluster.KeyFile" && e.Reason.Contains("at least 16"));
        }
        finally { File.Delete(file); }
        // Without a learned-token VIP the exchange still shares flow pins (issue 12 item 4); with that off too, nothing is left.
        Assert.False(Load(ValidJson, ValidCluster).Options.Cluster.SharePins); // off by default
        Assert.True(Load(ValidJson, [.. ValidCluster.Skip(1), "--Cluster:SharePins=true"]).Options.Cluster.SharePins);
        var noLearned = Errors(ValidJson, [.. ValidCluster.Skip(1), "--Cluster:SharePins=false"]);
        Assert.Contains(noLearned, e => e.Path == "Cluster.Enabled" && e.Reason.Contains("learned-token"));
    }

    // ------------------------------------------------------------------ exchanges over loopback

    sealed class Node : IDisposable
    {
        public required LearnedTokenTable Table;
        public required TokenExportQueue Queue;
        public required TokenSync Sync;
        public required BackendNames Names;
        public readonly List<string> Log = new();
        public void Dispose() { Sync.Dispose(); Table.Dispose(); }
        public int Id(string backend) => Names.TryGetId("web/" + backend, out int id) ? id : throw new ArgumentException(backend);
        public TokenLookup Lookup(uint token, out uint id) => Table.Lookup(token, DataplaneClock.Now, Table.IdleTicks, out id);
    }

    static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    /// <summary>An exchange on 127.0.0.1:port with the given peers; backends named in <paramref name="order"/> get ids 0, 1, ...
    /// (different orders on different nodes show that the wire carries names, not ids).</summary>
    static Node Start(int port, int[] peers, string[] order, int resyncSeconds = 60, byte[]? key = null)
    {
        var o = new ClusterOptions
        {
            Enabled = true, Listen = $"127.0.0.1:{port}", Peers = [.. peers.Select(p => $"127.0.0.1:{p}")], ResyncSeconds = resyncSeconds,
            QueueCapacity = 1024,
        };
        var table = new LearnedTokenTable(1 << 12, 600_000);
        var queue = new TokenExportQueue(o.QueueCapacity);
        var names = new BackendNames(1, order.Select((n, i) => ("web", n, i)));
        var log = new List<string>();
        var sync = new TokenSync(o, key ?? Key, table.IdleTicks, table, [queue], () => names, m => { lock (log) log.Add(m); });
        sync.Start();
        return new Node { Table = table, Queue = queue, Sync = sync, Names = names };
    }

    static void WaitUntil(Func<bool> condition, string what, int seconds = 60)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"not reached within {seconds} s: {what}");
            Thread.Sleep(5);
        }
    }

    static long Stat(Node n, string path)
    {
        System.Text.Json.Nodes.JsonNode node = n.Sync.StatusJson();
        foreach (var p in path.Split('.')) node = node[p]!;
        return node.GetValue<long>();
    }

    /// <summary>What a worker does on a learn: the shared table, then its export queue.</summary>
    static void WorkerLearns(Node n, uint token, string backend)
    {
        Assert.Equal(LearnResult.Learned, n.Table.Learn(token, (uint)n.Id(backend), DataplaneClock.Now));
        Assert.True(n.Queue.TryEnqueue(TokenEventKind.Learned, token, (uint)n.Id(backend)));
    }

    [Fact]
    public void Learned_tokens_collisions_and_forgets_reach_the_peers_by_backend_name()
    {
        int pa = FreeUdpPort(), pb = FreeUdpPort(), pc = FreeUdpPort();
        using var a = Start(pa, [pb, pc], ["b0", "b1", "b2"]);
        using var b = Start(pb, [pa, pc], ["b2", "b1", "b0"]);
        using var c = Start(pc, [pa, pb], ["b1", "b2", "b0"]);
        // Each hears the others (hello, then the resync every hello asks for).
        WaitUntil(() => new[] { a, b, c }.All(n => n.Sync.StatusJson()["peers"]!.AsArray().All(p => p!["lastHeardMsAgo"] is not null)), "all peers heard");

        WorkerLearns(a, 0x1111, "b0");
        WaitUntil(() => b.Lookup(0x1111, out _) == TokenLookup.Found && c.Lookup(0x1111, out _) == TokenLookup.Found, "token on b and c");
        Assert.Equal(TokenLookup.Found, b.Lookup(0x1111, out uint onB));
        Assert.Equal(b.Id("b0"), (int)onB);
        Assert.Equal(TokenLookup.Found, c.Lookup(0x1111, out uint onC));
        Assert.Equal(c.Id("b0"), (int)onC);
        WaitUntil(() => Stat(b, "propagationUs.samples") >= 1, "a propagation delay measured");

        // The same token learned on c for another backend: a collision on c (its own learn) and, through the exchange,
        // on a and b as well (counted as collisions there), so no appliance places joins for it.
        Assert.Equal(LearnResult.Collision, c.Table.Learn(0x1111, (uint)c.Id("b1"), DataplaneClock.Now));
        Assert.True(c.Queue.TryEnqueue(TokenEventKind.Collided, 0x1111, (uint)c.Id("b1")));
        WaitUntil(() => a.Lookup(0x1111, out _) == TokenLookup.Collided && b.Lookup(0x1111, out _) == TokenLookup.Collided, "collided everywhere");
        Assert.Equal(1, Stat(a, "collisions"));
        Assert.Equal(1, Stat(b, "collisions"));

        // A collision across appliances without any local one: b and c learn 0x2222 for different backends.
        WorkerLearns(b, 0x2222, "b1");
        WorkerLearns(c, 0x2222, "b2");
        WaitUntil(() => new[] { a, b, c }.All(n => n.Lookup(0x2222, out _) == TokenLookup.Collided), "cross-appliance collision detected everywhere");

        // A forget (the connection's initial subflow ended) removes the peers' copies.
        WorkerLearns(a, 0x3333, "b2");
        WaitUntil(() => b.Lookup(0x3333, out _) == TokenLookup.Found && c.Lookup(0x3333, out _) == TokenLookup.Found, "0x3333 shared");
        Assert.True(a.Table.Forget(0x3333, (uint)a.Id("b2")));
        Assert.True(a.Queue.TryEnqueue(TokenEventKind.Forgotten, 0x3333, (uint)a.Id("b2")));
        WaitUntil(() => b.Lookup(0x3333, out _) == TokenLookup.NotFound && c.Lookup(0x3333, out _) == TokenLookup.NotFound, "0x3333 forgotten everywhere");
        Assert.Equal(0, Stat(a, "rejected.badMac") + Stat(a, "rejected.replay") + Stat(a, "rejected.malformed"));
    }

    [Fact]
    public void A_restarted_peer_gets_the_live_tokens_back_and_a_lost_update_is_repaired_by_the_resync()
    {
        int pa = FreeUdpPort(), pb = FreeUdpPort();
        using var a = Start(pa, [pb], ["b0", "b1"], resyncSeconds: 1);
        var b = Start(pb, [pa], ["b1", "b0"], resyncSeconds: 1);
        try
        {
            for (uint t = 1; t <= 500; t++) WorkerLearns(a, 0xA000_0000 + t, t % 2 == 0 ? "b0" : "b1");
            WaitUntil(() => b.Table.Count(DataplaneClock.Now, b.Table.IdleTicks) == 500, "500 tokens on b");

            // b restarts with an empty table (a new process: a new epoch): it asks, a answers with its table.
            b.Dispose();
            b = Start(pb, [pa], ["b1", "b0"], resyncSeconds: 1);
            WaitUntil(() => b.Table.Count(DataplaneClock.Now, b.Table.IdleTicks) == 500, "500 tokens back on the restarted b");
            Assert.Equal(TokenLookup.Found, b.Lookup(0xA000_0002, out uint id));
            Assert.Equal(b.Id("b0"), (int)id);
            WaitUntil(() => a.Sync.StatusJson()["peers"]![0]!["restarts"]!.GetValue<long>() >= 1, "a saw b's restart");

            // A token a learns without telling the exchange (as when its queue overflowed or the datagram was lost)
            // reaches b with the next periodic re-announcement.
            Assert.Equal(LearnResult.Learned, a.Table.Learn(0xBBBB, (uint)a.Id("b1"), DataplaneClock.Now));
            WaitUntil(() => b.Lookup(0xBBBB, out _) == TokenLookup.Found, "the resync carried the unannounced token");
        }
        finally { b.Dispose(); }
    }

    [Fact]
    public void Forged_replayed_malformed_and_unknown_source_datagrams_are_counted_and_install_nothing()
    {
        int pa = FreeUdpPort(), pb = FreeUdpPort();
        using var b = Start(pb, [pa], ["b0", "b1"]);
        var from = new IPEndPoint(IPAddress.Loopback, pa);
        var good = Datagram(Key, 99, 1, null, new SyncEntry(SyncOp.Live, false, 0x77, "web/b1", 0));
        var forged = Datagram(Convert.FromHexString("ffeeddccbbaa99887766554433221100"), 99, 2, null, new SyncEntry(SyncOp.Live, false, 0x78, "web/b1", 0));
        b.Sync.Receive(forged, from);
        b.Sync.Receive(good[..50], from);
        b.Sync.Receive(good, new IPEndPoint(IPAddress.Loopback, pb + 1 == pa ? pa + 1 : pb + 1)); // not a configured peer
        b.Sync.Receive(Datagram(Key, 99, 3, NowUs() - 120_000_000, new SyncEntry(SyncOp.Live, false, 0x79, "web/b1", 0)), from); // 2 minutes old
        Assert.Equal(TokenLookup.NotFound, b.Lookup(0x77, out _));
        b.Sync.Receive(good, from);
        Assert.Equal(TokenLookup.Found, b.Lookup(0x77, out uint id));
        Assert.Equal(b.Id("b1"), (int)id);
        Assert.True(b.Table.Forget(0x77, id));
        b.Sync.Receive(good, from); // the same datagram again: refused, the token stays forgotten
        Assert.Equal(TokenLookup.NotFound, b.Lookup(0x77, out _));
        b.Sync.Receive(Datagram(Key, 99, 4, null, new SyncEntry(SyncOp.Live, false, 0x7A, "web/nope", 0)), from);
        Assert.Equal(TokenLookup.NotFound, b.Lookup(0x78, out _));
        Assert.Equal(TokenLookup.NotFound, b.Lookup(0x79, out _));
        Assert.Equal(TokenLookup.NotFound, b.Lookup(0x7A, out _));
        Assert.Equal(1, Stat(b, "rejected.badMac"));
        Assert.Equal(1, Stat(b, "rejected.malformed"));
        Assert.Equal(1, Stat(b, "rejected.unknownPeer"));
        Assert.Equal(2, Stat(b, "rejected.replay")); // the stale one and the replayed one
        Assert.Equal(1, Stat(b, "unknownBackend"));
        Assert.Equal(1, Stat(b, "installed"));
    }
}
