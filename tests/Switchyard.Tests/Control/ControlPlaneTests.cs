using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Management.Control;
using Switchyard.Management.Options;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Pipeline;
using Xunit.Abstractions;

namespace Switchyard.Tests.Control;

/// <summary>The one change path: ControlPlane + SnapshotCompiler + the real BurstProcessor on plain memory.</summary>
public class ControlPlaneTests(ITestOutputHelper output)
{
    static BackendOptions B(string name, string address, string mac, int weight = 1) =>
        new() { Name = name, Address = address, Mac = mac, Port = "inside", Weight = weight };

    [Fact]
    public void Removing_one_of_n_backends_moves_about_one_nth_of_the_buckets_and_only_the_removed_ones_elsewhere()
    {
        const int n = 10;
        using var h = new ControlHarness(o =>
        {
            o.Pools[0].MaglevSize = 65537;
            o.Pools[0].Backends = [.. Enumerable.Range(1, n).Select(i => B($"w{i}", $"10.0.0.{10 + i}", $"02:00:00:00:01:{i:x2}"))];
        });
        var before = h.Control.Current.Pools[0].Maglev;
        int removedId = h.Control.Current.Backends.ToList().FindIndex(b => b.Name == "w4");
        Assert.True(h.Control.RemoveBackend("web", "w4").Ok);
        var after = h.Control.Current.Pools[0].Maglev;
        int moved = 0, movedOthers = 0;
        for (int i = 0; i < before.Length; i++)
            if (before[i] != after[i]) { moved++; if (before[i] != removedId) movedOthers++; }
        double fraction = (double)moved / before.Length;
        output.WriteLine($"removing 1 of {n}: {fraction:P2} of {before.Length} buckets moved (ideal {1.0 / n:P2}); {movedOthers} buckets of other backends moved");
        Assert.DoesNotContain(removedId, after);
        Assert.InRange(fraction, 1.0 / n, 1.0 / n * 1.25);
        Assert.True(movedOthers < before.Length * 0.02, $"{movedOthers} buckets of surviving backends moved");

        // Adding it back (a fresh id) and changing a weight move few buckets too.
        Assert.True(h.Control.AddBackend("web", B("w4", "10.0.0.14", "02:00:00:00:01:04")).Ok);
        var readded = h.Control.Current.Pools[0].Maglev;
        double addMoved = (double)Enumerable.Range(0, after.Length).Count(i => after[i] != readded[i]) / after.Length;
        output.WriteLine($"adding it back: {addMoved:P2} moved");
        Assert.InRange(addMoved, 0.8 / n, 1.25 / n);
    }

    [Fact]
    public void Backend_ids_are_never_reused_not_even_for_a_backend_added_again_under_the_same_name()
    {
        using var h = new ControlHarness();
        var r = h.Control.AddBackend("web", B("w4", "10.0.0.14", "02:00:00:00:01:04"));
        Assert.True(r.Ok, r.Message);
        int first = h.Control.Backends().Single(b => b.Name == "w4").Id;
        Assert.True(h.Control.RemoveBackend("web", "w4").Ok);
        Assert.Equal(BackendState.Removed, h.Control.Current.Backends[first].State);
        Assert.True(h.Control.AddBackend("web", B("w4", "10.0.0.24", "02:00:00:00:01:24")).Ok);
        int second = h.Control.Backends().Single(b => b.Name == "w4").Id;
        Assert.NotEqual(first, second);
        Assert.Equal(BackendState.Removed, h.Control.Current.Backends[first].State);
        Assert.Equal(BackendState.Active, h.Control.Current.Backends[second].State);
        // Every id ever handed out is distinct.
        var names = Enumerable.Range(0, h.Control.Compiler.Ids.Count).Select(i => h.Control.Compiler.Ids.NameOf(i)).ToList();
        Assert.Equal(2, names.Count(n => n == ("web", "w4")));
    }

    [Fact]
    public void A_flow_pinned_to_a_removed_backend_never_reaches_the_newcomer_that_took_its_name()
    {
        using var h = new ControlHarness();
        var flows = h.Open(60);
        var (client, _) = flows.First(f => f.Backend == "w1");
        Assert.True(h.Control.RemoveBackend("web", "w1").Ok);
        Assert.True(h.Control.AddBackend("web", B("w1", "10.0.0.99", "02:00:00:00:01:99")).Ok);
        var s = h.Send(ControlHarness.Tcp(client, 40000, TcpFlags.Ack, 10));
        // Rehash (the default): steered again by Maglev; whatever it picks, it is through a re-pin, not the old id.
        Assert.Equal(1, h.Counters.Get(GlobalCounter.FlowRepins));
        Assert.NotNull(h.BackendOf(s));
    }

