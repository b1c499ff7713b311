using System.Collections;
using System.Diagnostics;
using System.Text.Json;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Management.Compile;
using Switchyard.Management.Options;

namespace Switchyard.Management.Control;

/// <summary>What the operator asked for a backend (health is separate: <see cref="BackendStatus.Health"/>).</summary>
public enum AdminState { Enabled, Draining, Drained, Disabled }

/// <summary>Read model of one configured backend (for `switchyard ctl list`, metrics, health checks).</summary>
public sealed record BackendStatus(
    string Pool, string Name, string Address, int Weight, AdminState Admin, bool HealthUp, string? HealthReason,
    DateTimeOffset? DrainDeadline, int Id, BackendState State, long Packets, long Bytes, long NewFlows);

/// <summary>The outcome of one change: published (generation), in effect on every worker (Quiescent), how long it took.</summary>
public sealed record ChangeResult(bool Ok, string Message, long Generation, bool Quiescent, TimeSpan Elapsed,
    IReadOnlyList<ConfigurationError> Errors)
{
    /// <summary>Of <see cref="Elapsed"/>: validate + compile + publish, and the wait for the grace period.</summary>
    public TimeSpan CompileTime { get; init; }
    public TimeSpan GraceTime { get; init; }

    public static ChangeResult Refused(IReadOnlyList<ConfigurationError> errors) =>
        new(false, string.Join("; ", errors.Select(e => e.ToString())), 0, false, TimeSpan.Zero, errors);
    public static ChangeResult Refused(string path, string reason) => Refused([new ConfigurationError(path, reason)]);
}

/// <summary>
/// Owns the running configuration and the runtime state of every backend (administrative state, drain
/// deadline, health), and applies every change through ONE path (<see cref="Apply"/>):
/// edit copies -> validate -> compile -> publish -> wait for the grace period -> release the old snapshot.
/// A refused change leaves the running configuration, the runtime state and the published snapshot as
/// they were. Thread-safety: every public method takes one lock, held only by control code (the
/// control socket's threads, the host's management loop, health checkers); workers never take it.
/// </summary>
public sealed partial class ControlPlane
{
    sealed class Runtime
    {
        public AdminState Admin = AdminState.Enabled;
        public DateTimeOffset? DrainDeadline;
        public bool HealthUp = true;
        public string? HealthReason;
        public Runtime Clone() => (Runtime)MemberwiseClone();
    }

    static readonly JsonSerializerOptions Json = OptionNames.Json(indented: true);

    readonly object _gate = new();
    readonly SnapshotCompiler _compiler = new();
    readonly IReadOnlyDictionary<string, ulong> _portMacs;
    readonly IReadOnlyDictionary<string, int>? _portIndexes;
    readonly Action<string> _log;
    readonly Func<DateTimeOffset> _clock;
    readonly bool _learnedTable;
    ApplianceOptions _running;
    Dictionary<(string Pool, string Backend), Runtime> _runtime = new();
    IReadOnlyList<WorkerCounters> _counters = [];

    /// <param name="learnedTokenTable">Whether the host created the learned-token table (a VIP used
    /// learned-token at start): adding the first learned-token VIP later needs a restart.</param>
    public ControlPlane(ApplianceOptions initial, IReadOnlyDictionary<string, ulong> portMacs,
        IReadOnlyDictionary<string, int>? portIndexes = null, Action<string>? log = null, Func<DateTimeOffset>? clock = null,
        bool? learnedTokenTable = null)
    {
        _portMacs = portMacs; _portIndexes = portIndexes;
        _log = log ?? (_ => { });
        _clock = clock ?? (() => DateTimeOffset.UtcNow);
        _running = initial.Copy();
        _learnedTable = learnedTokenTable ?? initial.Vips.Any(v => v.Joins.Contains(JoinMode.LearnedToken));
        foreach (var p in _running.Pools)
            foreach (var b in p.Backends)
                _runtime[(p.Name, b.Name)] = new Runtime { Admin = b.Enabled ? AdminState.Enabled : AdminState.Disabled };
        Snapshots = new SnapshotHolder(Compile(_running, _runtime));
    }

    public SnapshotHolder Snapshots { get; }
    public DataplaneSnapshot Current => Snapshots.Current;
    public SnapshotCompiler Compiler => _compiler;
    /// <summary>Old snapshots still waiting for their grace period.</summary>
    public int RetiredCount => Snapshots.RetiredCount;
    /// <summary>Longest wait for the grace period before a change is answered (it is still released later).</summary>
    public TimeSpan ChangeTimeout => TimeSpan.FromMilliseconds(_running.Control.ChangeTimeoutMilliseconds);

