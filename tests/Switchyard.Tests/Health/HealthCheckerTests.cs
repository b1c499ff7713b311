using System.Collections.Concurrent;
using Switchyard.Management.Health;
using static Switchyard.Tests.Health.HealthFixtures;

namespace Switchyard.Tests.Health;

/// <summary>Rise/fall, the all-down policy and reloads, driven by scripted probe results (exact counts, no clock).</summary>
public class HealthCheckerTests
{
    sealed class Harness : IDisposable
    {
        public readonly ScriptedProber Prober = new();
        public readonly ConcurrentQueue<HealthTransition> Transitions = new();
        public readonly StringWriter Log = new();
        public readonly HealthChecker Checker;

        public Harness(Management.Options.ApplianceOptions o, bool start = true)
        {
            Checker = new HealthChecker(o, t => Transitions.Enqueue(t), TextWriter.Synchronized(Log), Prober, ScriptedProber.NoDelay);
            if (start) Checker.Start();
        }

        /// <summary>Hands out results for one backend and waits until the checker has applied all of them.</summary>
        public void Feed(string backend, string address, params bool[] results)
        {
            long before = Applied(Checker, backend);
            Prober.Give(address, results);
            WaitUntil(() => Applied(Checker, backend) == before + results.Length, $"{results.Length} results applied to {backend}");
        }

        public List<HealthTransition> Taken()
        {
            var l = new List<HealthTransition>();
            while (Transitions.TryDequeue(out var t)) l.Add(t);
            return l;
        }

        public void Dispose() => Checker.Dispose();
    }

    [Fact]
    public void RiseFall_counts_consecutive_results_exactly()
    {
        var r = new RiseFall(initiallyUp: true);
        Assert.False(r.Record(false, rise: 2, fall: 3));
        Assert.False(r.Record(false, 2, 3));
        Assert.False(r.Record(true, 2, 3));        // a success breaks the failure streak
        Assert.False(r.Record(false, 2, 3));
        Assert.False(r.Record(false, 2, 3));
        Assert.True(r.Up);
        Assert.True(r.Record(false, 2, 3));        // third consecutive failure
        Assert.False(r.Up);
        Assert.False(r.Record(true, 2, 3));
        Assert.False(r.Record(false, 2, 3));
        Assert.False(r.Record(true, 2, 3));
        Assert.True(r.Record(true, 2, 3));         // second consecutive success
        Assert.True(r.Up);
        var one = new RiseFall(initiallyUp: false);
        Assert.True(one.Record(true, rise: 1, fall: 1));
        Assert.True(one.Record(false, 1, 1));
    }

    [Fact]
    public void A_backend_goes_down_after_exactly_Fall_failures_and_up_after_exactly_Rise_successes()
    {
        using var h = new Harness(Options(backends: 2, rise: 2, fall: 3));
        h.Feed("b1", "10.0.0.1", false, false);
        Assert.Empty(h.Taken());
        Assert.True(Status(h.Checker, "b1").Up);
        Assert.Equal(2, Status(h.Checker, "b1").ConsecutiveFailures);
        h.Feed("b1", "10.0.0.1", false);
        var down = Assert.Single(h.Taken());
        Assert.Equal(new HealthTransition("web", "b1", false, "3 consecutive failures: scripted failure"), down);
        h.Feed("b1", "10.0.0.1", false, false, true);   // more failures say nothing new; one success is not enough
        Assert.Empty(h.Taken());
        h.Feed("b1", "10.0.0.1", true);
        var up = Assert.Single(h.Taken());
        Assert.Equal(new HealthTransition("web", "b1", true, "2 consecutive successes: scripted ok"), up);

        var s = Status(h.Checker, "b1");
        Assert.Equal((5L, 2L, 2L), (s.ProbesFailed, s.ProbesSucceeded, s.Transitions));
        Assert.True(s.ProbesSent >= 7);     // the next probe may already be waiting for its result
        Assert.Equal(0, Status(h.Checker, "b2").Transitions);
        // Logged once per transition, with the reason.
        var log = h.Log.ToString();
        Assert.Single(log.Split('\n'), l => l.Contains("backend 'b1'") && l.Contains("DOWN after 3 consecutive failures: scripted failure"));
        Assert.Single(log.Split('\n'), l => l.Contains("backend 'b1'") && l.Contains("UP after 2 consecutive successes"));
    }

    [Fact]
    public void Fail_open_keeps_routing_to_every_backend_when_all_are_down()
    {
        using var h = new Harness(Options(backends: 2, rise: 1, fall: 1, policy: "fail-open"));
        h.Feed("b1", "10.0.0.1", false);
        Assert.Equal([new HealthTransition("web", "b1", false, "1 consecutive failures: scripted failure")], h.Taken());
        h.Feed("b2", "10.0.0.2", false);
        // b2 is the last one: it never goes down for routing, and b1 comes back under the policy.
        Assert.Equal([new HealthTransition("web", "b1", true, "fail-open: every backend of pool 'web' is down")], h.Taken());
        Assert.All(h.Checker.Backends(), b => Assert.True(b.EffectiveUp && !b.Up));
        var pool = Assert.Single(h.Checker.Pools());
        Assert.Equal(("fail-open", true, 1L, 0), (pool.AllDownPolicy, pool.AllDown, pool.AllDownEvents, pool.BackendsUp));
        Assert.Contains("fail-open: routing to all 2 as if up", h.Log.ToString());

        h.Feed("b2", "10.0.0.2", true);
        // b2 really up again: the policy ends and b1, still failing, goes down for routing.
        var t = Assert.Single(h.Taken());
        Assert.Equal(("b1", false), (t.Backend, t.Up));
        Assert.StartsWith("fail-open ends", t.Reason);
        pool = Assert.Single(h.Checker.Pools());
        Assert.Equal((false, 1L, 1), (pool.AllDown, pool.AllDownEvents, pool.BackendsUp));
    }

