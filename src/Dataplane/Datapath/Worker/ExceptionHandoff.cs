using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Switchyard.Dataplane.Native;

namespace Switchyard.Dataplane.Datapath.Worker;

/// <summary>
/// A worker's side of the exception path (issue 12): frames the processor gave <see cref="Burst.ExceptionPort"/>
/// (the appliance's own traffic: BGP, ICMP echo, ARP replies, ...) pass a per-worker token bucket and go onto a
/// lock-free multi-producer ring (rte_ring) that the management-side exception thread empties into the kernel's
/// tap interface. One call per burst; no lock, no syscall, no allocation. Refused frames are freed and counted
/// (<see cref="DropReason.ExceptionRateLimited"/>, <see cref="DropReason.ExceptionQueueFull"/>).
/// </summary>
public sealed unsafe class ExceptionHandoff : IDisposable
{
    readonly nint _toKernel;
    readonly long _ratePerSecond;   // 0 = no limit
    readonly long _capacityMilli;   // bucket depth in milli-frames
    long _tokensMilli;
    uint _lastTick;
    bool _started;
    readonly nint* _pending;
    int _count;

    /// <param name="toKernel">The ring to the exception thread (sy_ring_create, multi-producer).</param>
    /// <param name="fromKernel">The ring of frames the kernel sent, which this worker transmits (0: another worker does).</param>
    /// <param name="dataPort">The port those frames leave through.</param>
    public ExceptionHandoff(nint toKernel, nint fromKernel, byte dataPort, int ratePerSecond, int burst)
    {
        _toKernel = toKernel; FromKernel = fromKernel; DataPort = dataPort;
        _ratePerSecond = ratePerSecond;
        _capacityMilli = (long)Math.Max(1, burst) * 1000;
        _tokensMilli = _capacityMilli;
        _pending = (nint*)NativeMemory.AlignedAlloc((nuint)(Burst.Size * sizeof(nint)), 64);
    }

    public nint FromKernel { get; }
    public byte DataPort { get; }

    /// <summary>Takes a frame for the kernel (true), or refuses it (false, counted): the caller frees it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Offer(nint handle, uint nowTicks, WorkerCounters counters)
    {
        if (_ratePerSecond > 0)
        {
            if (!_started) { _started = true; _lastTick = nowTicks; }
            uint elapsed = nowTicks - _lastTick;
            if (elapsed != 0)
            {
                _lastTick = nowTicks;
                _tokensMilli = Math.Min(_capacityMilli, _tokensMilli + _ratePerSecond * elapsed);
            }
            if (_tokensMilli < 1000)
            {
                counters.Drops[WorkerCounters.Offset + (int)DropReason.ExceptionRateLimited]++;
                return false;
            }
            _tokensMilli -= 1000;
        }
        _pending[_count++] = handle; // at most one burst per call of Flush
        return true;
    }

    /// <summary>Enqueues what <see cref="Offer"/> took this burst; frees and counts what the ring had no room for.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Flush(WorkerCounters counters)
    {
        int n = _count;
        if (n == 0) return;
        _count = 0;
        uint queued = Shim.sy_ring_enqueue(_toKernel, _pending, (uint)n);
        if (queued < (uint)n)
        {
            Shim.sy_free_bulk(_pending + queued, (ushort)(n - (int)queued));
            counters.Drops[WorkerCounters.Offset + (int)DropReason.ExceptionQueueFull] += n - (int)queued;
        }
    }

    public void Dispose() => NativeMemory.AlignedFree(_pending);
}
