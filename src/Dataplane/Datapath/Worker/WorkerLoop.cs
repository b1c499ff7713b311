using Switchyard.Dataplane.Control;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Switchyard.Dataplane.Native;

namespace Switchyard.Dataplane.Datapath.Worker;

/// <summary>
/// The device side of a worker loop, as a struct strategy so the loop is specialised per device with
/// no virtual calls: <see cref="DpdkPortIo"/> in the appliance, a fake port in tests and benchmarks.
/// </summary>
public unsafe interface IPortIo
{
    /// <summary>Once, on the worker thread, before the loop (DPDK: rte_thread_register). Throws on failure.</summary>
    void AttachThread();
    /// <summary>Once, on the worker thread, after the loop.</summary>
    void DetachThread();
    /// <summary>Receives up to <see cref="Burst.Size"/> frames into the receive arrays of <paramref name="burst"/>; returns the count.</summary>
    int Receive(byte port, ushort queue, Burst burst);
    /// <summary>Applies delta/len and transmits; frees what the device did not take. Returns the count sent (a prefix).</summary>
    int Transmit(byte port, ushort queue, nint* handles, short* delta, ushort* len, int n);
    /// <summary>Frees <paramref name="n"/> frames.</summary>
    void Free(nint* handles, int n);
}

/// <summary>(port, receive queue) pair a worker polls.</summary>
public readonly record struct RxQueueRef(byte Port, ushort Queue);

/// <summary>Shared stop request for workers; the host sets it, workers poll it every housekeeping pass.</summary>
public sealed class StopFlag
{
    // volatile: the worker's read must not be hoisted out of its loop, and it must see the host's
    // write eventually (within one housekeeping interval, ~1024 loops).
    volatile bool _requested;
    public bool IsRequested => _requested;
    public void Request() => _requested = true;
}

/// <summary>Factory for the DPDK-backed loop.</summary>
public static class WorkerLoop
{
    public static WorkerLoop<DpdkPortIo> Create(int core, RxQueueRef[] rxQueues, ushort[] txQueueByPort, int portCount,
        IBurstHandler handler, WorkerCounters counters, StopFlag stop, Action<string>? log = null)
        => new(default, core, rxQueues, txQueueByPort, portCount, handler, counters, stop, log);
}

/// <summary>
/// One poll-mode worker (DPDK l3fwd / grout main_loop shape). On its own thread it pins itself,
/// registers with the device, then loops:
/// <list type="number">
/// <item>receive a burst per owned (port, queue) and hand it to the <see cref="IBurstHandler"/>;</item>
/// <item>a burst whose frames all leave by one port with an empty buffer is transmitted from the burst at once;
///   otherwise each frame moves to its egress port's transmit buffer (sent when 32 deep) or to a free list
///   (freed in bulk once per burst);</item>
/// <item>send partial transmit buffers every <see cref="TxDrainMicroseconds"/>;</item>
/// <item>after every loop: publish the quiescent generation (the grace period of a snapshot change is two loops);</item>
/// <item>every <see cref="HousekeepingLoops"/> loops: publish the loop count and check the stop flag.</item>
/// </list>
/// Inside the loop: no allocation, logging, locks or syscalls (Stopwatch.GetTimestamp is
/// clock_gettime through the vDSO, not a syscall). Logging happens only before and after.
///
/// Counters written here (the handler counts outcomes and drop reasons): RxPackets, RxBytes (first
/// segment lengths), Bursts (non-empty receives), TxPackets, TxBytes, and Drops[TxQueueFull] for
/// frames the device did not take. TxQueueFull is added to the drop-reason column only: the frame's
/// outcome was already counted by the handler, so TxPackets + TxQueueFull = frames routed to a port.
/// </summary>
public sealed unsafe class WorkerLoop<TPort> : IQuiescentWorker, IDisposable where TPort : struct, IPortIo
{
    /// <summary>Drain partially filled transmit buffers every ~100 us (latency bound at low rates).</summary>
    public const int TxDrainMicroseconds = 100;
    /// <summary>Loops between housekeeping passes (stop flag, quiescence). At ~100 ns per empty loop
    /// that is ~0.1 ms; under load (32 frames per loop) a few ms at most.</summary>
    public const int HousekeepingLoops = 1024;

