using System.Diagnostics;
using Switchyard.Dataplane.Native;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Management.Control;

namespace Switchyard.Management.Host;

public sealed partial class ApplianceHost
{
    /// <summary>Why the appliance stops (set by a signal handler or the loop; read after the loop).</summary>
    sealed class StopReason
    {
        volatile string _text = "signal";
        public void Set(string text) => _text = text;
        public override string ToString() => _text;
    }

    /// <summary>
    /// The management loop, every 20 ms until a stop is requested: keeps runtime threads off the worker
    /// cores, notices a failed worker, the run duration and the idle stop, releases retired snapshots and
    /// ends drains (<see cref="ControlPlane.Tick"/>), follows configuration changes in the health checker,
    /// polls the file watch and rewrites the counters file.
    /// </summary>
    void RunUntilStopped(ControlPlane control, List<HostWorker> workers, Services services, StopFlag stop, StopReason reason)
    {
        var lastWatch = Stopwatch.StartNew();
        var deadline = _o.Run.DurationSeconds > 0 ? TimeSpan.FromSeconds(_o.Run.DurationSeconds) : (TimeSpan?)null;
        var lastCounters = Stopwatch.StartNew();
        var workerCores = workers.Select(w => w.Loop.Core).ToHashSet();
        var otherCores = Enumerable.Range(0, Environment.ProcessorCount).Where(c => !workerCores.Contains(c)).ToArray();
        var lastIsolation = Stopwatch.StartNew();
        bool isolated = false;
        while (!stop.IsRequested)
        {
            Thread.Sleep(20);
            if (_terminate && _scaleOut is { } so)
            {
                so.WithdrawAndHoldDown(() => stop.IsRequested);
                stop.Request();
                break;
            }
            _scaleOut?.Tick();
            // Every second: keep the runtime's threads (JIT, GC, thread pool; some are created later,
            // from a worker) off the worker cores, once every worker has reported its thread id.
            if ((!isolated || lastIsolation.ElapsedMilliseconds >= 1000) && workers.All(w => w.Loop.ThreadId != 0))
            {
                int moved = Affinity.KeepOffCores(workers.Select(w => w.Loop.ThreadId).ToHashSet(), otherCores);
                if (!isolated) Log($"kept {moved} non-worker thread(s) on core(s) {string.Join(',', otherCores)}");
                isolated = true;
                lastIsolation.Restart();
            }
            if (!stop.IsRequested && workers.Any(w => w.Loop.HasExited)) { reason.Set("a worker failed"); stop.Request(); break; }
            if (deadline is { } d && _uptime.Elapsed >= d) { reason.Set($"duration {_o.Run.DurationSeconds} s reached"); stop.Request(); break; }
            if (_o.Run.StopAfterIdleMilliseconds > 0 && IdleLongEnough(workers))
            {
                reason.Set($"no packet for {_o.Run.StopAfterIdleMilliseconds} ms"); stop.Request(); break;
            }
            control.Tick();
            // Backends added, removed or re-addressed (ctl, reload): the checker follows the running configuration.
            if (control.Current.Generation != services.HealthSeenGeneration)
            {
                services.HealthSeenGeneration = control.Current.Generation;
                services.Health.Update(control.Running);
            }
            if (services.Watcher is not null && lastWatch.ElapsedMilliseconds >= 1000) { services.Watcher.Poll(); lastWatch.Restart(); }
            if (!string.IsNullOrEmpty(_o.Run.CountersFile) && lastCounters.Elapsed.TotalSeconds >= Math.Max(1, _o.Run.CountersIntervalSeconds))
            {
                CountersReport.WriteFileAtomically(_o.Run.CountersFile,
                    WithBgp(CountersReport.ToJson(control.Current, services.Views, PortStats(services.Ports), _uptime.Elapsed, final: false)));
                lastCounters.Restart();
            }
        }
    }
}
