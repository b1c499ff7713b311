using System.Diagnostics;
using System.Net;
using Switchyard.Dataplane.Control;
using Switchyard.Management.Options;

namespace Switchyard.Management.Health;

/// <summary>
/// The health-check service of the management side. One asynchronous loop per checked backend (no thread each:
/// probes are async socket I/O on the thread pool, never on a worker core) probes every IntervalMs; each result is
/// applied under one lock, so state changes and the <c>onTransition</c> callback happen strictly one at a time.
///
/// State per backend: rise/fall hysteresis (<see cref="RiseFall"/>) from HealthCheck.Initial ("up" by default).
/// Per pool, the AllDownPolicy turns the probes' verdicts into effective states: "fail-open" keeps routing to every
/// serving backend (Enabled, Weight &gt; 0) while all of them are down; "fail-closed" reports them down, so new flows
/// find no backend. The callback receives only effective changes, each once; its reason says why
/// ("3 consecutive failures: connect refused", "fail-open: every backend of pool 'web' is down").
///
/// Options must have passed <see cref="OptionsValidator"/> (the checker trusts their shape).
/// </summary>
public sealed class HealthChecker : IDisposable
{
    public delegate Task DelayFunc(TimeSpan delay, CancellationToken ct);

    readonly Action<HealthTransition> _onTransition;
    readonly TextWriter _log;
    readonly IHealthProber _prober;
    readonly DelayFunc _delay;
    readonly object _gate = new();
    readonly CancellationTokenSource _stop = new();
    Dictionary<(string Pool, string Backend), Target> _targets = new();
    Dictionary<string, PoolState> _pools = new(StringComparer.Ordinal);
    /// <summary>Every configured backend, in file order (checked or not), for publishing.</summary>
    List<(string Pool, string Backend)> _configured = new();
    /// <summary>What the callback was last told, per backend; absent = up (what routing assumes without checks).</summary>
    readonly Dictionary<(string Pool, string Backend), bool> _reported = new();
    bool _started, _disposed;

    public HealthChecker(ApplianceOptions options, Action<HealthTransition> onTransition, TextWriter log, SocketFactory? sockets = null)
        : this(options, onTransition, log, new SocketProber(sockets), null) { }

    /// <param name="prober">Runs the probes (<see cref="SocketProber"/> for real ones).</param>
    /// <param name="delay">Waits between probes (Task.Delay when null); tests pass one that counts instead of sleeping.</param>
    public HealthChecker(ApplianceOptions options, Action<HealthTransition> onTransition, TextWriter log, IHealthProber prober, DelayFunc? delay)
    {
        _onTransition = onTransition;
        _log = log;
        _prober = prober;
        _delay = delay ?? ((d, ct) => Task.Delay(d, ct));
        lock (_gate) Reconfigure(options);
    }

