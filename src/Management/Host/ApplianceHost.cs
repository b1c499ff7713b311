using System.Diagnostics;
using System.Runtime.InteropServices;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Pipeline;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Dataplane.Native;
using Switchyard.Management.Compile;
using Switchyard.Management.Control;
using Switchyard.Management.Options;

namespace Switchyard.Management.Host;

/// <summary>
/// The appliance process: starts EAL from the configuration, sets up the ports, compiles and
/// publishes the first snapshot, starts one pinned worker per configured core, reports counters,
/// and stops cleanly on SIGINT/SIGTERM, on Run.DurationSeconds or on Run.StopAfterIdleMilliseconds.
/// This thread is the management thread; it never touches packets.
/// </summary>
public sealed class ApplianceHost
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

    public int Run()
    {
        Log(Capabilities.Format().TrimEnd());
        var plans = WorkerLayout.Resolve(_o);
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
        args.AddRange(_extraEal);
        return [.. args];
    }

    int RunPorts(IReadOnlyList<WorkerPlan> plans)
    {
        // Snapshot port index == DPDK port id (the worker passes the DPDK id to the processor).
        var portIndexes = new Dictionary<string, int>();
        var portMacs = new Dictionary<string, ulong>();
        foreach (var p in _o.Ports)
        {
            ushort id = Dpdk.PortByName(p.Device);
            portIndexes[p.Name] = id;
        }
        if (portIndexes.Values.Order().Select((v, i) => v == i).Any(ok => !ok) || Dpdk.PortCount != _o.Ports.Length)
            throw new ConfigurationException([new ConfigurationError("Ports",
                $"DPDK probed {Dpdk.PortCount} port(s) but {_o.Ports.Length} are configured; configure every probed device " +
                "(or restrict probing with Eal.Allow / --no-pci) so port ids are 0..n-1")]);

        foreach (var p in _o.Ports)
        {
            ushort id = (ushort)portIndexes[p.Name];
            int socket = Math.Max(0, Dpdk.PortSocket(id));
            nint pool = Dpdk.PoolForSocket(socket, (uint)_o.Dataplane.MempoolMbufs, (uint)_o.Dataplane.MbufCacheSize);
            var setup = new PortSetup(
                RxQueues: (ushort)WorkerLayout.RxQueues(_o, p),
                TxQueues: (ushort)WorkerLayout.TxQueues(_o, p),
                RxDescriptors: (ushort)p.RxDescriptors,
                TxDescriptors: (ushort)p.TxDescriptors,
                Mtu: (ushort)p.Mtu,
                EnableRss: true,
                Promiscuous: p.Promiscuous);
            Dpdk.SetupPort(id, setup, pool);
            Dpdk.StartPort(id);
            ulong mac = p.Mac is not null && ValueParsers.TryParseMac(p.Mac, out var m) ? m : Dpdk.PortMac48(id);
            portMacs[p.Name] = mac;
            Log($"port {id} '{p.Name}' ({p.Device}): {setup.RxQueues} rx / {setup.TxQueues} tx queues, MTU {p.Mtu}, MAC {FormatMac(mac)}");
        }

        // The control plane owns the running configuration and publishes every snapshot (the first one too).
        var control = new ControlPlane(_o, portMacs, portIndexes, Log);
        var holder = control.Snapshots;
        Control = control;
        OnControlPlane?.Invoke(control);
        var snapshot = holder.Current;
        Log($"snapshot {snapshot.Generation}: {snapshot.Vips.Length} VIP(s), {snapshot.Pools.Length} pool(s), " +
            $"{snapshot.Backends.Count(b => b.Name is not null)} backend(s)");

        // One learned-token table for all workers: a join's 5-tuple can land on any RSS queue.
        using var learned = _o.Vips.Any(v => v.Joins.Contains(JoinMode.LearnedToken)) ? new LearnedTokenTable(_o.Mptcp.LearnedTokenCapacity, (uint)_o.Mptcp.LearnedTokenIdleTimeoutSeconds * 1000u) : null;
        var stop = new StopFlag();
        var workers = new List<(WorkerLoop<DpdkPortIo> Loop, BurstProcessor Processor, WorkerCounters Counters)>();
        int portCount = _o.Ports.Length;
        foreach (var plan in plans)
        {
            var counters = new WorkerCounters(_o.Dataplane.MaxVips, _o.Dataplane.MaxBackends);
            var processor = new BurstProcessor(holder, new FlowTable(_o.Dataplane.FlowTableEntries), counters, learned);
            var rx = plan.Queues.Select(q => new RxQueueRef((byte)portIndexes[q.Port], (ushort)q.Queue)).ToArray();
            var tx = Enumerable.Repeat((ushort)plan.TxQueue, portCount).ToArray();
            var loop = WorkerLoop.Create(plan.Core, rx, tx, portCount, processor, counters, stop, Log);
            workers.Add((loop, processor, counters));
        }

        string reason = "signal";
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; reason = "SIGINT"; stop.Request(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; reason = "SIGTERM"; stop.Request(); });

        control.AttachWorkers(
            workers.Select(w => (IQuiescentWorker)w.Loop).ToArray(),
            workers.Select(w => w.Counters).ToArray());
        foreach (var w in workers) w.Loop.Start();
        Log($"running: {workers.Count} worker(s) on core(s) {string.Join(',', plans.Select(p => p.Core))}");

        var views = workers.Select(w => new CountersReport.WorkerView(w.Loop.Core, w.Counters)).ToArray();
        // Health checks run off the worker cores; every transition goes through the control plane's one change path.
        using var health = new Health.HealthChecker(control.Running, t =>
        {
            var r = control.SetHealth(t.Pool, t.Backend, t.Up, t.Reason);
            if (!r.Ok) Log($"health {t.Pool}/{t.Backend} {(t.Up ? "up" : "down")} not applied: {r.Message}");
        }, _log);
        health.Start();
        long healthSeenGeneration = holder.Current.Generation;
        using var observability = new Observability.ObservabilityService(_o.Observability,
            new(() => holder.Current, views, () => PortStats(portIndexes), () => _uptime.Elapsed,
                BackendStates: () => control.Backends().Select(b => (b.Pool, b.Name, b.State.ToString().ToLowerInvariant())),
                Health: health.Backends), Log);
        observability.Start();
        using var server = StartControlServer(control, () => CountersReport.ToJson(holder.Current, views, PortStats(portIndexes), _uptime.Elapsed, final: false));
        var watcher = _configPath is not null && _o.Control.WatchConfigFile
            ? new ConfigFileWatcher(_configPath, () => control.Reload(_configPath, _configArgs, what: "reload (file changed)"), Log) : null;
        var lastWatch = Stopwatch.StartNew();
        var deadline = _o.Run.DurationSeconds > 0 ? TimeSpan.FromSeconds(_o.Run.DurationSeconds) : (TimeSpan?)null;
        var lastCounters = Stopwatch.StartNew();
        var workerCores = plans.Select(p => p.Core).ToHashSet();
        var otherCores = Enumerable.Range(0, Environment.ProcessorCount).Where(c => !workerCores.Contains(c)).ToArray();
        var lastIsolation = Stopwatch.StartNew();
        bool isolated = false;
        while (!stop.IsRequested)
        {
            Thread.Sleep(20);
            // Every second: keep the runtime's threads (JIT, GC, thread pool; some are created later,
            // from a worker) off the worker cores, once every worker has reported its thread id.
            if ((!isolated || lastIsolation.ElapsedMilliseconds >= 1000) && workers.All(w => w.Loop.ThreadId != 0))
            {
                int moved = Affinity.KeepOffCores(workers.Select(w => w.Loop.ThreadId).ToHashSet(), otherCores);
                if (!isolated) Log($"kept {moved} non-worker thread(s) on core(s) {string.Join(',', otherCores)}");
                isolated = true;
                lastIsolation.Restart();
            }
            if (!stop.IsRequested && workers.Any(w => w.Loop.HasExited))
            {
                reason = "a worker failed";
                stop.Request();
                break;
            }
            if (deadline is { } d && _uptime.Elapsed >= d) { reason = $"duration {_o.Run.DurationSeconds} s reached"; stop.Request(); break; }
            if (_o.Run.StopAfterIdleMilliseconds > 0 && IdleLongEnough(workers.Select(w => w.Loop).ToArray()))
            {
                reason = $"no packet for {_o.Run.StopAfterIdleMilliseconds} ms"; stop.Request(); break;
            }
            control.Tick();
            // Backends added, removed or re-addressed (ctl, reload): the checker follows the running configuration.
            if (holder.Current.Generation != healthSeenGeneration)
            {
                healthSeenGeneration = holder.Current.Generation;
                health.Update(control.Running);
            }
            if (watcher is not null && lastWatch.ElapsedMilliseconds >= 1000) { watcher.Poll(); lastWatch.Restart(); }
            if (!string.IsNullOrEmpty(_o.Run.CountersFile) && lastCounters.Elapsed.TotalSeconds >= Math.Max(1, _o.Run.CountersIntervalSeconds))
            {
                CountersReport.WriteFileAtomically(_o.Run.CountersFile, CountersReport.ToJson(holder.Current, views, PortStats(portIndexes), _uptime.Elapsed, final: false));
                lastCounters.Restart();
            }
        }
        Log($"stopping ({reason})");
        server?.Dispose(); // no changes while stopping
        int exit = 0;
        foreach (var w in workers)
        {
            if (!w.Loop.Join(TimeSpan.FromSeconds(10))) { Log($"worker {w.Loop.Core} did not stop within 10 s"); exit = 1; }
            if (w.Loop.Fault is { } f) { Log($"worker {w.Loop.Core} failed: {f.Message}"); exit = 1; }
        }
        var json = CountersReport.ToJson(holder.Current, views, PortStats(portIndexes), _uptime.Elapsed, final: true);
        if (!string.IsNullOrEmpty(_o.Run.CountersFile)) CountersReport.WriteFileAtomically(_o.Run.CountersFile, json);
        Console.Out.WriteLine(json);
        Console.Out.Flush();
        foreach (var w in workers) { w.Loop.Dispose(); w.Processor.Dispose(); }
        return exit;
    }

    ControlServer? StartControlServer(ControlPlane control, Func<string> counters)
    {
        if (string.IsNullOrEmpty(_o.Control.Socket)) { Log("control socket: off (Control.Socket is empty)"); return null; }
        var commands = new ControlCommands(control, counters, _configPath is null ? null : () => (_configPath, _configArgs));
        try
        {
            var server = new ControlServer(_o.Control.Socket, commands, Log);
            Log($"control socket: {server.Path} (switchyard ctl --socket {server.Path} ...)");
            return server;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            // The appliance still forwards; only live operations are unavailable, and the log says why.
            Log($"control socket {_o.Control.Socket} not available, running without live operations: {e.Message}");
            return null;
        }
    }

    bool IdleLongEnough(WorkerLoop<DpdkPortIo>[] loops)
    {
        // Stop once some packet has arrived and no worker has received one for the idle period.
        long newest = loops.Max(l => l.LastRxTick);
        if (newest < 0) return false;
        long now = loops.Max(l => l.NowTick);
        return now - newest >= _o.Run.StopAfterIdleMilliseconds;
    }

    IReadOnlyList<PortStatsView> PortStats(Dictionary<string, int> portIndexes)
    {
        var list = new List<PortStatsView>();
        foreach (var (name, id) in portIndexes.OrderBy(kv => kv.Value))
        {
            try
            {
                var s = Dpdk.Stats((ushort)id);
                list.Add(new PortStatsView(name, s.IPackets, s.OPackets, s.IBytes, s.OBytes, s.IMissed, s.IErrors, s.OErrors, s.RxNoMbuf));
            }
            catch (DpdkException e) { Log($"port stats: {e.Message}"); }
        }
        return list;
    }

    public static string FormatMac(ulong mac) => string.Join(':', Enumerable.Range(0, 6).Select(i => ((mac >> (40 - 8 * i)) & 0xFF).ToString("x2")));
}