    /// <summary>The workers whose quiescent points end a grace period, and their counters (for <see cref="Backends"/>).</summary>
    public void AttachWorkers(IReadOnlyList<IQuiescentWorker> workers, IReadOnlyList<WorkerCounters> counters)
    {
        Snapshots.Attach(workers);
        lock (_gate) _counters = counters;
    }

    /// <summary>The workers' counter blocks (read with plain loads, as the counters report does).</summary>
    public IReadOnlyList<WorkerCounters> WorkerCounters { get { lock (_gate) return _counters; } }

    /// <summary>A deep copy of the running configuration.</summary>
    public ApplianceOptions Running { get { lock (_gate) return _running.Copy(); } }

    /// <summary>The running configuration as JSON (what `switchyard ctl config` prints; a valid appliance.json).</summary>
    public string RunningJson() { lock (_gate) return JsonSerializer.Serialize(_running, Json); }

    // ------------------------------------------------------------------ the one change path

    /// <summary>
    /// Applies one change: <paramref name="edit"/> changes copies of the running configuration and the
    /// runtime state (or throws <see cref="ConfigurationException"/> to refuse); the result is validated
    /// and compiled; the snapshot is published; then the old one is retired and this waits (at most
    /// Control.ChangeTimeoutMilliseconds) until every worker has passed a quiescent point, so an Ok
    /// answer with Quiescent=true means every worker steers with the new snapshot.
    /// </summary>
    ChangeResult Apply(string what, Action<ApplianceOptions, Dictionary<(string Pool, string Backend), Runtime>> edit) =>
        Apply(what, (o, rt) => { edit(o, rt); return o; });

    /// <summary>As above, for a change that replaces the configuration: <paramref name="edit"/> returns the candidate.</summary>
    ChangeResult Apply(string what, Func<ApplianceOptions, Dictionary<(string Pool, string Backend), Runtime>, ApplianceOptions> edit)
    {
        var sw = Stopwatch.StartNew();
        lock (_gate)
        {
            var candidate = _running.Copy();
            var runtime = _runtime.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
            DataplaneSnapshot next;
            try
            {
                candidate = edit(candidate, runtime);
                var restart = RestartOnly(_running, candidate);
                if (restart.Count > 0) throw new ConfigurationException(restart);
                // Runtime state of backends that no longer exist is forgotten; new ones start enabled and up.
                var configured = new HashSet<(string, string)>();
                foreach (var p in candidate.Pools) foreach (var b in p.Backends) configured.Add((p.Name, b.Name));
                foreach (var k in runtime.Keys.Where(k => !configured.Contains(k)).ToList()) runtime.Remove(k);
                foreach (var k in configured) runtime.TryAdd(k, new Runtime());
                next = Compile(candidate, runtime);
            }
            catch (ConfigurationException e)
            {
                _log($"{what}: refused: {string.Join("; ", e.Errors)}");
                return ChangeResult.Refused(e.Errors);
            }
            var compiled = sw.Elapsed;
            _running = candidate;
            _runtime = runtime;
            bool quiescent = Snapshots.Publish(next, ChangeTimeout);
            sw.Stop();
            string msg = quiescent
                ? $"{what}: generation {next.Generation} in effect on every worker"
                : $"{what}: generation {next.Generation} published; not every worker passed a quiescent point within " +
                  $"{_running.Control.ChangeTimeoutMilliseconds} ms (the old snapshot is kept until they do)";
            _log($"{msg} ({sw.Elapsed.TotalMilliseconds:0.###} ms)");
            return new ChangeResult(true, msg, next.Generation, quiescent, sw.Elapsed, [])
            {
                CompileTime = compiled,
                GraceTime = sw.Elapsed - compiled,
            };
        }
    }

    DataplaneSnapshot Compile(ApplianceOptions o, Dictionary<(string Pool, string Backend), Runtime> runtime) =>
        _compiler.Compile(o, _portMacs, _portIndexes, (pool, backend) =>
            runtime.TryGetValue((pool, backend), out var r) ? StateOf(r) : BackendState.Active);

    static BackendState StateOf(Runtime r) => r.Admin switch
    {
        AdminState.Disabled or AdminState.Drained => BackendState.Disabled,
        _ when !r.HealthUp => BackendState.Down,
        AdminState.Draining => BackendState.Draining,
        _ => BackendState.Active,
    };

    /// <summary>Called by the management loop: releases snapshots whose grace period ended late and
    /// ends drains whose deadline passed. Never blocks behind a change in progress.</summary>
    public void Tick()
    {
        if (!Monitor.TryEnter(_gate)) return;
        try
        {
            Snapshots.ReleaseQuiescent();
            var now = _clock();
            var expired = _runtime.Where(kv => kv.Value.Admin == AdminState.Draining && kv.Value.DrainDeadline is { } d && d <= now)
                .Select(kv => kv.Key).ToList();
            if (expired.Count > 0)
                Apply($"drain deadline of {string.Join(", ", expired.Select(k => $"{k.Pool}/{k.Backend}"))}", (_, rt) =>
                {
                    foreach (var k in expired) { rt[k].Admin = AdminState.Drained; rt[k].DrainDeadline = null; }
                });
        }
        finally { Monitor.Exit(_gate); }
    }

