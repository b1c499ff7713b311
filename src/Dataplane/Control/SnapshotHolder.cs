using System.Diagnostics;

namespace Switchyard.Dataplane.Control;

/// <summary>A worker as the grace period sees it (implemented by <c>WorkerLoop</c>; tests pass fakes).</summary>
public interface IQuiescentWorker
{
    /// <summary>Incremented at every quiescent point (between bursts), with a release store.</summary>
    long QuiescentGeneration { get; }
    bool HasExited { get; }
}

/// <summary>
/// Read-copy-update for <see cref="DataplaneSnapshot"/>: the one place a snapshot is published, retired
/// and released (the scheme of DPDK's QSBR library and grout's; docs/design.md, "Snapshots").
/// <list type="bullet">
/// <item>Workers call <see cref="Current"/> once per burst (an acquire load) and hold what they read only
///   inside that burst; between bursts they pass a quiescent point (<see cref="IQuiescentWorker"/>).</item>
/// <item>The control plane builds a snapshot completely and calls <see cref="Publish(DataplaneSnapshot, TimeSpan)"/>:
///   an interlocked exchange (a full fence: visible before the workers' counters are read), then the old
///   snapshot is retired with every worker's counter, and the call waits until each counter has advanced
///   by two (or the worker exited). One advance could be a store already in the worker's store buffer
///   while it read the old reference; the second ends a loop that began after the publication was visible.</item>
/// </list>
/// A retired snapshot is released by dropping the reference (the GC frees it; nothing on the packet path
/// keeps one). Publish, retire and release are serialised by one lock the workers never take.
/// </summary>
public sealed class SnapshotHolder
{
    sealed record Retired(DataplaneSnapshot Snapshot, long[] Marks);

    DataplaneSnapshot _current;
    readonly object _gate = new();
    readonly List<Retired> _retired = new();
    IReadOnlyList<IQuiescentWorker> _workers = [];

    public SnapshotHolder(DataplaneSnapshot initial) { _current = initial; }

    /// <summary>The published snapshot (acquire). The workers' only entry point.</summary>
    public DataplaneSnapshot Current => Volatile.Read(ref _current);

    /// <summary>The workers whose quiescent points end a grace period (none: every grace period is over at once).</summary>
    public void Attach(IReadOnlyList<IQuiescentWorker> workers)
    {
        lock (_gate) _workers = workers;
    }

    /// <summary>Old snapshots still waiting for their grace period.</summary>
    public int RetiredCount { get { lock (_gate) return _retired.Count; } }

    /// <summary>Publishes <paramref name="next"/>, retires the snapshot it replaces and waits at most
    /// <paramref name="timeout"/> for every grace period to end. True: every worker now steers with
    /// <paramref name="next"/>; false: some worker has not passed two quiescent points yet (the old
    /// snapshot stays retired until <see cref="ReleaseQuiescent"/> finds it has).</summary>
    public bool Publish(DataplaneSnapshot next, TimeSpan timeout)
    {
        lock (_gate)
        {
            var old = Interlocked.Exchange(ref _current, next);
            var marks = new long[_workers.Count];
            for (int w = 0; w < marks.Length; w++) marks[w] = _workers[w].QuiescentGeneration;
            _retired.Add(new Retired(old, marks));
            var sw = Stopwatch.StartNew();
            var spin = new SpinWait();
            while (true)
            {
                ReleaseQuiescentLocked();
                if (_retired.Count == 0) return true;
                if (sw.Elapsed >= timeout) return false;
                if (sw.ElapsedMilliseconds < 2) spin.SpinOnce(sleep1Threshold: -1);
                else Thread.Sleep(1);
            }
        }
    }

    /// <summary>Publishes without waiting for a grace period: only for single-threaded harnesses that
    /// run no worker concurrently (tests, benchmarks).</summary>
    public void PublishUnsynchronized(DataplaneSnapshot next) => Interlocked.Exchange(ref _current, next);

    /// <summary>Releases retired snapshots whose grace period ended (called periodically by the management loop).</summary>
    public void ReleaseQuiescent()
    {
        if (!Monitor.TryEnter(_gate)) return; // a publication in progress releases them itself
        try { ReleaseQuiescentLocked(); }
        finally { Monitor.Exit(_gate); }
    }

    void ReleaseQuiescentLocked()
    {
        for (int i = _retired.Count - 1; i >= 0; i--)
        {
            var r = _retired[i];
            bool done = true;
            for (int w = 0; w < _workers.Count && w < r.Marks.Length && done; w++)
                done = _workers[w].HasExited || _workers[w].QuiescentGeneration >= r.Marks[w] + 2;
            if (done) _retired.RemoveAt(i);
        }
    }
}