    /// <summary>Starts probing. Backends that start down (Initial "down") are reported now.</summary>
    public void Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started) return;
            _started = true;
            foreach (var pool in _pools.Values) Publish(pool.Name);
            foreach (var t in _targets.Values) Launch(t);
        }
    }

    /// <summary>
    /// A reload or a control-plane change: backends added get checks (in their Initial state), removed ones stop,
    /// and a backend whose pool, name, address, check type, port, VIP and forwarding are unchanged keeps its state
    /// and counters (interval, timeout, rise/fall, path etc. change in place, from its next probe). A backend whose
    /// checks end (its pool's Type becomes "none") while it is reported down is reported up again.
    /// </summary>
    public void Update(ApplianceOptions newOptions)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var fresh = Reconfigure(newOptions);
            if (!_started) return;
            foreach (var pool in _pools.Values) Publish(pool.Name);
            foreach (var pool in _configured.Select(k => k.Pool).Distinct().Where(n => !_pools.ContainsKey(n))) Publish(pool);
            foreach (var t in fresh) Launch(t);
        }
    }

    /// <summary>Current state and counters of every checked backend, in configuration order.</summary>
    public IReadOnlyList<BackendHealthStatus> Backends()
    {
        lock (_gate)
            return _configured.Where(_targets.ContainsKey).Select(k => _targets[k]).Select(t => new BackendHealthStatus(
                t.Pool, t.Backend, t.Spec.Describe(), t.Spec.Type, t.State.Up, t.EffectiveUp, t.State.Successes, t.State.Failures,
                t.LastReason, Interlocked.Read(ref t.Sent), t.Succeeded, t.Failed, t.Transitions, t.LastTransitionUtc)).ToList();
    }

    /// <summary>Every pool with checks: its policy, whether all its backends are down now, and how often that began.</summary>
    public IReadOnlyList<PoolHealthStatus> Pools()
    {
        lock (_gate)
            return _pools.Values.Select(p => new PoolHealthStatus(p.Name, OptionNames.AllDown.Name(p.FailOpen ? AllDownPolicy.FailOpen : AllDownPolicy.FailClosed), p.AllDown,
                p.AllDownEvents, p.Targets.Count(t => t.State.Up), p.Targets.Count)).ToList();
    }

    public void Dispose()
    {
        Task[] loops;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _stop.Cancel();
            loops = _targets.Values.Select(t => t.Loop).OfType<Task>().ToArray();
        }
        try { Task.WaitAll(loops, TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _prober.Dispose();
        _stop.Dispose();
    }

    // ---- state

    sealed class PoolState(string name, bool failOpen)
    {
        public string Name { get; } = name;
        public bool FailOpen { get; set; } = failOpen;
        public bool AllDown;
        public long AllDownEvents;
        public List<Target> Targets { get; } = new();
    }

    sealed class Target(string pool, string backend, string identity, bool initialUp)
    {
        public string Pool { get; } = pool;
        public string Backend { get; } = backend;
        public string Identity { get; } = identity;
        public RiseFall State { get; } = new(initialUp);
        public ProbeSpec Spec = null!;
        public int IntervalMs, Rise, Fall;
        public bool Serving;                   // Enabled and Weight > 0: counts for (and is revived by) the all-down policy
        public bool EffectiveUp = initialUp;
        public string EffectiveReason = initialUp ? "" : "initial state down: waiting for Rise successes";
        public string LastReason = "";
        public long Sent, Succeeded, Failed, Transitions;
        public DateTime? LastTransitionUtc;
        public bool Removed;
        public CancellationTokenSource? Cts;
        public Task? Loop;
    }

    /// <summary>Builds the target set for the options, reusing unchanged targets; returns the new ones.</summary>
    List<Target> Reconfigure(ApplianceOptions o)
    {
        var targets = new Dictionary<(string, string), Target>();
        var pools = new Dictionary<string, PoolState>(StringComparer.Ordinal);
        var configured = new List<(string, string)>();
        var fresh = new List<Target>();
        var apply = new List<Action>();
        for (int i = 0; i < o.Pools.Length; i++)
        {
            var pool = o.Pools[i];
            foreach (var b in pool.Backends) configured.Add((pool.Name, b.Name));
            var h = pool.HealthCheck ?? new HealthCheckOptions();
            string type = (h.Type ?? "none").ToLowerInvariant();
            if (type == "none") continue;
            var state = pools[pool.Name] = new PoolState(pool.Name, pool.AllDownPolicy == AllDownPolicy.FailOpen);
            if (_pools.TryGetValue(pool.Name, out var old)) { state.AllDown = old.AllDown; state.AllDownEvents = old.AllDownEvents; }
            int port = OptionsValidator.HealthPort(o, pool, out var why);
            if (port == 0) throw new ArgumentException($"Pools[{i}].HealthCheck.Port: {why}");
            IPAddress? source = h.SourceAddress is null ? null : IPAddress.Parse(h.SourceAddress);
            var mode = pool.Forwarding;
            for (int j = 0; j < pool.Backends.Length; j++)
            {
                var b = pool.Backends[j];
                if (!IPAddress.TryParse(b.Address, out var addr)) throw new ArgumentException($"Pools[{i}].Backends[{j}].Address: '{b.Address}' is not an address");
                IPAddress? vip = null;
                if (type == "encap")
                {
                    var v = OptionsValidator.ProbeVip(o, pool, addr.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                        ?? throw new ArgumentException($"Pools[{i}].HealthCheck.Type: no VIP of backend {b.Name}'s family uses the pool");
                    vip = IPAddress.Parse(v.Address);
                }
                var spec = new ProbeSpec(type, addr, port, h.TimeoutMs, source, h.Path ?? "/", h.ExpectStatus, h.Host, mode, pool.GuePort, vip);
                string identity = $"{type}|{addr}|{port}|{vip}|{mode}";
                var key = (pool.Name, b.Name);
                if (!_targets.TryGetValue(key, out var t) || t.Identity != identity)
                {
                    t = new Target(pool.Name, b.Name, identity, !string.Equals(h.Initial, "down", StringComparison.OrdinalIgnoreCase));
                    fresh.Add(t);
                }
                bool serving = b.Enabled && b.Weight > 0;
                var target = t;
                // Applied only once the whole configuration has been read: options that throw half-way change nothing.
                apply.Add(() =>
                {
                    target.Spec = spec;
                    target.IntervalMs = h.IntervalMs;
                    target.Rise = h.Rise;
                    target.Fall = h.Fall;
                    target.Serving = serving;
                });
                targets[key] = t;
                state.Targets.Add(t);
            }
        }
        foreach (var a in apply) a();
        foreach (var (key, t) in _targets)
            if (!targets.TryGetValue(key, out var now) || now != t)
            {
                t.Removed = true;
                t.Cts?.Cancel();
            }
        var gone = _reported.Keys.Except(configured).ToList();
        foreach (var k in gone) _reported.Remove(k);
        _targets = targets;
        _pools = pools;
        _configured = configured;
        foreach (var p in _pools.Values) Settle(p, null, "");
        return fresh;
    }

    void Launch(Target t)
    {
        t.Cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var ct = t.Cts.Token;
        t.Loop = Task.Run(() => RunAsync(t, ct));
    }

    async Task RunAsync(Target t, CancellationToken ct)
    {
        try
        {
            // Spread the first probes of many backends over (up to) a second instead of a burst.
            await _delay(TimeSpan.FromMilliseconds(Random.Shared.Next(0, Math.Min(t.IntervalMs, 1000))), ct);
            while (!ct.IsCancellationRequested)
            {
                var spec = t.Spec;
                long start = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref t.Sent);
                ProbeOutcome r;
                try { r = await _prober.ProbeAsync(spec, ct); }
                catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
                catch (Exception e) { r = ProbeOutcome.Fail($"probe error: {e.GetType().Name}: {e.Message}"); }
                Apply(t, r);
                var wait = TimeSpan.FromMilliseconds(t.IntervalMs) - Stopwatch.GetElapsedTime(start);
                await _delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, ct);
            }
        }
        catch (OperationCanceledException) { }
    }

    void Apply(Target t, ProbeOutcome r)
    {
        lock (_gate)
        {
            if (t.Removed || _disposed) return;
            if (r.Success) t.Succeeded++; else t.Failed++;
            t.LastReason = r.Reason;
            if (!t.State.Record(r.Success, t.Rise, t.Fall)) return;
            t.Transitions++;
            t.LastTransitionUtc = DateTime.UtcNow;
            string reason = t.State.Up
                ? $"{t.State.Successes} consecutive successes: {r.Reason}"
                : $"{t.State.Failures} consecutive failures: {r.Reason}";
            Log($"pool '{t.Pool}' backend '{t.Backend}' ({t.Spec.Describe()}, {t.Spec.Type}): {(t.State.Up ? "UP" : "DOWN")} after {reason}");
            Settle(_pools[t.Pool], t, reason);
            Publish(t.Pool);
        }
    }

    /// <summary>Recomputes the pool's all-down flag and every backend's effective state.</summary>
    void Settle(PoolState p, Target? cause, string causeReason)
    {
        var serving = p.Targets.Where(t => t.Serving).ToList();
        bool allDown = serving.Count > 0 && serving.All(t => !t.State.Up);
        if (allDown != p.AllDown)
        {
            p.AllDown = allDown;
            if (allDown)
            {
                p.AllDownEvents++;
                Log(p.FailOpen
                    ? $"pool '{p.Name}': every backend is down; all-down policy fail-open: routing to all {serving.Count} as if up"
                    : $"pool '{p.Name}': every backend is down; all-down policy fail-closed: new flows are dropped (no backend)");
            }
            else Log($"pool '{p.Name}': a backend is up again; all-down policy {OptionNames.AllDown.Name(p.FailOpen ? AllDownPolicy.FailOpen : AllDownPolicy.FailClosed)} no longer applies");
        }
        foreach (var t in p.Targets)
        {
            bool eff = t.State.Up || (allDown && p.FailOpen && t.Serving);
            if (eff == t.EffectiveUp) continue;
            t.EffectiveUp = eff;
            t.EffectiveReason = t == cause ? causeReason
                : eff ? $"fail-open: every backend of pool '{p.Name}' is down"
                : $"fail-open ends: pool '{p.Name}' has a backend up again; this one is still down ({t.LastReason})";
        }
    }

    /// <summary>Tells the callback about every backend of the pool whose effective state differs from what it was told.</summary>
    void Publish(string pool)
    {
        if (!_started) return;
        foreach (var key in _configured)
        {
            if (key.Pool != pool) continue;
            bool eff = true;
            string reason = "health check removed";
            if (_targets.TryGetValue(key, out var t)) { eff = t.EffectiveUp; reason = t.EffectiveReason; }
            bool told = _reported.GetValueOrDefault(key, true);
            if (eff == told) continue;
            _reported[key] = eff;
            try { _onTransition(new HealthTransition(key.Pool, key.Backend, eff, reason)); }
            catch (Exception e) { Log($"pool '{key.Pool}' backend '{key.Backend}': the transition to {(eff ? "up" : "down")} was not applied: {e.Message}"); }
        }
    }

    void Log(string line)
    {
        try { _log.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} health: {line}"); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
    }
}
