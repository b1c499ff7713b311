using System.Buffers.Binary;
using System.Security.Cryptography;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Pipeline;
using Switchyard.Dataplane.Datapath.Steering.Pins;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Management.Cluster;
using Switchyard.Management.Options;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Pipeline;

namespace Switchyard.Tests.Cluster;

/// <summary>Flow pins shared between appliances (issue 12 item 4), without namespaces: the sweep that finds the pins
/// the current Maglev table no longer reproduces, a second appliance that places moved flows by them, the pins
/// datagram (round trip, forged, malformed), the shared table's bounds and expiry, the export queue, and the packet
/// path staying allocation-free with pin sharing on.</summary>
public class PinSharingTests
{
    static readonly byte[] Key = Convert.FromHexString("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    static long NowUs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
    const string Vip = "192.0.2.100";

    static string Client(int i) => $"198.51.{100 + (i >> 8 & 0xff)}.{i & 0xff}";
    static byte[] Tcp(int client, TcpFlags flags) =>
        FrameBuilder.Ethernet(PipelineHarness.ClientMac, PipelineHarness.OutsideMac).Ipv4(Client(client), Vip).Tcp(40000, 80, flags).Payload(new byte[10]).PadTo(60).Build();

    /// <summary>The default options with pool "web" grown by w4 (weight 3): about half of the flow hashes change backend.</summary>
    static ApplianceOptions WithAddedBackend()
    {
        var o = PipelineHarness.DefaultOptions();
        var web = o.Pools[0];
        web.Backends = [.. web.Backends, new BackendOptions { Name = "w4", Address = "10.0.0.14", Mac = "02:00:00:00:01:04", Port = "inside", Weight = 3 }];
        return o;
    }

    static List<PinEvent> Drain(PinExportQueue q)
    {
        var list = new List<PinEvent>();
        while (q.TryDequeue(out var e)) list.Add(e);
        return list;
    }

    /// <summary>Runs the sweep over the whole table at least once (two pass ends): bursts of ACKs of the given flows (each sweeps 4 buckets).</summary>
    static void SweepAll(PipelineHarness h, int flows, uint now)
    {
        long passes = h.Counters.Get(GlobalCounter.PinSweepPasses);
        for (int k = 0; h.Counters.Get(GlobalCounter.PinSweepPasses) < passes + 2; k++)
        {
            Assert.True(k < 100_000, "the sweep did not complete two passes");
            h.Send(Tcp(k % flows, TcpFlags.Ack), now);
        }
    }

    [Fact]
    public void The_sweep_exports_exactly_the_pins_maglev_no_longer_reproduces_and_a_peer_places_moved_flows_by_them()
    {
        const int N = 400;
        var queue = new PinExportQueue(4096);
        using var a = new PipelineHarness(flowTableEntries: 8192, sharedPins: new SharedPinTable(1024), pinExport: queue);
        var before = new Dictionary<int, string>();
        for (int i = 0; i < N; i++) before[i] = a.BackendOf(a.Send(Tcp(i, TcpFlags.Syn), now: 1))!;
        Assert.All(before.Values, Assert.NotNull);

        // Unchanged backend set: every pin agrees with Maglev, nothing is exported.
        SweepAll(a, N, 2);
        Assert.Empty(Drain(queue));
        Assert.Equal(0, a.Counters.Get(GlobalCounter.PinsExported));

        // The backend set changes; established flows keep their backend here (pinned)...
        foreach (var (pool, i) in WithAddedBackend().Pools.Select((p, i) => (p, i))) a.Options.Pools[i] = pool;
        a.Republish();
        for (int i = 0; i < N; i++) Assert.Equal(before[i], a.BackendOf(a.Send(Tcp(i, TcpFlags.Ack), now: 3)));
        while (queue.TryDequeue(out _)) { } // a pass may have ended inside those bursts: start from a full pass
        SweepAll(a, N, 4);
        var exported = Drain(queue).DistinctBy(e => e.Hash).ToList();
        // ...and the sweep exports exactly those whose Maglev pick differs now, with their backend and time left.
        var snap = a.Snapshot;
        var table = snap.Pools[0].Maglev;
        Assert.All(exported, e =>
        {
            Assert.NotEqual((int)e.BackendId, table[(uint)e.Hash % (uint)table.Length]);
            Assert.InRange(e.RemainingTicks, 1u, snap.Pools[0].TcpIdleTicks);
        });
        var b = new PipelineHarness(WithAddedBackend()); // a fresh appliance with the new backend set, no shared pins
        int moved = Enumerable.Range(0, N).Count(i => b.BackendOf(b.Send(Tcp(i, TcpFlags.Ack), now: 4)) != before[i]);
        b.Dispose();
        Assert.True(moved > N / 5, $"only {moved} of {N} flows would move: the test's backend change is too small");
        Assert.Equal(moved, exported.Count);

        // Another appliance with the same backend set and the exported pins installed (by name, as the exchange does)
        // sends every moved flow's next segment to the backend it started on, and pins it.
        var shared = new SharedPinTable(1024);
        using var c = new PipelineHarness(WithAddedBackend(), sharedPins: shared);
        foreach (var e in exported)
        {
            string name = snap.Backends[e.BackendId].Name;
            int id = Array.FindIndex(c.Snapshot.Backends, x => x.Name == name);
            shared.Install(e.Hash, (uint)id, 4, e.RemainingTicks);
        }
        for (int i = 0; i < N; i++) Assert.Equal(before[i], c.BackendOf(c.Send(Tcp(i, TcpFlags.Ack), now: 5)));
        Assert.Equal(moved, c.Counters.Get(GlobalCounter.SharedPinHits));
        Assert.Equal(N - moved, c.Counters.Get(GlobalCounter.MaglevSteered));
        // Pinned locally: the next segments are flow-table hits.
        for (int i = 0; i < N; i++) c.Send(Tcp(i, TcpFlags.Ack), now: 6);
        Assert.Equal(moved, c.Counters.Get(GlobalCounter.FlowHits));
        c.AssertCounterInvariants();
        // A SYN never follows a shared pin: a new connection on a reused 5-tuple is steered afresh.
        var syn = c.Send(Tcp(N + 1, TcpFlags.Syn), now: 7);
        Assert.NotNull(c.BackendOf(syn));
    }

    [Fact]
    public void A_shared_pin_to_an_unusable_or_foreign_backend_is_ignored()
    {
        var shared = new SharedPinTable(64);
        var o = PipelineHarness.DefaultOptions();
        o.Pools[0].Backends[0].Enabled = false; // w1 disabled
        using var h = new PipelineHarness(o, sharedPins: shared);
        var frame = Tcp(1, TcpFlags.Ack);
        var q = new PinExportQueue(64);
        ulong hash;
        // The flow hash of client 1, as the pipeline computes it: the sweep exports it once its pin differs from Maglev.
        var o2 = PipelineHarness.DefaultOptions();
        using var p2 = new PipelineHarness(o2, flowTableEntries: 64, sharedPins: new SharedPinTable(64), pinExport: q);
        string first = p2.BackendOf(p2.Send(Tcp(1, TcpFlags.Syn), now: 1))!;
        var other = o2.Pools[0].Backends.First(b => b.Name != first);
        foreach (var b in o2.Pools[0].Backends) b.Weight = b.Name == other.Name ? 1 : 0; // pinned flows stay, Maglev picks `other`
        p2.Republish();
        while (q.TryDequeue(out _)) { }
        for (int k = 0; k < 64 && q.Count == 0; k++) p2.Send(Tcp(1, TcpFlags.Ack), now: 2);
        Assert.True(q.TryDequeue(out var e), "the pin was not exported");
        hash = e.Hash;
        Assert.Equal(first, p2.Snapshot.Backends[e.BackendId].Name);

        // Pinned by a peer to w1, which is disabled here: Maglev decides.
        int w1 = Array.FindIndex(h.Snapshot.Backends, x => x.Name == "w1");
        shared.Install(hash, (uint)w1, 1, 1000);
        Assert.NotEqual("w1", h.BackendOf(h.Send(frame, now: 2)));
        Assert.Equal(0, h.Counters.Get(GlobalCounter.SharedPinHits));
        // Pinned to a backend of another pool (ids are per appliance; a stale id must not cross pools): Maglev decides.
        int k1 = Array.FindIndex(h.Snapshot.Backends, x => x.Name == "k1");
        shared.Install(hash, (uint)k1, 2, 1000);
        Assert.NotEqual("k1", h.BackendOf(h.Send(Tcp(1, TcpFlags.Ack), now: 3)));
        Assert.Equal(0, h.Counters.Get(GlobalCounter.SharedPinHits));
        // Expired: Maglev decides.
        int w2 = Array.FindIndex(h.Snapshot.Backends, x => x.Name == "w2");
        shared.Install(hash, (uint)w2, 3, 10);
        Assert.False(shared.TryLookup(hash, 13, out _));
        Assert.True(shared.TryLookup(hash, 12, out uint got));
        Assert.Equal((uint)w2, got);
    }

    [Fact]
    public void The_shared_table_is_bounded_refreshes_replaces_the_soonest_expiring_and_expires()
    {
        var t = new SharedPinTable(4);
        Assert.Equal(4, t.Capacity);
        Assert.Equal(PinInstall.Inserted, t.Install(1UL << 32, 1, 100, 50));
        Assert.Equal(PinInstall.Refreshed, t.Install(1UL << 32, 2, 100, 60));
        Assert.True(t.TryLookup(1UL << 32, 159, out uint id));
        Assert.Equal(2u, id);
        Assert.False(t.TryLookup(1UL << 32, 160, out _));
        for (ulong h = 2; h <= 4; h++) Assert.Equal(PinInstall.Inserted, t.Install(h << 32, (uint)h, 100, (uint)(100 + h)));
        Assert.Equal(4, t.Count(100));
        // Full: the soonest-expiring (1, 60 ticks) makes room.
        Assert.Equal(PinInstall.Replaced, t.Install(9UL << 32, 9, 100, 1000));
        Assert.Equal(4, t.Count(100));
        Assert.False(t.TryLookup(1UL << 32, 100, out _));
        Assert.True(t.TryLookup(9UL << 32, 100, out id));
        Assert.Equal(9u, id);
        // Expired slots are free again.
        Assert.Equal(1, t.Count(1099));
        Assert.Equal(PinInstall.Inserted, t.Install(5UL << 32, 5, 1099, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SharedPinTable(0));
        // Many more pins than slots: never more live than the capacity.
        var big = new SharedPinTable(1024);
        for (ulong h = 0; h < 100_000; h++) big.Install(h * 0x9E3779B97F4A7C15UL, 1, 1, 1000);
        Assert.Equal(1024, big.Count(1));
    }

    [Fact]
    public async Task Readers_never_see_a_half_written_pin()
    {
        var t = new SharedPinTable(64);
        const ulong hash = 0x1234_5678_0000_0001UL;
        using var stop = new CancellationTokenSource();
        long bad = 0, seen = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
                if (t.TryLookup(hash, 1, out uint id))
                {
                    Interlocked.Increment(ref seen);
                    if (id is not (7 or 8)) Interlocked.Increment(ref bad);
                }
        })).ToArray();
        // Rewrite until the readers have looked many times (they may start late on a loaded machine), at most 30 s.
        var until = DateTime.UtcNow.AddSeconds(30);
        for (int i = 0; Interlocked.Read(ref seen) < 100_000 && (i % 1024 != 0 || DateTime.UtcNow < until); i++)
        {
            t.Install(hash, 7, 1, 1000);
            t.Install(hash ^ 0x40, 99, 1, 1000); // same group, other key: must never be answered for hash
            t.Install(hash, 8, 1, 1000);
        }
        stop.Cancel();
        await Task.WhenAll(readers);
        Assert.Equal(0, bad);
        Assert.True(seen > 0);
    }

    [Fact]
    public void The_export_queue_is_fifo_and_counts_overflows()
    {
        var q = new PinExportQueue(4);
        for (uint i = 0; i < 4; i++) Assert.True(q.TryEnqueue(i, i + 10, i + 20));
        Assert.False(q.TryEnqueue(99, 0, 1));
        Assert.Equal(1, q.Overflows);
        for (uint i = 0; i < 4; i++)
        {
            Assert.True(q.TryDequeue(out var e));
            Assert.Equal((i, i + 10, i + 20), ((uint)e.Hash, e.BackendId, e.RemainingTicks));
        }
        Assert.False(q.TryDequeue(out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PinExportQueue(3));
    }

    [Fact]
    public void The_exchange_status_with_pins_renders_as_text_and_metrics()
    {
        var o = new ClusterOptions { Enabled = true, Listen = "127.0.0.1:1", Peers = ["127.0.0.1:2"] };
        var shared = new SharedPinTable(64);
        shared.Install(1, 0, Switchyard.Dataplane.Datapath.Worker.DataplaneClock.Now, 60_000);
        using var sync = new TokenSync(o, Key, 600_000, null, [], () => BackendNames.Empty, _ => { }, shared, [new PinExportQueue(64)]);
        var status = sync.StatusJson();
        Assert.Equal(1, status["pins"]!["live"]!.GetValue<long>());
        Assert.Contains("flow pins", ClusterText.Format(status));
        var w = new Switchyard.Management.Observability.PrometheusWriter();
        ClusterMetrics.Write(w, status);
        string page = w.ToString();
        Assert.Contains("switchyard_cluster_pins_live 1", page);
        Assert.Contains("switchyard_cluster_pins_total{result=\"installed\"} 0", page);
    }

    // ------------------------------------------------------------------ the pins datagram

    static byte[] PinsDatagram(params PinEntry[] pins)
    {
        var w = new TokenSyncCodec.Writer(1400);
        foreach (var p in pins) Assert.True(w.TryAddPin(p));
        return w.Finish(SyncMessageType.Pins, 5, 1, NowUs(), Key);
    }

    static byte[] Resign(byte[] d, Action<byte[]> edit)
    {
        var c = (byte[])d.Clone();
        edit(c);
        HMACSHA256.HashData(Key, c.AsSpan(0, c.Length - 32), c.AsSpan(c.Length - 32));
        return c;
    }

    [Fact]
    public void A_pins_datagram_round_trips_by_backend_name()
    {
        var d = PinsDatagram(new PinEntry(0xFEDC_BA98_7654_3210UL, "web/b3", 299_000), new PinEntry(1, "web/b0", 1), new PinEntry(2, "web/b3", uint.MaxValue));
        Assert.Equal(TokenSyncCodec.Refusal.None, TokenSyncCodec.TryParse(d, Key, out var m, out var why));
        Assert.Equal("", why);
        Assert.Equal(SyncMessageType.Pins, m!.Type);
        Assert.Empty(m.Entries);
        Assert.Equal([new PinEntry(0xFEDC_BA98_7654_3210UL, "web/b3", 299_000), new PinEntry(1, "web/b0", 1), new PinEntry(2, "web/b3", uint.MaxValue)], m.Pins);
        // Writers keep tokens and pins apart.
        var w = new TokenSyncCodec.Writer(1400);
        Assert.True(w.TryAddPin(new PinEntry(1, "web/b0", 5)));
        Assert.Throws<InvalidOperationException>(() => w.TryAdd(new SyncEntry(SyncOp.Live, true, 1, "web/b0", 0)));
        Assert.Throws<InvalidOperationException>(() => w.Finish(SyncMessageType.Tokens, 1, 1, NowUs(), Key));
        Assert.Throws<ArgumentException>(() => new TokenSyncCodec.Writer(1400).TryAddPin(new PinEntry(1, "web/b0", 0)));
        // Full datagrams stay within the size.
        var full = new TokenSyncCodec.Writer(1400);
        int n = 0;
        while (full.TryAddPin(new PinEntry((ulong)n, "web/b" + (n % 4), 1000))) n++;
        Assert.True(full.Finish(SyncMessageType.Pins, 1, 1, NowUs(), Key).Length <= 1400);
        Assert.True(n > 80, $"{n} pins per datagram");
    }

    [Fact]
    public void Forged_and_malformed_pins_datagrams_are_refused_with_a_reason()
    {
        var d = PinsDatagram(new PinEntry(42, "web/b0", 1000));
        int entry = TokenSyncCodec.HeaderBytes + 1 + "web/b0".Length;
        // Forged: altered without the key, or signed with another key.
        var altered = (byte[])d.Clone();
        altered[entry + 9] ^= 1; // the flow hash
        Assert.Equal(TokenSyncCodec.Refusal.BadMac, TokenSyncCodec.TryParse(altered, Key, out _, out _));
        Assert.Equal(TokenSyncCodec.Refusal.BadMac, TokenSyncCodec.TryParse(d, RandomNumberGenerator.GetBytes(32), out _, out _));
        // Structure behind a valid MAC.
        (Action<byte[]> Edit, string Reason)[] cases =
        [
            (c => c[entry] = (byte)SyncOp.Live, "op"),
            (c => c[entry + 1] = 3, "name index"),
            (c => BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(entry + 10), 0), "no idle time left"),
            (c => BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(6), 2), "entries need"),
            (c => c[5] = 9, "unknown type"),
        ];
        foreach (var (edit, reason) in cases)
        {
            Assert.Equal(TokenSyncCodec.Refusal.Malformed, TokenSyncCodec.TryParse(Resign(d, edit), Key, out var m, out var why));
            Assert.Null(m);
            Assert.Contains(reason, why);
        }
        // Truncated (no re-signing possible for the missing tail): refused, never a crash.
        for (int len = 0; len < d.Length; len++) Assert.NotEqual(TokenSyncCodec.Refusal.None, TokenSyncCodec.TryParse(d.AsSpan(0, len), Key, out _, out _));
    }

    [Fact]
    public void Processing_with_pin_sharing_on_allocates_nothing()
    {
        var queue = new PinExportQueue(64); // small: overflows are part of what is measured
        var shared = new SharedPinTable(1024);
        using var h = new PipelineHarness(flowTableEntries: 1024, sharedPins: shared, pinExport: queue);
        var frames = new List<byte[]>();
        for (int i = 0; i < 64; i++) frames.Add(Tcp(i, TcpFlags.Syn));
        for (int i = 0; i < 64; i++) frames.Add(Tcp(i, TcpFlags.Ack));
        for (int i = 64; i < 128; i++) frames.Add(Tcp(i, TcpFlags.Ack)); // misses: shared-pin lookups
        h.Send(frames, now: 1);
        foreach (var (pool, i) in WithAddedBackend().Pools.Select((p, i) => (p, i))) h.Options.Pools[i] = pool;
        h.Republish(); // pins now differ from Maglev: the sweep exports
        using var port = new MemoryPort(frames);
        using var burst = new Burst();
        int bursts = frames.Count / Burst.Size;
        uint now = 2;
        void Run(int n)
        {
            for (int k = 0; k < n; k++)
            {
                int first = k % bursts * Burst.Size;
                port.Reset(first, Burst.Size);
                port.Receive(burst, first, Burst.Size);
                h.Processor.Process(burst, PipelineHarness.Outside, now++);
            }
        }
        Run(300);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(1000);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(h.Counters.Get(GlobalCounter.PinsExported) > 0);
        Assert.True(h.Counters.Get(GlobalCounter.PinExportOverflows) > 0);
    }
}