    TPort _io;
    readonly int _core;
    readonly RxQueueRef[] _rx;
    readonly ushort[] _txQueue;
    readonly int _ports;
    readonly IBurstHandler _handler;
    readonly WorkerCounters _counters;
    readonly StopFlag _stop;
    readonly Action<string>? _log;
    readonly Burst _burst = new();

    // Transmit buffers, one per port, in one native block: handles/delta/len, Burst.Size deep each.
    readonly void* _txBlock;
    readonly nint* _txHandles;   // [port * Burst.Size + i]
    readonly short* _txDelta;
    readonly ushort* _txLen;
    readonly int* _txCount;      // [port]
    readonly nint* _free;        // Burst.Size handles to free after the burst

    // Published for the control plane. Written only by the worker thread; read by others with
    // Volatile.Read (aligned 64-bit accesses are atomic on x64). Each sits on its own cache line
    // (separate padded boxes) so the readers' loads do not bounce the worker's hot fields.
    readonly PaddedLong _loops = new();
    readonly PaddedLong _quiescent = new();
    readonly PaddedLong _lastRxTick = new();

    // ---- issue 12: exception path and idle back-off (set before Start)
    /// <summary>Where frames for the kernel go (null: no exception path; such frames are freed).</summary>
    public ExceptionHandoff? KernelHandoff { get; set; }
    /// <summary>Sleep this long after <see cref="IdleBackoffPolls"/> empty polls in a row (0: always busy-poll).</summary>
    public int IdleBackoffMicroseconds { get; set; }
    public int IdleBackoffPolls { get; set; } = 256;
    uint _nowTicks;

    Thread? _thread;
    volatile Exception? _fault;
    volatile bool _exited;

