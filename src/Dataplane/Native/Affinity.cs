using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Native;

/// <summary>
/// Thread pinning. .NET has no thread-affinity API, so the worker calls sched_setaffinity(0, ...)
/// from inside its own thread (pid 0 = the calling thread on Linux).
/// </summary>
public static unsafe partial class Affinity
{
    // glibc's cpu_set_t: 1024 bits = 16 x 64-bit words.
    const int CpuSetWords = 16;
    public const int MaxCpus = CpuSetWords * 64;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setaffinity(int pid, nuint cpusetsize, ulong* mask);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_getcpu();

    /// <summary>Pins the calling thread to <paramref name="core"/>; throws with the OS error text on failure
    /// (e.g. "Invalid argument" for a core outside the process's cpuset).</summary>
    public static void PinCurrentThread(int core)
    {
        if ((uint)core >= MaxCpus) throw new ArgumentOutOfRangeException(nameof(core), core, $"core must be in 0..{MaxCpus - 1}");
        ulong* mask = stackalloc ulong[CpuSetWords];
        new Span<ulong>(mask, CpuSetWords).Clear();
        mask[core / 64] = 1UL << (core % 64);
        if (sched_setaffinity(0, (nuint)(CpuSetWords * sizeof(ulong)), mask) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new InvalidOperationException(
                $"sched_setaffinity(core {core}): {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    [LibraryImport("libc")]
    private static partial int gettid();

    /// <summary>The kernel thread id of the calling thread (for <see cref="KeepOffCores"/>).</summary>
    public static int CurrentThreadId() => gettid();

    /// <summary>
    /// Moves every thread of this process except <paramref name="keep"/> onto <paramref name="cores"/>:
    /// the runtime's own threads (JIT, GC, thread pool) inherit whatever mask their creator had, and
    /// one created from a worker would otherwise share that worker's core. Management plane only.
    /// Returns how many threads were moved; threads that exit meanwhile are skipped.
    /// </summary>
    public static int KeepOffCores(IReadOnlySet<int> keep, IReadOnlyList<int> cores)
    {
        if (cores.Count == 0) return 0;
        ulong* mask = stackalloc ulong[CpuSetWords];
        new Span<ulong>(mask, CpuSetWords).Clear();
        foreach (int c in cores) if ((uint)c < MaxCpus) mask[c / 64] |= 1UL << (c % 64);
        int moved = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int tid) || keep.Contains(tid)) continue;
            if (sched_setaffinity(tid, (nuint)(CpuSetWords * sizeof(ulong)), mask) == 0) moved++;
        }
        return moved;
    }

    /// <summary>The core the calling thread runs on now, or -1.</summary>
    public static int CurrentCpu() => sched_getcpu();
}