    [Fact]
    public void Drain_keeps_pinned_flows_sends_new_ones_elsewhere_and_ends_at_its_deadline()
    {
        using var h = new ControlHarness();
        var flows = h.Open(90);
        var onW1 = flows.Where(f => f.Backend == "w1").Select(f => f.Client).ToList();
        Assert.NotEmpty(onW1);

        var r = h.Control.Drain("web", "w1", TimeSpan.FromSeconds(30));
        Assert.True(r.Ok && r.Quiescent, r.Message);
        var st = h.Control.Backends().Single(b => b.Name == "w1");
        Assert.Equal(AdminState.Draining, st.Admin);
        Assert.Equal(BackendState.Draining, st.State);
        Assert.Equal(h.Now + TimeSpan.FromSeconds(30), st.DrainDeadline);
        Assert.DoesNotContain(st.Id, h.Control.Current.Pools[0].Maglev);

        // Existing flows keep going to w1.
        foreach (var c in onW1) Assert.Equal("w1", h.BackendOf(h.Send(ControlHarness.Tcp(c, 40000, TcpFlags.Ack, 10))));
        // New flows never go to w1.
        var fresh = h.Open(90, firstClient: 1000);
        Assert.DoesNotContain(fresh, f => f.Backend == "w1");

        // Before the deadline nothing changes; after it, w1 is out and its flows are re-steered (rehash).
        h.Now += TimeSpan.FromSeconds(29);
        h.Control.Tick();
        Assert.Equal(BackendState.Draining, h.Control.Backends().Single(b => b.Name == "w1").State);
        h.Now += TimeSpan.FromSeconds(2);
        h.Control.Tick();
        st = h.Control.Backends().Single(b => b.Name == "w1");
        Assert.Equal(AdminState.Drained, st.Admin);
        Assert.Equal(BackendState.Disabled, st.State);
        long repins = h.Counters.Get(GlobalCounter.FlowRepins);
        foreach (var c in onW1) Assert.NotEqual("w1", h.BackendOf(h.Send(ControlHarness.Tcp(c, 40000, TcpFlags.Ack, 10))));
        Assert.Equal(repins + onW1.Count, h.Counters.Get(GlobalCounter.FlowRepins));

        // Enable brings it back into Maglev.
        Assert.True(h.Control.Enable("web", "w1").Ok);
        Assert.Contains(st.Id, h.Control.Current.Pools[0].Maglev);
    }

    [Fact]
    public void A_new_syn_on_a_reused_five_tuple_leaves_a_draining_backend_while_retransmitted_syns_keep_their_pin()
    {
        using var h = new ControlHarness(o => o.Pools[0].RemovedFlows = RemovedFlowPolicy.Reset);
        var flows = h.Open(90);
        var onW1 = flows.Where(f => f.Backend == "w1").Select(f => f.Client).ToList();
        var onW2 = flows.Where(f => f.Backend == "w2").Select(f => f.Client).ToList();
        Assert.NotEmpty(onW1);
        Assert.NotEmpty(onW2);

        // A SYN again on the 5-tuple of a live entry whose backend still takes new flows: a retransmission
        // as far as anyone can tell, so it keeps its pin.
        foreach (var c in onW2) Assert.Equal("w2", h.BackendOf(h.Send(ControlHarness.Tcp(c, 40000, TcpFlags.Syn))));

        Assert.True(h.Control.Drain("web", "w1", TimeSpan.FromSeconds(30)).Ok);
        long newFlows = h.Counters.Get(GlobalCounter.FlowInserts);
        // The client reuses the source port of a connection pinned to w1 (its TIME_WAIT is over, the entry is
        // not): the new connection is steered by the current table, never to the draining w1, and is no
        // old flow to reset.
        foreach (var c in onW1)
        {
            var s = h.Send(ControlHarness.Tcp(c, 40000, TcpFlags.Syn));
            Assert.NotNull(h.BackendOf(s));
            Assert.NotEqual("w1", h.BackendOf(s));
        }
        Assert.Equal(newFlows + onW1.Count, h.Counters.Get(GlobalCounter.FlowInserts));
        Assert.Equal(0, h.Counters.Get(GlobalCounter.FlowResets));
        // Its next segments follow the new pin.
        foreach (var c in onW1) Assert.NotEqual("w1", h.BackendOf(h.Send(ControlHarness.Tcp(c, 40000, TcpFlags.Ack, 10))));

        // Same after removal under the reset policy: a SYN on a 5-tuple pinned to the removed w2 is a new
        // connection (steered), not a packet of the gone one (which would be answered with a RST).
        Assert.True(h.Control.RemoveBackend("web", "w2").Ok);
        foreach (var c in onW2)
        {
            var s = h.Send(ControlHarness.Tcp(c, 40000, TcpFlags.Syn));
            Assert.NotNull(h.BackendOf(s));
            Assert.NotEqual("w2", h.BackendOf(s));
        }
        Assert.Equal(0, h.Counters.Get(GlobalCounter.FlowResets));
    }