    // ------------------------------------------------------------------ restart-only settings

    /// <summary>Settings the running process cannot change (they size or start DPDK, ports, workers, tables).</summary>
    List<ConfigurationError> RestartOnly(ApplianceOptions now, ApplianceOptions next)
    {
        var e = RestartSettings.Differences(now, next).Select(path => new ConfigurationError(path, "requires a restart")).ToList();
        if (!_learnedTable)
            for (int i = 0; i < next.Vips.Length; i++)
                if (next.Vips[i].Joins.Contains(JoinMode.LearnedToken))
                    e.Add(new($"Vips[{i}].Joins", "requires a restart: the learned-token table is created at start only when a VIP uses learned-token"));
        return e;
    }

    // ------------------------------------------------------------------ commands

    static int PoolIndex(ApplianceOptions o, string pool)
    {
        int i = Array.FindIndex(o.Pools, p => p.Name == pool);
        if (i < 0) throw new ConfigurationException("pool", $"no pool '{pool}' (pools: {string.Join(", ", o.Pools.Select(p => p.Name))})");
        return i;
    }

    static (int Pool, int Backend) Find(ApplianceOptions o, string pool, string backend)
    {
        int p = PoolIndex(o, pool);
        int b = Array.FindIndex(o.Pools[p].Backends, x => x.Name == backend);
        if (b < 0) throw new ConfigurationException("backend", $"no backend '{backend}' in pool '{pool}'");
        return (p, b);
    }

    /// <summary>Adds a backend to a pool of the running configuration (validated like the file: paths such as Pools[0].Backends[3].Address).</summary>
    public ChangeResult AddBackend(string pool, BackendOptions backend) => Apply($"backend add {pool} {backend.Name}", (o, _) =>
    {
        int p = PoolIndex(o, pool);
        if (o.Pools[p].Backends.Any(b => b.Name == backend.Name))
            throw new ConfigurationException("backend", $"pool '{pool}' already has a backend '{backend.Name}'");
        o.Pools[p].Backends = [.. o.Pools[p].Backends, backend.Copy()];
    });

    /// <summary>Removes a backend: out of Maglev at once; its pinned flows follow the pool's RemovedFlows policy.</summary>
    public ChangeResult RemoveBackend(string pool, string backend) => Apply($"backend del {pool} {backend}", (o, _) =>
    {
        var (p, b) = Find(o, pool, backend);
        o.Pools[p].Backends = [.. o.Pools[p].Backends.Where((_, i) => i != b)];
    });

    public ChangeResult SetWeight(string pool, string backend, int weight) => Apply($"backend set {pool} {backend} weight {weight}", (o, _) =>
    {
        var (p, b) = Find(o, pool, backend);
        o.Pools[p].Backends[b].Weight = weight;
    });

    /// <summary>Draining: out of Maglev; pinned flows and joins of existing connections still reach it until
    /// <paramref name="deadline"/> (null: until enabled, disabled or removed), then it is Drained (treated as disabled).</summary>
    public ChangeResult Drain(string pool, string backend, TimeSpan? deadline) => Apply($"backend drain {pool} {backend}", (o, rt) =>
    {
        Find(o, pool, backend);
        if (deadline is { } d && d < TimeSpan.Zero) throw new ConfigurationException("deadline", $"{d.TotalSeconds} must be 0 or more seconds");
        var r = rt[(pool, backend)];
        r.Admin = AdminState.Draining;
        r.DrainDeadline = deadline is { } x ? _clock() + x : null;
    });

    public ChangeResult Disable(string pool, string backend) => Apply($"backend disable {pool} {backend}", (o, rt) =>
    {
        var (p, b) = Find(o, pool, backend);
        o.Pools[p].Backends[b].Enabled = false;
        rt[(pool, backend)].Admin = AdminState.Disabled;
        rt[(pool, backend)].DrainDeadline = null;
    });

    public ChangeResult Enable(string pool, string backend) => Apply($"backend enable {pool} {backend}", (o, rt) =>
    {
        var (p, b) = Find(o, pool, backend);
        o.Pools[p].Backends[b].Enabled = true;
        rt[(pool, backend)].Admin = AdminState.Enabled;
        rt[(pool, backend)].DrainDeadline = null;
    });

