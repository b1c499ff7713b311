using System.Runtime.InteropServices;
using System.Text;

namespace Switchyard.Dataplane.Native;

/// <summary>
/// Switchyard's commands on DPDK's telemetry socket (<c>dpdk-telemetry.py</c>). The callbacks live in
/// native/switchyard_telemetry.c and run on DPDK's telemetry thread; they never call into .NET. The
/// management side renders the whole state into one text document (format in
/// native/switchyard_telemetry.h) and publishes it here; every reply is read from one publication,
/// so it is consistent, and a reply never waits for the garbage collector.
/// </summary>
public static unsafe partial class Telemetry
{
    [LibraryImport(Shim.Library)] private static partial int sy_tel_register();
    [LibraryImport(Shim.Library)] private static partial int sy_tel_publish(byte* doc, uint len);

    /// <summary>Registers the /switchyard/... commands (once per process; later calls do nothing).
    /// DPDK 22.11 accepts the registration before or after rte_eal_init.</summary>
    public static void Register()
    {
        Shim.EnsureLoaded();
        int ret = sy_tel_register();
        if (ret != 0) throw new DpdkException("rte_telemetry_register_cmd", "/switchyard/...", ret);
    }

    [LibraryImport(Shim.Library)] private static partial void sy_set_thread_registration(int enabled);

    /// <summary>
    /// Keeps DPDK's multi-process channel open so that dpdk-dumpcap (a secondary process) can attach:
    /// workers then skip rte_thread_register, which would close the channel for good (DPDK 22.11
    /// rte_mp_disable). The price: workers have no lcore id, hence no per-worker mempool cache, and
    /// every mbuf allocation and free goes to the pool's shared ring. Call before the workers start.
    /// </summary>
    public static void KeepMultiProcessOpen()
    {
        Shim.EnsureLoaded();
        sy_set_thread_registration(0);
    }

    /// <summary>Replaces the published document (UTF-8).</summary>
    public static void Publish(string document)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(document);
        fixed (byte* p = bytes)
        {
            int ret = sy_tel_publish(p, (uint)bytes.Length);
            if (ret != 0) throw new DpdkException("sy_tel_publish", null, ret);
        }
    }
}