    [Fact]
    public void Reset_policy_answers_tcp_of_a_removed_backend_with_a_rst_and_drops_udp()
    {
        using var h = new ControlHarness(o => o.Pools[0].RemovedFlows = RemovedFlowPolicy.Reset);
        var flows = h.Open(60);
        var onW2 = flows.Where(f => f.Backend == "w2").Select(f => f.Client).ToList();
        // A UDP flow pinned to w2.
        int udpClient = Enumerable.Range(500, 200).First(c => h.BackendOf(h.Send(ControlHarness.Udp(c, 5353))) == "w2");

        Assert.True(h.Control.RemoveBackend("web", "w2").Ok);
        foreach (var c in onW2)
        {
            var s = h.Send(ControlHarness.Tcp(c, 40000, TcpFlags.Ack, 10));
            Assert.Equal(PipelineHarness.Outside, s.OutPort);                       // back to the client
            Assert.Equal((byte)TcpFlags.Rst, ControlHarness.TcpFlagsOf(s));        // SEG had ACK: RST alone
            Assert.Equal(54, s.OutLength);
        }
        Assert.True(h.Send(ControlHarness.Udp(udpClient, 5353)).Dropped);
        Assert.Equal(onW2.Count, h.Counters.Get(Outcome.FlowReset));
        Assert.Equal(1, h.Counters.Get(DropReason.BackendGone));
        Assert.Equal(onW2.Count + 1, h.Counters.Get(GlobalCounter.FlowResets));
        Assert.Equal(0, h.Counters.Get(GlobalCounter.FlowRepins));
        // The entry is gone: the client's next SYN on that 5-tuple is a new flow on a live backend.
        var again = h.Send(ControlHarness.Tcp(onW2[0], 40000, TcpFlags.Syn));
        Assert.NotNull(h.BackendOf(again));
        Assert.NotEqual("w2", h.BackendOf(again));
    }

    [Fact]
    public void Rehash_policy_re_steers_and_re_pins_flows_of_a_disabled_backend()
    {
        using var h = new ControlHarness();
        var onW3 = h.Open(60).Where(f => f.Backend == "w3").Select(f => f.Client).ToList();
        Assert.True(h.Control.Disable("web", "w3").Ok);
        var first = onW3.Select(c => h.BackendOf(h.Send(ControlHarness.Tcp(c, 40000, TcpFlags.Ack, 10)))).ToList();
        Assert.DoesNotContain("w3", first);
        Assert.DoesNotContain(null, first);
        Assert.Equal(onW3.Count, h.Counters.Get(GlobalCounter.FlowRepins));
        // Re-pinned: the next segments are flow hits on the new backend, even after w3 is enabled again.
        Assert.True(h.Control.Enable("web", "w3").Ok);
        var second = onW3.Select(c => h.BackendOf(h.Send(ControlHarness.Tcp(c, 40000, TcpFlags.Ack, 10)))).ToList();
        Assert.Equal(first, second);
        Assert.Equal(onW3.Count, h.Counters.Get(GlobalCounter.FlowRepins));
    }

