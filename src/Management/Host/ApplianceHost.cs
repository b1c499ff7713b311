using System.Diagnostics;
using System.Runtime.InteropServices;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Pipeline;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Dataplane.Native;
using Switchyard.Management.Bgp;
using Switchyard.Management.Compile;
using Switchyard.Management.Control;
using Switchyard.Management.Options;

namespace Switchyard.Management.Host;

/// <summary>
/// The appliance process: starts EAL from the configuration, sets up the ports, compiles and
/// publishes the first snapshot, starts one pinned worker per configured core, reports counters,
/// and stops cleanly on SIGINT/SIGTERM, on Run.DurationSeconds or on Run.StopAfterIdleMilliseconds.
/// This thread is the management thread; it never touches packets. By concern: ports
/// (ApplianceHost.Ports.cs), workers (.Workers.cs), the services beside them (health, observability,
/// control socket, file watch: .Services.cs) and the management loop (.Loop.cs).
/// </summary>
public sealed partial class ApplianceHost
{
    readonly ApplianceOptions _o;
    readonly string[] _extraEal;
    readonly TextWriter _log;
    readonly Stopwatch _uptime = Stopwatch.StartNew();
    readonly string? _configPath;
    readonly string[] _configArgs;

    /// <param name="configPath">The configuration file, re-read by `ctl reload` and the file watch (null: none).</param>
    /// <param name="configArgs">The --Section:Key=value overrides it was loaded with (applied again on reload).</param>
    public ApplianceHost(ApplianceOptions options, string[] extraEalArgs, TextWriter log, string? configPath = null, string[]? configArgs = null)
    {
        _o = options; _extraEal = extraEalArgs; _log = log;
        _configPath = configPath; _configArgs = configArgs ?? [];
    }

    /// <summary>The control plane, once the ports are up (null before): health checks and metrics attach here.</summary>
    public ControlPlane? Control { get; private set; }

    /// <summary>Called on the management thread right after the control plane exists and before the workers
    /// start (e.g. to start health checks that call <see cref="ControlPlane.SetHealth"/>).</summary>
    public Action<ControlPlane>? OnControlPlane { get; init; }

    void Log(string message) => _log.WriteLine($"switchyard: {message}");

    // Issue 12: exception path, BGP announcement, idle back-off (Management/Bgp/ScaleOut.cs).
    ScaleOut? _scaleOut;
    volatile bool _terminate;

