using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Pipeline;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Dataplane.Native;
using Switchyard.Management.Options;

namespace Switchyard.Management.Host;

public sealed partial class ApplianceHost
{
    sealed record HostWorker(WorkerLoop<DpdkPortIo> Loop, BurstProcessor Processor, WorkerCounters Counters);

    /// <summary>One worker per plan: its own flow table, counters and packet path; created, not started.</summary>
    List<HostWorker> CreateWorkers(IReadOnlyList<WorkerPlan> plans, StartedPorts ports, SnapshotHolder snapshots, LearnedTokenTable? learned, StopFlag stop,
        List<TokenExportQueue>? tokenQueues = null, Dataplane.Datapath.Steering.Pins.SharedPinTable? sharedPins = null,
        List<Dataplane.Datapath.Steering.Pins.PinExportQueue>? pinQueues = null)
    {
        var workers = new List<HostWorker>();
        int portCount = _o.Ports.Length;
        foreach (var plan in plans)
        {
            var counters = new WorkerCounters(_o.Dataplane.MaxVips, _o.Dataplane.MaxBackends);
            // Cluster (issue 12): this worker's lock-free queue of learned-token events for the exchange.
            var export = tokenQueues is null ? null : new TokenExportQueue(_o.Cluster.QueueCapacity);
            if (export is not null) tokenQueues!.Add(export);
            // Issue 12 item 4: this worker's queue of pins that the current Maglev table no longer reproduces.
            var pinExport = pinQueues is null ? null : new Dataplane.Datapath.Steering.Pins.PinExportQueue(_o.Cluster.QueueCapacity);
            if (pinExport is not null) pinQueues!.Add(pinExport);
            var processor = new BurstProcessor(snapshots, new FlowTable(_o.Dataplane.FlowTableEntries), counters, learned, export,
                sharedPins, pinExport, _o.Cluster.PinSweepBucketsPerBurst) { ExceptionPath = _o.ExceptionPath.Enabled, FloodGuardNewFlowsPerSecond = _o.Dataplane.FloodGuardNewFlowsPerSecond,
                SpecialisedBodies = _o.Dataplane.SpecialisedBodies };
            var rx = plan.Queues.Select(q => new RxQueueRef((byte)ports.Indexes[q.Port], (ushort)q.Queue)).ToArray();
            var tx = Enumerable.Repeat((ushort)plan.TxQueue, portCount).ToArray();
            // Run.ForwardOnly: the cycle budget's floor (same loop and ports, trivial handler). Run.StageStampsFile: stamps.
            IBurstHandler handler = _o.Run.ForwardOnly
                ? new ForwardOnlyHandler((byte)(_o.Run.ForwardOnlyPort is { } fp ? ports.Indexes[fp] : portCount - 1), counters) : processor;
            var loop = WorkerLoop.Create(plan.Core, rx, tx, portCount, handler, counters, stop, Log);
            if (_o.Run.StageStampsFile is not null) processor.Budget = loop.Budget = new StageBudget(_o.Run.StageStampsEvery);
            _scaleOut?.ConfigureWorker(loop, workers.Count, ports.Indexes);
            workers.Add(new HostWorker(loop, processor, counters));
        }
        return workers;
    }

    /// <summary>Joins the workers (stop already requested), prints the final counters; the exit code.</summary>
    int StopWorkers(List<HostWorker> workers, CountersReport.WorkerView[] views, StartedPorts ports)
    {
        int exit = 0;
        foreach (var w in workers)
        {
            if (!w.Loop.Join(TimeSpan.FromSeconds(10))) { Log($"worker {w.Loop.Core} did not stop within 10 s"); exit = 1; }
            if (w.Loop.Fault is { } f) { Log($"worker {w.Loop.Core} failed: {f.Message}"); exit = 1; }
        }
        var json = WithBgp(CountersReport.ToJson(Control!.Current, views, PortStats(ports), _uptime.Elapsed, final: true));
        if (!string.IsNullOrEmpty(_o.Run.CountersFile)) CountersReport.WriteFileAtomically(_o.Run.CountersFile, json);
        Console.Out.WriteLine(json);
        Console.Out.Flush();
        if (_o.Run.StageStampsFile is { } stampsFile) // the cycle budget (issue 14)
            CountersReport.WriteFileAtomically(stampsFile, StageBudget.ToJson(
                workers.Where(w => w.Loop.Budget is not null).Select(w => (w.Loop.Core, w.Loop.Budget!)).ToArray(),
                StageBudget.MeasureTscHz(TimeSpan.FromMilliseconds(200)), _o.Run.ForwardOnly ? "forward-only" : "appliance"));
        foreach (var w in workers) { w.Loop.Dispose(); w.Processor.Dispose(); }
        return exit;
    }

    /// <summary>Some packet has arrived and no worker has received one for Run.StopAfterIdleMilliseconds.</summary>
    bool IdleLongEnough(List<HostWorker> workers)
    {
        long newest = workers.Max(w => w.Loop.LastRxTick);
        if (newest < 0) return false;
        long now = workers.Max(w => w.Loop.NowTick);
        return now - newest >= _o.Run.StopAfterIdleMilliseconds;
    }
}