    [Fact]
    public void Health_down_takes_a_backend_out_and_up_brings_it_back_through_the_same_path()
    {
        using var h = new ControlHarness();
        long gen = h.Control.Current.Generation;
        var r = h.Control.SetHealth("web", "w2", up: false, "connect refused");
        Assert.True(r.Ok);
        Assert.Equal(gen + 1, h.Control.Current.Generation);
        var st = h.Control.Backends().Single(b => b.Name == "w2");
        Assert.Equal((false, "connect refused", BackendState.Down), (st.HealthUp, st.HealthReason, st.State));
        Assert.DoesNotContain(st.Id, h.Control.Current.Pools[0].Maglev);
        // The same state again publishes nothing.
        Assert.True(h.Control.SetHealth("web", "w2", false, "still refused").Ok);
        Assert.Equal(gen + 1, h.Control.Current.Generation);
        Assert.True(h.Control.SetHealth("web", "w2", true, "ok").Ok);
        Assert.Contains(st.Id, h.Control.Current.Pools[0].Maglev);
        Assert.False(h.Control.SetHealth("web", "nope", false, "x").Ok);
    }

    [Fact]
    public void An_invalid_change_is_refused_with_its_json_path_and_the_running_snapshot_stays()
    {
        using var h = new ControlHarness();
        var snap = h.Control.Current;
        var json = h.Control.RunningJson();
        var r = h.Control.AddBackend("web", new BackendOptions { Name = "bad", Address = "10.0.0.300", Mac = "02:00:00:00:09:09" });
        Assert.False(r.Ok);
        Assert.Contains(r.Errors, e => e.Path == "Pools[0].Backends[3].Address");
        Assert.Same(snap, h.Control.Current);
        Assert.Equal(json, h.Control.RunningJson());

        r = h.Control.SetWeight("web", "w1", 70000);
        Assert.Contains(r.Errors, e => e.Path == "Pools[0].Backends[0].Weight");
        r = h.Control.SetWeight("nopool", "w1", 2);
        Assert.Contains(r.Errors, e => e.Path == "pool");
        r = h.Control.RemoveBackend("web", "nobody");
        Assert.Contains(r.Errors, e => e.Path == "backend");
        r = h.Control.AddBackend("web", B("w1", "10.0.0.50", "02:00:00:00:09:0a"));
        Assert.Contains(r.Errors, e => e.Path == "backend" && e.Reason.Contains("already"));
        Assert.Same(snap, h.Control.Current);
    }

    static readonly System.Text.Json.JsonSerializerOptions Compact = OptionNames.Json(indented: false);

