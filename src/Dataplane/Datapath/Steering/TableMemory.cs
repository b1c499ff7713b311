using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Datapath.Steering;

/// <summary>
/// Native memory for the large per-packet tables (flow table, learned-token table): zeroed, aligned,
/// and, from 2 MiB up, on 2 MiB boundaries with madvise(MADV_HUGEPAGE), so Linux backs it with
/// transparent huge pages where /sys/kernel/mm/transparent_hugepage/enabled is "madvise" (the
/// default) or "always". A 1M-entry flow table is 16 MiB: on 4 KiB pages each lookup of a random
/// bucket also misses the TLB (4096 pages; Zen 3's L2 TLB holds 2048), and under a hypervisor that
/// page walk is two-dimensional; the load run's profile showed the bucket prefetch as the single
/// hottest instruction. Best effort: where madvise fails (not Linux, THP "never") the memory is
/// ordinary pages and everything works the same. Called only from constructors, never per packet.
/// </summary>
public static unsafe partial class TableMemory
{
    const nuint HugePage = 2 << 20;
    const int MadvHugePage = 14; // MADV_HUGEPAGE, Linux

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* addr, nuint length, int advice);

    /// <summary>Allocates <paramref name="bytes"/> zeroed bytes aligned to <paramref name="alignment"/>
    /// (and to 2 MiB from 2 MiB up, asking for huge pages). Free with <see cref="Free"/>.</summary>
    public static void* Allocate(nuint bytes, nuint alignment)
    {
        bool huge = bytes >= HugePage;
        if (huge)
        {
            bytes = (bytes + HugePage - 1) & ~(HugePage - 1);
            alignment = Math.Max(alignment, HugePage);
        }
        void* p = NativeMemory.AlignedAlloc(bytes, alignment);
        if (huge && OperatingSystem.IsLinux())
        {
            // Before the first touch: the clear below then faults in huge pages directly.
            try { _ = Madvise(p, bytes, MadvHugePage); }
            catch (DllNotFoundException) { }
            catch (EntryPointNotFoundException) { }
        }
        NativeMemory.Clear(p, bytes);
        return p;
    }

    public static void Free(void* p) => NativeMemory.AlignedFree(p);
}
