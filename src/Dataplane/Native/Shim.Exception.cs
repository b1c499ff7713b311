using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Native;

// Exception path (issue 12): native/switchyard_exception.c.
public static unsafe partial class Shim
{
    [LibraryImport(Library)] public static partial nint sy_ring_create(byte* name, uint count, int singleProducer);
    [LibraryImport(Library)] public static partial void sy_ring_free(nint ring);
    /// <summary>Lock-free, no syscall: called by workers once per burst that has frames for the kernel.</summary>
    [LibraryImport(Library), SuppressGCTransition]
    public static partial uint sy_ring_enqueue(nint ring, nint* handles, uint n);
    [LibraryImport(Library), SuppressGCTransition]
    public static partial uint sy_ring_dequeue(nint ring, nint* handles, ushort* len, ushort* segs, uint max);
    [LibraryImport(Library)] public static partial uint sy_ring_count(nint ring);
    [LibraryImport(Library)] public static partial ushort sy_tx_burst_raw(ushort port, ushort queue, nint* handles, ushort n);
    [LibraryImport(Library)] public static partial int sy_port_set_mac(ushort port, byte* mac6);
    /// <summary>nanosleep for the idle back-off; only called by a worker that found nothing to do.</summary>
    [LibraryImport(Library)] public static partial void sy_idle_sleep(uint microseconds);
}