    public WorkerLoop(TPort io, int core, RxQueueRef[] rxQueues, ushort[] txQueueByPort, int portCount,
        IBurstHandler handler, WorkerCounters counters, StopFlag stop, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(rxQueues);
        ArgumentNullException.ThrowIfNull(txQueueByPort);
        if (portCount <= 0 || portCount >= Burst.DropPort) throw new ArgumentOutOfRangeException(nameof(portCount));
        if (txQueueByPort.Length < portCount) throw new ArgumentException("one tx queue per port is needed", nameof(txQueueByPort));
        foreach (var q in rxQueues)
            if (q.Port >= portCount) throw new ArgumentException($"rx port {q.Port} is not below port count {portCount}", nameof(rxQueues));
        _io = io; _core = core; _rx = rxQueues; _txQueue = txQueueByPort; _ports = portCount;
        _handler = handler ?? throw new ArgumentNullException(nameof(handler));
        _counters = counters ?? throw new ArgumentNullException(nameof(counters));
        _stop = stop ?? throw new ArgumentNullException(nameof(stop));
        _log = log;

        int slots = portCount * Burst.Size;
        nuint bytes = (nuint)(slots * (sizeof(nint) + 2 + 2) + portCount * sizeof(int) + Burst.Size * sizeof(nint) + 64);
        _txBlock = NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_txBlock, bytes);
        byte* p = (byte*)_txBlock;
        _txHandles = (nint*)p; p += slots * sizeof(nint);
        _free = (nint*)p; p += Burst.Size * sizeof(nint);
        _txDelta = (short*)p; p += slots * 2;
        _txLen = (ushort*)p; p += slots * 2;
        _txCount = (int*)p;
    }

    public int Core => _core;
    /// <summary>Loop iterations so far (empty polls included).</summary>
    public long Loops => Volatile.Read(ref _loops.Value);
    /// <summary>Incremented (release store) after every loop, where the worker holds nothing it read from a
    /// snapshot: the quiescent points that end a grace period (see <see cref="Control.SnapshotHolder"/>).</summary>
    public long QuiescentGeneration => Volatile.Read(ref _quiescent.Value);
    /// <summary>nowTicks (ms since the loop started) of the last non-empty receive; -1 before the first.
    /// Lets the host stop after an idle period (e.g. when a pcap replay ends).</summary>
    public long LastRxTick => Volatile.Read(ref _lastRxTick.Value);
    /// <summary>Milliseconds since the loop started, on the same clock as <see cref="LastRxTick"/>; -1 before it started.</summary>
    public long NowTick => _startTimestamp == 0 ? -1 : (long)Stopwatch.GetElapsedTime(_startTimestamp).TotalMilliseconds;
    /// <summary>Exception that ended the worker thread (pinning, registration, handler bug), or null.</summary>
    public Exception? Fault => _fault;
    public bool HasExited => _exited;

    /// <summary>Per-stage cycle budget (Run.StageStampsFile): when set before <see cref="Start"/>, one
    /// non-empty burst in <see cref="StageBudget.SampleEvery"/> is stamped (StageBudget.cs). Null = no stamps.</summary>
    public StageBudget? Budget { get; set; }

    long _startTimestamp; // written before the loop; read by NowTick (a stale 0 only means "not started")

    /// <summary>Starts the loop on a new dedicated thread.</summary>
    public void Start()
    {
        if (_thread != null) throw new InvalidOperationException("already started");
        _thread = new Thread(ThreadMain) { IsBackground = true, Name = $"sy-worker-{_core}" };
        _thread.Start();
    }

    /// <summary>Waits for the worker thread (after <see cref="StopFlag.Request"/>).</summary>
    public bool Join(TimeSpan timeout) => _thread?.Join(timeout) ?? true;

    void ThreadMain()
    {
        try { Run(); }
        catch (Exception e)
        {
            _fault = e;
            _log?.Invoke($"worker {_core}: stopped by {e.GetType().Name}: {e.Message}");
        }
        finally { _exited = true; }
    }

    /// <summary>Runs the loop on the calling thread until the stop flag is seen. <c>core &lt; 0</c> = do not pin.</summary>
    /// <summary>The worker thread's kernel id once it runs (0 before): the host keeps other threads off its core.</summary>
    public int ThreadId => Volatile.Read(ref _threadId);
    int _threadId;

    public void Run()
    {
        Volatile.Write(ref _threadId, Affinity.CurrentThreadId());
        if (_core >= 0) Affinity.PinCurrentThread(_core);
        _io.AttachThread();
        try
        {
            _log?.Invoke($"worker {_core}: polling {_rx.Length} queue(s): {string.Join(", ", _rx.Select(q => $"port {q.Port} rxq {q.Queue}"))}");
            Loop();
            _log?.Invoke($"worker {_core}: stopped after {Loops} loops; rx {_counters.Get(GlobalCounter.RxPackets)}, tx {_counters.Get(GlobalCounter.TxPackets)}, tx-full {_counters.Get(DropReason.TxQueueFull)}");
        }
        finally { _io.DetachThread(); }
    }

    /// <summary>What the polling passes carry from one to the next (copied into locals by each pass).</summary>
    struct LoopState
    {
        public long Start, TicksPerMs, DrainInterval, LastDrain, Loops;
        public int StampCountdown, Empty;
    }

    void Loop()
    {
        // The handler as a struct strategy: the polling pass is compiled once per handler type, with a direct
        // (inlinable) call to the packet path instead of an interface call per burst (issue 14).
        switch (_handler)
        {
            case Pipeline.BurstProcessor bp: Loop(new ProcessorStrategy(bp)); break;
            case ForwardOnlyHandler fo: Loop(new ForwardOnlyStrategy(fo)); break;
            default: Loop(new AnyHandler(_handler)); break;
        }
    }

    void Loop<TH>(TH handler) where TH : struct, IHandlerStrategy
    {
        // Ticks count from one process-wide epoch, so every worker's "now" is comparable: state shared
        // between workers (learned MPTCP tokens) compares expiry times written by different workers.
        long start = DataplaneClock.Epoch;
        _startTimestamp = start;
        Volatile.Write(ref _lastRxTick.Value, -1);
        var s = new LoopState
        {
            Start = start,
            TicksPerMs = Stopwatch.Frequency / 1000,
            DrainInterval = Stopwatch.Frequency * TxDrainMicroseconds / 1_000_000, // Stopwatch ticks
            LastDrain = start,
            StampCountdown = Budget?.SampleEvery ?? 0, // > 0: stamps on; the poll that takes it to 0 is stamped
        };
        while (true)
        {
            // The polls run in a method that returns every HousekeepingLoops loops: it is called often enough to be
            // compiled at full optimisation with the runtime's profile (tier 1). A loop that never returns runs
            // as on-stack-replacement code, which the profile of 2026-12-07 showed as the hottest frame.
            Poll(ref handler, ref s, HousekeepingLoops);
            Volatile.Write(ref _loops.Value, s.Loops);
            if (_stop.IsRequested) break;
        }

        // Send what is still buffered, then report the final values.
        for (int p = 0; p < _ports; p++)
            if (_txCount[p] != 0) Flush(p);
        Volatile.Write(ref _loops.Value, s.Loops);
        Volatile.Write(ref _quiescent.Value, _quiescent.Value + 1);
    }

    /// <summary><paramref name="count"/> loops: a receive per owned queue, the handler, routing to the transmit
    /// buffers; the exception path, idle back-off, the periodic drain and the quiescent point.</summary>
    void Poll<TH>(ref TH handler, ref LoopState state, int count) where TH : struct, IHandlerStrategy
    {
        // Resolve everything once; locals stay in registers across the loop.
        Burst burst = _burst;
        RxQueueRef[] rx = _rx;
        long[] global = _counters.Global;
        int off = WorkerCounters.Offset;
        int ports = _ports;
        long start = state.Start, ticksPerMs = state.TicksPerMs, drainInterval = state.DrainInterval, lastDrain = state.LastDrain;
        int stampCountdown = state.StampCountdown, empty = state.Empty;
        StageBudget? budget = Budget;
        ExceptionHandoff? exc = KernelHandoff;
        int idleUs = IdleBackoffMicroseconds, idlePolls = IdleBackoffPolls;

        for (int loop = 0; loop < count; loop++)
        {
            long now = Stopwatch.GetTimestamp();
            uint nowTicks = (uint)((now - start) / ticksPerMs);
            _nowTicks = nowTicks;
            bool busy = false;

            for (int qi = 0; qi < rx.Length; qi++)
            {
                RxQueueRef q = rx[qi];
                if (stampCountdown > 0 && --stampCountdown == 0)
                {
                    stampCountdown = StampedBurst(budget!, q, nowTicks, ports);
                    continue;
                }
                int n = _io.Receive(q.Port, q.Queue, burst);
                if (n == 0) continue;
                burst.Count = n;

                long bytes = Burst.SumLengths(burst.Length, n);
                burst.DropAll(n); // a frame the handler forgets is freed, never sent stale
                global[off + (int)GlobalCounter.RxPackets] += n;
                global[off + (int)GlobalCounter.RxBytes] += bytes;
                global[off + (int)GlobalCounter.Bursts]++;
                Volatile.Write(ref _lastRxTick.Value, nowTicks);

                handler.Process(burst, q.Port, nowTicks);
                Route(burst, n, ports);
                busy = true;
            }
            if (exc is not null)
            {
                exc.Flush(_counters);
                if (exc.FromKernel != 0) busy |= TransmitFromKernel(exc);
            }
            if (idleUs > 0)
            {
                // Idle back-off: only after idlePolls empty polls in a row, so a busy worker never sleeps.
                if (busy) empty = 0;
                else if (++empty >= idlePolls)
                {
                    for (int p = 0; p < ports; p++)
                        if (_txCount[p] != 0) Flush(p);
                    Shim.sy_idle_sleep((uint)idleUs);
                    global[off + (int)GlobalCounter.IdleSleeps]++;
                }
            }

            if (now - lastDrain >= drainInterval)
            {
                for (int p = 0; p < ports; p++)
                    if (_txCount[p] != 0) Flush(p);
                lastDrain = now;
            }

            // Every loop ends at a quiescent point: the next burst reads the snapshot afresh. Publishing it
            // each loop costs one store to a line only this thread writes (the control plane reads it only
            // while it waits out a grace period), and keeps the grace period at two loops, not two
            // housekeeping intervals. Plain stores would do on x64; Volatile.Write documents the release
            // ordering the control plane relies on (see QuiescentGeneration).
            Volatile.Write(ref _quiescent.Value, _quiescent.Value + 1);
        }
        state.Loops += count;
        state.LastDrain = lastDrain;
        state.StampCountdown = stampCountdown;
        state.Empty = empty;
    }

    /// <summary>One poll with TSC stamps between receive, handler and transmit (the loop's body for one
    /// queue, plus the stamps). Returns the next countdown: 1 after an empty poll (stamp the next one),
    /// else <see cref="StageBudget.SampleEvery"/>. Kept out of line so the unstamped loop stays as it was.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    int StampedBurst(StageBudget budget, RxQueueRef q, uint nowTicks, int ports)
    {
        Burst burst = _burst;
        ulong t0 = StageBudget.Now();
        int n = _io.Receive(q.Port, q.Queue, burst);
        if (n == 0) return 1;
        burst.Count = n;
        long bytes = Burst.SumLengths(burst.Length, n);
        burst.DropAll(n);
        long[] global = _counters.Global;
        global[WorkerCounters.Offset + (int)GlobalCounter.RxPackets] += n;
        global[WorkerCounters.Offset + (int)GlobalCounter.RxBytes] += bytes;
        global[WorkerCounters.Offset + (int)GlobalCounter.Bursts]++;
        Volatile.Write(ref _lastRxTick.Value, nowTicks);
        budget.Active = true;
        ulong t2 = StageBudget.Now(); // receive = the rx call and the loop's per-frame rx bookkeeping
        _handler.Process(burst, q.Port, nowTicks);
        ulong t3 = StageBudget.Now();
        budget.Active = false;
        Route(burst, n, ports);
        ulong t4 = StageBudget.Now();
        budget.Add(Stage.Receive, t2 - t0);
        budget.Add(Stage.Handler, t3 - t2);
        budget.Add(Stage.Transmit, t4 - t3);
        budget.Commit(n);
        return budget.SampleEvery;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void Route(Burst burst, int n, int ports)
    {
        // The common case, as testpmd: every frame of the burst to one port whose buffer is empty: transmitted
        // straight from the burst's arrays, nothing copied or held back for the drain.
        int first = burst.OutPort[0];
        if ((uint)first < (uint)ports && _txCount[first] == 0)
        {
            int same = 1;
            while (same < n && burst.OutPort[same] == first) same++;
            if (same == n)
            {
                Send(first, burst.Handles, burst.Delta, burst.OutLength, n);
                return;
            }
        }
        int nfree = 0;
        for (int i = 0; i < n; i++)
        {
            int port = burst.OutPort[i];
            if (port == Burst.ExceptionPort)
            {
                // For the kernel (issue 12): refused frames (no exception path, rate limit) are freed here.
                if (KernelHandoff is not { } exc || !exc.Offer(burst.Handles[i], _nowTicks, _counters)) _free[nfree++] = burst.Handles[i];
                continue;
            }
            // DropPort (255) and any out-of-range index free the frame; the handler counted why.
            if ((uint)port >= (uint)ports) { _free[nfree++] = burst.Handles[i]; continue; }
            int slot = port * Burst.Size + _txCount[port];
            _txHandles[slot] = burst.Handles[i];
            _txDelta[slot] = burst.Delta[i];
            _txLen[slot] = burst.OutLength[i];
            if (++_txCount[port] == Burst.Size) Flush(port);
        }
        if (nfree != 0) _io.Free(_free, nfree);
    }

    /// <summary>Moves what the kernel sent (the exception thread's ring) into the data port's transmit buffer.</summary>
    bool TransmitFromKernel(ExceptionHandoff exc)
    {
        int port = exc.DataPort;
        int room = Burst.Size - _txCount[port];
        if (room == 0) { Flush(port); room = Burst.Size; }
        int slot = port * Burst.Size + _txCount[port];
        uint n = Shim.sy_ring_dequeue(exc.FromKernel, _txHandles + slot, _txLen + slot, null, (uint)room);
        if (n == 0) return false;
        for (int i = 0; i < (int)n; i++) _txDelta[slot + i] = 0;
        _txCount[port] += (int)n;
        _counters.Global[WorkerCounters.Offset + (int)GlobalCounter.FromKernel] += n;
        if (_txCount[port] == Burst.Size) Flush(port);
        return true;
    }

    void Flush(int port)
    {
        int baseSlot = port * Burst.Size;
        Send(port, _txHandles + baseSlot, _txDelta + baseSlot, _txLen + baseSlot, _txCount[port]);
        _txCount[port] = 0;
    }

    /// <summary>Transmits <paramref name="n"/> frames on <paramref name="port"/> and counts them.</summary>
    void Send(int port, nint* handles, short* delta, ushort* len, int n)
    {
        int sent = _io.Transmit((byte)port, _txQueue[port], handles, delta, len, n);
        long bytes = Burst.SumLengths(len, sent);
        long[] global = _counters.Global;
        global[WorkerCounters.Offset + (int)GlobalCounter.TxPackets] += sent;
        global[WorkerCounters.Offset + (int)GlobalCounter.TxBytes] += bytes;
        // The device did not take n - sent frames; Transmit has already freed them.
        if (sent != n) _counters.Drops[WorkerCounters.Offset + (int)DropReason.TxQueueFull] += n - sent;
    }

    public void Dispose()
    {
        if (_thread != null && !_exited) throw new InvalidOperationException("stop and join the worker before disposing it");
        _burst.Dispose();
        KernelHandoff?.Dispose();
        NativeMemory.AlignedFree(_txBlock);
    }

    /// <summary>The handler as the polling pass calls it: a struct per concrete handler type, so the call is direct.</summary>
    interface IHandlerStrategy
    {
        void Process(Burst burst, byte rxPort, uint nowTicks);
    }

    readonly struct ProcessorStrategy(Pipeline.BurstProcessor p) : IHandlerStrategy
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Process(Burst burst, byte rxPort, uint nowTicks) => p.Process(burst, rxPort, nowTicks);
    }

    readonly struct ForwardOnlyStrategy(ForwardOnlyHandler h) : IHandlerStrategy
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Process(Burst burst, byte rxPort, uint nowTicks) => h.Process(burst, rxPort, nowTicks);
    }

    /// <summary>Any other handler (tests): an interface call per burst.</summary>
    readonly struct AnyHandler(IBurstHandler h) : IHandlerStrategy
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Process(Burst burst, byte rxPort, uint nowTicks) => h.Process(burst, rxPort, nowTicks);
    }

    /// <summary>A long alone on its cache line (64 bytes of padding on both sides; Sequential keeps
    /// the runtime from reordering the fields).</summary>
    [StructLayout(LayoutKind.Sequential)]
    sealed class PaddedLong
    {
#pragma warning disable CS0169 // padding
        long _p0, _p1, _p2, _p3, _p4, _p5, _p6, _p7;
        public long Value;
        long _q0, _q1, _q2, _q3, _q4, _q5, _q6, _q7;
#pragma warning restore CS0169
    }
}