    static string WriteConfig(string dir, ApplianceOptions o)
    {
        string path = Path.Combine(dir, "appliance.json");
        File.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(o, Compact));
        return path;
    }

    [Fact]
    public void Reload_applies_a_valid_file_refuses_an_invalid_one_and_refuses_restart_only_changes()
    {
        using var h = new ControlHarness();
        var dir = Directory.CreateTempSubdirectory("switchyard-ctl-").FullName;
        try
        {
            var env = new Dictionary<string, string>();
            // Valid: w3's weight changes, w2 is drained at run time and stays draining across the reload.
            Assert.True(h.Control.Drain("web", "w2", null).Ok);
            var o = h.Control.Running;
            o.Pools[0].Backends[2].Weight = 5;
            var path = WriteConfig(dir, o);
            var r = h.Control.Reload(path, [], env);
            Assert.True(r.Ok, r.Message);
            Assert.Equal(5, h.Control.Backends().Single(b => b.Name == "w3").Weight);
            Assert.Equal(BackendState.Draining, h.Control.Backends().Single(b => b.Name == "w2").State);

            // Invalid: every error with its path; nothing changes.
            var snap = h.Control.Current;
            File.WriteAllText(path, File.ReadAllText(path).Replace("\"10.0.0.11\"", "\"not-an-ip\"").Replace("\"Weight\":5", "\"Weight\":-1"));
            r = h.Control.Reload(path, [], env);
            Assert.False(r.Ok);
            Assert.Contains(r.Errors, e => e.Path == "Pools[0].Backends[0].Address");
            Assert.Contains(r.Errors, e => e.Path == "Pools[0].Backends[2].Weight");
            Assert.Same(snap, h.Control.Current);

            // Malformed JSON: refused, named by the file.
            File.WriteAllText(path, "{ \"Pools\": [ ");
            r = h.Control.Reload(path, [], env);
            Assert.False(r.Ok);
            Assert.Same(snap, h.Control.Current);

            // Restart-only settings.
            o = h.Control.Running;
            o.Dataplane.FlowTableEntries *= 2;
            o.Ports[0].RxDescriptors = 512;
            o.Cores = [0];
            WriteConfig(dir, o);
            r = h.Control.Reload(path, [], env);
            Assert.False(r.Ok);
            foreach (var p in new[] { "Dataplane", "Ports", "Cores" })
                Assert.Contains(r.Errors, e => e.Path == p && e.Reason == "requires a restart");
            Assert.Same(snap, h.Control.Current);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void The_file_watch_reloads_a_changed_file_through_the_same_validation()
    {
        using var h = new ControlHarness();
        var dir = Directory.CreateTempSubdirectory("switchyard-ctl-").FullName;
        try
        {
            var o = h.Control.Running;
            var path = WriteConfig(dir, o);
            var log = new List<string>();
            var watcher = new ConfigFileWatcher(path, () => h.Control.Reload(path, [], new Dictionary<string, string>()), log.Add);
            Assert.Null(watcher.Poll());                                  // unchanged
            o.Pools[0].Backends[0].Weight = 7;
            File.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(o, Compact) + " ");
            var r = watcher.Poll();
            Assert.NotNull(r);
            Assert.True(r!.Ok, r.Message);
            Assert.Equal(7, h.Control.Backends().Single(b => b.Name == "w1").Weight);
            File.WriteAllText(path, File.ReadAllText(path).Replace("\"Weight\":7", "\"Weight\":-7"));
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(5));
            r = watcher.Poll();
            Assert.False(r!.Ok);
            Assert.Contains(r.Errors, e => e.Path == "Pools[0].Backends[0].Weight");
            Assert.Equal(7, h.Control.Backends().Single(b => b.Name == "w1").Weight);
            Assert.Contains(log, l => l.Contains("refused"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_change_is_acknowledged_only_after_every_worker_passed_two_quiescent_points_and_the_old_snapshot_is_held_until_then()
    {
        var o = PipelineHarness.DefaultOptions();
        o.Control.ChangeTimeoutMilliseconds = 50;
        var fast = new FakeWorker();
        var stuck = new FakeWorker { Auto = false };
        var control = new ControlPlane(o, new Dictionary<string, ulong>());
        control.AttachWorkers([fast, stuck], []);
        var weak = WeakCurrent(control);
        var r = control.SetWeight("web", "w1", 3);
        Assert.True(r.Ok);
        Assert.False(r.Quiescent);                       // the stuck worker never passed a quiescent point
        Assert.Equal(1, control.RetiredCount);           // so the old snapshot is still held
        stuck.Pass();
        control.Tick();
        Assert.Equal(1, control.RetiredCount);           // one pass is not enough (it may predate the publication)
        stuck.Pass();
        control.Tick();
        Assert.Equal(0, control.RetiredCount);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.False(weak.IsAlive);                      // released, and nothing else referred to it

        // An exited worker does not hold a grace period.
        stuck.Exited = true;
        r = control.SetWeight("web", "w1", 4);
        Assert.True(r.Ok && r.Quiescent, r.Message);
        Assert.Equal(0, control.RetiredCount);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    static WeakReference WeakCurrent(ControlPlane control) => new(control.Current);

    [Fact]
    public void Key_rotation_installs_a_key_under_an_id_and_keeps_the_others()
    {
        using var h = new ControlHarness(o => o.Mptcp.TokenKeys = [new TokenKeyOptions { Id = 0, Key = "000102030405060708090a0b0c0d0e0f" }]);
        var r = h.Control.RotateKey(1, "f0e0d0c0b0a090807060504030201000");
        Assert.True(r.Ok, r.Message);
        Assert.True(h.Control.Current.TokenKeys!.HasKey(0));
        Assert.True(h.Control.Current.TokenKeys!.HasKey(1));
        r = h.Control.RotateKey(1, "zz");
        Assert.False(r.Ok);
        Assert.Contains(r.Errors, e => e.Path == "Mptcp.TokenKeys[1].Key");
        Assert.True(h.Control.RemoveKey(0).Ok);
        Assert.False(h.Control.Current.TokenKeys!.HasKey(0));
        Assert.False(h.Control.RemoveKey(2).Ok);
    }
}