    /// <summary>A health-check transition (same change path). Down: out of Maglev, pinned flows follow the
    /// removal policy; up again: back in Maglev unless disabled or draining. No change, no new snapshot.</summary>
    public ChangeResult SetHealth(string pool, string backend, bool up, string reason)
    {
        lock (_gate)
        {
            if (_runtime.TryGetValue((pool, backend), out var cur) && cur.HealthUp == up)
            {
                cur.HealthReason = reason;
                return new ChangeResult(true, $"health of {pool}/{backend} already {(up ? "up" : "down")}", Snapshots.Current.Generation, true, TimeSpan.Zero, []);
            }
            return Apply($"health {pool}/{backend} {(up ? "up" : "down")} ({reason})", (o, rt) =>
            {
                Find(o, pool, backend);
                rt[(pool, backend)].HealthUp = up;
                rt[(pool, backend)].HealthReason = reason;
            });
        }
    }

    /// <summary>Installs (or replaces) the token key under <paramref name="keyId"/>. Tokens minted under the
    /// other ids keep decrypting; tokens minted under the replaced key of this id no longer do.</summary>
    public ChangeResult RotateKey(int keyId, string hexKey) => Apply($"keys rotate {keyId}", (o, _) =>
    {
        var keys = o.Mptcp.TokenKeys.Where(k => k.Id != keyId).ToList();
        keys.Add(new TokenKeyOptions { Id = keyId, Key = hexKey });
        o.Mptcp.TokenKeys = [.. keys.OrderBy(k => k.Id)];
    });

    /// <summary>Removes the token key of <paramref name="keyId"/>: tokens minted under it stop placing joins.</summary>
    public ChangeResult RemoveKey(int keyId) => Apply($"keys remove {keyId}", (o, _) =>
    {
        if (!o.Mptcp.TokenKeys.Any(k => k.Id == keyId)) throw new ConfigurationException("key id", $"no token key with id {keyId}");
        o.Mptcp.TokenKeys = [.. o.Mptcp.TokenKeys.Where(k => k.Id != keyId)];
    });

    /// <summary>Replaces the running configuration with <paramref name="loaded"/> (already bound and validated
    /// by ApplianceConfiguration.Load). Administrative and health state survive for backends that still exist.</summary>
    public ChangeResult Replace(ApplianceOptions loaded, string what = "reload") => Apply(what, (_, rt) =>
    {
        var fresh = loaded.Copy();
        foreach (var p in fresh.Pools)
            foreach (var b in p.Backends)
                if (rt.TryGetValue((p.Name, b.Name), out var r) && r.Admin == AdminState.Disabled) b.Enabled = false;
                else if (!b.Enabled) rt[(p.Name, b.Name)] = new Runtime { Admin = AdminState.Disabled };
        return fresh;
    });

    /// <summary>Reads the configuration file again (same layering as at start: file, environment, command line)
    /// and applies it; an invalid file is refused with every error's JSON path and reason.</summary>
    public ChangeResult Reload(string path, string[] args, IDictionary? env = null, string what = "reload")
    {
        ApplianceOptions loaded;
        try { loaded = ApplianceConfiguration.Load(path, args, env).Options; }
        catch (ConfigurationException e)
        {
            _log($"{what}: refused: {string.Join("; ", e.Errors)}; the running configuration stays");
            return ChangeResult.Refused(e.Errors);
        }
        return Replace(loaded, what);
    }

    // ------------------------------------------------------------------ read model

    /// <summary>Every configured backend with its administrative state, health, drain deadline and counters.</summary>
    public IReadOnlyList<BackendStatus> Backends()
    {
        lock (_gate)
        {
            var list = new List<BackendStatus>();
            var snap = Snapshots.Current;
            foreach (var p in _running.Pools)
                foreach (var b in p.Backends)
                {
                    var r = _runtime.TryGetValue((p.Name, b.Name), out var x) ? x : new Runtime();
                    int id = _compiler.Ids.TryGet(p.Name, b.Name, out int i) ? i : -1;
                    long packets = 0, bytes = 0, flows = 0;
                    if (id >= 0)
                        foreach (var c in _counters)
                        {
                            if (id >= c.MaxBackends) continue;
                            packets += c.GetBackend(id, ServiceCounter.Packets);
                            bytes += c.GetBackend(id, ServiceCounter.Bytes);
                            flows += c.GetBackend(id, ServiceCounter.NewFlows);
                        }
                    var state = id >= 0 && id < snap.Backends.Length ? snap.Backends[id].State : BackendState.Removed;
                    list.Add(new BackendStatus(p.Name, b.Name, b.Address, b.Weight, r.Admin, r.HealthUp, r.HealthReason,
                        r.DrainDeadline, id, state, packets, bytes, flows));
                }
            return list;
        }
    }
}