    /// <summary>The counters JSON with the "bgp" section (sessions, announced prefixes, exception path) when BGP or
    /// the exception path is on (issue 12).</summary>
    string WithBgp(string json)
    {
        if (_scaleOut is not { } so || (!so.Enabled && so.TokenSync is null)) return json;
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        if (so.Enabled) node["bgp"] = so.StatusJson();
        if (so.TokenSync is { } sync) node["cluster"] = sync.StatusJson();
        return node.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = json.Contains('\n') });
    }

    /// <summary>The cluster's learned-token exchange (issue 12, item 2): wire names "pool/backend" mapped to this
    /// process's backend ids, refreshed when a new snapshot is published.</summary>
    Cluster.TokenSync StartTokenSync(ControlPlane control, LearnedTokenTable? learned, List<TokenExportQueue> queues,
        Dataplane.Datapath.Steering.Pins.SharedPinTable? pins, List<Dataplane.Datapath.Steering.Pins.PinExportQueue>? pinQueues)
    {
        var names = Cluster.BackendNames.Empty;
        Cluster.BackendNames Names()
        {
            long g = control.Current.Generation;
            if (g != names.Generation) names = new Cluster.BackendNames(g, control.Backends().Select(b => (b.Pool, b.Name, b.Id)));
            return names;
        }
        var sync = new Cluster.TokenSync(_o.Cluster, Cluster.TokenSync.LoadKey(_o.Cluster), learned?.IdleTicks ?? (uint)_o.Mptcp.LearnedTokenIdleTimeoutSeconds * 1000u,
            learned, [.. queues], Names, Log, pins, pinQueues is null ? null : [.. pinQueues]);
        sync.Start();
        return sync;
    }

    public int Run()
    {
        Log(Capabilities.Format().TrimEnd());
        var plans = WorkerLayout.Resolve(_o);
        _scaleOut = new ScaleOut(_o, Log);
        var ealArgs = BuildEalArgs(plans);
        Log("EAL arguments: " + string.Join(' ', ealArgs.Skip(1)));
        Dpdk.InitEal(ealArgs);
        try
        {
            try { Dpdk.InitPdump(); }
            catch (DpdkException e) { Log($"packet capture (pdump) unavailable: {e.Message}"); }
            Observability.ObservabilityService.PrepareEal(_o.Observability, !ealArgs.Contains("--no-huge"), Log);
            return RunPorts(plans);
        }
        finally
        {
            foreach (var e in Dpdk.StopAndCloseAll()) Log($"port shutdown: {e.Message}");
            // DPDK 22.11 leaves /var/run/dpdk/<file-prefix> behind at exit: the primary removes its own.
            if (RuntimeDirectory.RemoveOwn(Log) is { } removed) Log($"removed DPDK's runtime directory {removed}");
        }
    }

    string[] BuildEalArgs(IReadOnlyList<WorkerPlan> plans)
    {
        bool huge = EalArguments.FreeHugepagesExist();
        var args = EalArguments.Build(_o.Eal, huge).ToList();
        if (_o.Eal.Lcores is null)
        {
            // EAL's own main lcore goes on the first core that runs no worker, so EAL spawns no idle
            // threads on worker cores (workers are .NET threads registered with rte_thread_register).
            var workerCores = plans.Select(p => p.Core).ToHashSet();
            int mgmt = Enumerable.Range(0, Environment.ProcessorCount).FirstOrDefault(c => !workerCores.Contains(c), 0);
            args.Insert(1, "-l");
            args.Insert(2, mgmt.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        if (args.Contains("--no-huge"))
            Log(_o.Eal.Hugepages == "off"
                ? "hugepages: off by configuration (--no-huge): fine for functional runs, about half the throughput"
                : "hugepages: none free, running with --no-huge (functional runs only; reserve hugepages for load runs)");
        else Log("hugepages: using the free hugepages");
        args.AddRange(_scaleOut?.EalArguments() ?? []);
        args.AddRange(_extraEal);
        return [.. args];
    }

    /// <summary>The appliance once EAL is up: ports, control plane, workers, services, the management loop, shutdown.</summary>
    int RunPorts(IReadOnlyList<WorkerPlan> plans)
    {
        var ports = StartPorts();
        using var scaleOut = _scaleOut!;
        scaleOut.SetUpPorts(ports.Indexes, ports.Macs, Dpdk.PoolForSocket(0, (uint)_o.Dataplane.MempoolMbufs, (uint)_o.Dataplane.MbufCacheSize));
        // The control plane owns the running configuration and publishes every snapshot (the first one too).
        var control = new ControlPlane(_o, ports.Macs, ports.Indexes, Log);
        Control = control;
        OnControlPlane?.Invoke(control);
        var snapshot = control.Current;
        Log($"snapshot {snapshot.Generation}: {snapshot.Vips.Length} VIP(s), {snapshot.Pools.Length} pool(s), " +
            $"{snapshot.Backends.Count(b => b.Name is not null)} backend(s)");

        // One learned-token table for all workers: a join's 5-tuple can land on any RSS queue.
        using var learned = _o.Vips.Any(v => v.Joins.Contains(JoinMode.LearnedToken))
            ? new LearnedTokenTable(_o.Mptcp.LearnedTokenCapacity, (uint)_o.Mptcp.LearnedTokenIdleTimeoutSeconds * 1000u) : null;
        var stop = new StopFlag();
        var tokenQueues = _o.Cluster.Enabled && learned is not null ? new List<TokenExportQueue>() : null;
        // Issue 12 item 4: pins shared between the appliances (one table of peers' pins for all workers).
        var sharedPins = _o.Cluster.Enabled && _o.Cluster.SharePins ? new Dataplane.Datapath.Steering.Pins.SharedPinTable(_o.Cluster.SharedPinCapacity) : null;
        var pinQueues = sharedPins is null ? null : new List<Dataplane.Datapath.Steering.Pins.PinExportQueue>();
        var workers = CreateWorkers(plans, ports, control.Snapshots, learned, stop, tokenQueues, sharedPins, pinQueues);
        var reason = new StopReason();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; reason.Set("SIGINT"); stop.Request(); });
        // With BGP, SIGTERM first withdraws the VIPs and keeps forwarding for the hold-down (a second signal stops at once).
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true; reason.Set("SIGTERM");
            if (_o.Bgp.Enabled && !_terminate) _terminate = true; else stop.Request();
        });

        control.AttachWorkers(workers.Select(w => (IQuiescentWorker)w.Loop).ToArray(), workers.Select(w => w.Counters).ToArray());
        foreach (var w in workers) w.Loop.Start();
        scaleOut.Start(control, () => workers.Select(w => (w.Loop.QuiescentGeneration, w.Loop.HasExited)).ToArray());
        using var tokenSync = tokenQueues is null && sharedPins is null ? null
            : StartTokenSync(control, learned, tokenQueues ?? [], sharedPins, pinQueues);
        scaleOut.TokenSync = tokenSync;
        Log($"running: {workers.Count} worker(s) on core(s) {string.Join(',', plans.Select(p => p.Core))}");

        using var services = Services.Start(this, control, workers, ports);
        RunUntilStopped(control, workers, services, stop, reason);
        Log($"stopping ({reason})");
        tokenSync?.Dispose(); // the exchange stops first, while the exception path still carries its last datagrams
        services.StopControlSocket(); // no changes while stopping
        return StopWorkers(workers, services.Views, ports);
    }
}