    [Fact]
    public void Fail_closed_reports_every_backend_down()
    {
        using var h = new Harness(Options(backends: 2, rise: 1, fall: 2, policy: "fail-closed"));
        h.Feed("b1", "10.0.0.1", false, false);
        h.Feed("b2", "10.0.0.2", false, false);
        var t = h.Taken();
        Assert.Equal(["b1", "b2"], t.Select(x => x.Backend));
        Assert.All(t, x => Assert.False(x.Up));
        var pool = Assert.Single(h.Checker.Pools());
        Assert.Equal(("fail-closed", true, 1L), (pool.AllDownPolicy, pool.AllDown, pool.AllDownEvents));
        Assert.Contains("fail-closed: new flows are dropped", h.Log.ToString());
        h.Feed("b2", "10.0.0.2", true);
        Assert.Equal([new HealthTransition("web", "b2", true, "1 consecutive successes: scripted ok")], h.Taken());
    }

    [Fact]
    public void Initial_down_reports_at_start_and_needs_Rise_successes()
    {
        using var h = new Harness(Options(backends: 2, rise: 3, fall: 1, policy: "fail-closed", initial: "down"));
        var start = h.Taken();
        Assert.Equal(["b1", "b2"], start.Select(x => x.Backend));
        Assert.All(start, x => Assert.False(x.Up));
        h.Feed("b1", "10.0.0.1", true, true);
        Assert.Empty(h.Taken());
        h.Feed("b1", "10.0.0.1", true);
        Assert.Equal([new HealthTransition("web", "b1", true, "3 consecutive successes: scripted ok")], h.Taken());
    }

    [Fact]
    public void Update_keeps_the_state_of_unchanged_backends_and_checks_new_ones()
    {
        var o = Options(backends: 2, rise: 1, fall: 1, policy: "fail-closed");
        using var h = new Harness(o);
        h.Feed("b1", "10.0.0.1", false);
        Assert.Single(h.Taken());

        // Reload: b2 removed, b3 added, the interval and fall changed; b1 unchanged in what is probed.
        var o2 = Options(backends: 3, rise: 1, fall: 2, policy: "fail-closed");
        o2.Pools[0].Backends = [o2.Pools[0].Backends[0], o2.Pools[0].Backends[2]];
        o2.Pools[0].HealthCheck.IntervalMs = 500;
        h.Checker.Update(o2);
        Assert.Empty(h.Taken());                                   // nothing changed for routing
        var b1 = Status(h.Checker, "b1");
        Assert.Equal((false, 1L, 1L), (b1.Up, b1.ProbesFailed, b1.Transitions));
        Assert.DoesNotContain(h.Checker.Backends(), b => b.Backend == "b2");
        h.Feed("b3", "10.0.0.3", false);                           // the new Fall (2) applies: one failure is not enough
        Assert.Empty(h.Taken());
        h.Feed("b3", "10.0.0.3", false);
        Assert.Equal([new HealthTransition("web", "b3", false, "2 consecutive failures: scripted failure")], h.Taken());

        // A changed address is a different target: its state starts over (Initial up), and routing hears of it.
        var o3 = Options(backends: 3, rise: 1, fall: 2, policy: "fail-closed");
        o3.Pools[0].Backends = [o3.Pools[0].Backends[0], o3.Pools[0].Backends[2]];
        o3.Pools[0].Backends[0].Address = "10.0.0.9";
        h.Checker.Update(o3);
        var t = Assert.Single(h.Taken());
        Assert.Equal(("b1", true), (t.Backend, t.Up));
        Assert.Equal(0, Status(h.Checker, "b1").ProbesFailed);

        // Checks switched off: the backend still down is reported up ("health check removed").
        var o4 = Options(backends: 3, type: "none");
        h.Checker.Update(o4);
        Assert.Equal([new HealthTransition("web", "b3", true, "health check removed")], h.Taken());
        Assert.Empty(h.Checker.Backends());
    }

    [Fact]
    public void Update_with_options_the_checker_cannot_use_is_refused_and_changes_nothing()
    {
        using var h = new Harness(Options(backends: 2, rise: 1, fall: 1, policy: "fail-closed"));
        var bad = Options(backends: 2, rise: 1, fall: 5, policy: "fail-closed");
        bad.Pools[0].Backends[1].Address = "not-an-address";
        var e = Assert.Throws<ArgumentException>(() => h.Checker.Update(bad));
        Assert.Contains("Pools[0].Backends[1].Address", e.Message);
        // b1 (read before the bad entry) still has Fall 1: one failure takes it down.
        h.Feed("b1", "10.0.0.1", false);
        Assert.Equal([new HealthTransition("web", "b1", false, "1 consecutive failures: scripted failure")], h.Taken());
    }

    [Fact]
    public void A_throwing_callback_is_logged_and_probing_goes_on()
    {
        var prober = new ScriptedProber();
        var log = new StringWriter();
        int calls = 0;
        using (var c = new HealthChecker(Options(backends: 2, rise: 1, fall: 1), _ => { calls++; throw new InvalidOperationException("ctl refused"); },
                   TextWriter.Synchronized(log), prober, ScriptedProber.NoDelay))
        {
            c.Start();
            prober.Give("10.0.0.1", false, true);
            WaitUntil(() => Applied(c, "b1") == 2, "two results");
            Assert.Equal(2, calls);
            Assert.Contains("was not applied: ctl refused", log.ToString());
        }
        Assert.True(prober.Disposed);
    }
}
