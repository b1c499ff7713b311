using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Native;

/// <summary>
/// DPDK's runtime directory (/var/run/dpdk/&lt;file-prefix&gt; for root): the primary process writes its shared
/// configuration, memory-segment arrays and multi-process socket there, and DPDK 22.11 leaves all of it behind at
/// exit (measured: config, fbarray_memzone, fbarray_nohugemem (3 MiB), mp_socket after a clean --no-huge run, with
/// or without rte_eal_cleanup). The appliance removes its own directory when it stops, after its ports are closed.
/// </summary>
public static unsafe class RuntimeDirectory
{
    /// <summary>This process's runtime directory, or null before EAL init.</summary>
    public static string? Current => Dpdk.IsInitialised && Shim.sy_runtime_dir() is var p && p != null ? Marshal.PtrToStringUTF8((nint)p) : null;

    /// <summary>
    /// Removes the runtime directory when this process is DPDK's primary (a secondary's directory belongs to its
    /// primary). Files that secondaries attached meanwhile left in it go too: they cannot outlive the primary's
    /// memory anyway. Returns what was removed (null when nothing), and reports a failure through <paramref name="log"/>.
    /// </summary>
    public static string? RemoveOwn(Action<string> log)
    {
        if (!Dpdk.IsInitialised || Shim.sy_is_primary() != 1) return null;
        var dir = Current;
        // Only a directory named after a file prefix under a "dpdk" directory: never anything else by mistake.
        if (string.IsNullOrEmpty(dir) || Path.GetFileName(Path.GetDirectoryName(dir)) != "dpdk" || !Directory.Exists(dir)) return null;
        try
        {
            Directory.Delete(dir, recursive: true);
            return dir;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log($"could not remove DPDK's runtime directory {dir}: {e.Message}");
            return null;
        }
    }
}
