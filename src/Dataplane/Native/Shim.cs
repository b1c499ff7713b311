using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

// Every signature below is blittable by construction (pointers, fixed-width integers, blittable
// structs): the source generator emits direct calls with no marshalling stubs.
[assembly: DisableRuntimeMarshalling]

namespace Switchyard.Dataplane.Native;

/// <summary>Port counters; mirrors <c>sy_port_stats_t</c> (8 x uint64 = 64 bytes, asserted on both sides).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PortStats
{
    public ulong IPackets, OPackets, IBytes, OBytes, IMissed, IErrors, OErrors, RxNoMbuf;
}

/// <summary>Link state; mirrors <c>sy_port_link_t</c> (uint32 + 4 x uint8 = 8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PortLink
{
    public uint SpeedMbps;   // 0 = unknown
    public byte Up;
    public byte FullDuplex;
    public byte Autoneg;
    public byte Reserved;
}

/// <summary>
/// Raw imports of <c>libswitchyard_shim.so</c> (native/switchyard_shim.h documents each return code).
/// Control-plane code should use <see cref="Dpdk"/>, which turns error codes into
/// <see cref="DpdkException"/>s. The three fast-path calls carry <see cref="SuppressGCTransitionAttribute"/>:
/// they are short, never block, never call back into .NET and make no syscall, so skipping the
/// cooperative/preemptive GC-mode switch (~20 ns a call) is allowed. Corollary: a GC cannot run while a
/// worker is inside them, which is fine because they return in well under a microsecond.
/// </summary>
public static unsafe partial class Shim
{
    public const string Library = "switchyard_shim";
    public const string FileName = "libswitchyard_shim.so";
    /// <summary>Environment variable naming a directory that holds <see cref="FileName"/>.</summary>
    public const string DirectoryVariable = "SWITCHYARD_NATIVE_DIR";
    /// <summary>rte_lcore_id() of a thread that is not registered with DPDK.</summary>
    public const uint LcoreIdAny = uint.MaxValue;

    // ---- EAL ----
    [LibraryImport(Library)] public static partial int sy_eal_init(int argc, byte** argv);
    [LibraryImport(Library)] public static partial int sy_errno();
    [LibraryImport(Library)] public static partial byte* sy_strerror(int err);
    [LibraryImport(Library)] public static partial int sy_eal_cleanup();
    [LibraryImport(Library)] public static partial byte* sy_runtime_dir();
    [LibraryImport(Library)] public static partial int sy_is_primary();
    [LibraryImport(Library)] public static partial uint sy_socket_count();
    [LibraryImport(Library)] public static partial int sy_socket_id_by_idx(uint idx);
    [LibraryImport(Library)] public static partial uint sy_lcore_id();
    [LibraryImport(Library)] public static partial uint sy_mbuf_default_headroom();

    // ---- Threads ----
    [LibraryImport(Library)] public static partial int sy_thread_register();
    [LibraryImport(Library)] public static partial void sy_thread_unregister();

    // ---- Memory ----
    [LibraryImport(Library)] public static partial nint sy_pool_create(byte* name, uint nbMbufs, uint cache, ushort dataRoom, int socket);
    [LibraryImport(Library)] public static partial uint sy_pool_avail(nint pool);

    // ---- Ports ----
    [LibraryImport(Library)] public static partial ushort sy_port_count();
    [LibraryImport(Library)] public static partial int sy_port_by_name(byte* name, ushort* port);
    [LibraryImport(Library)] public static partial int sy_port_name(ushort port, byte* buf, uint len);
    [LibraryImport(Library)] public static partial int sy_port_socket(ushort port);
    [LibraryImport(Library)]
    public static partial int sy_port_setup(ushort port, ushort nbRxq, ushort nbTxq, ushort rxDesc, ushort txDesc,
        ushort mtu, nint pool, int enableRss, int promiscuous, byte** failedCall);
    [LibraryImport(Library)] public static partial int sy_port_start(ushort port);
    [LibraryImport(Library)] public static partial int sy_port_stop(ushort port);
    [LibraryImport(Library)] public static partial int sy_port_close(ushort port);
    [LibraryImport(Library)] public static partial int sy_port_mac(ushort port, byte* out6);
    [LibraryImport(Library)] public static partial int sy_port_link(ushort port, PortLink* link);
    [LibraryImport(Library)] public static partial int sy_port_stats(ushort port, PortStats* stats);

    // ---- Fast path: once per burst, no GC transition ----
    [LibraryImport(Library), SuppressGCTransition]
    public static partial ushort sy_rx_burst(ushort port, ushort queue, nint* handles, byte** data,
        ushort* len, ushort* headroom, ushort* segs, ushort max);
    [LibraryImport(Library), SuppressGCTransition]
    public static partial ushort sy_tx_burst(ushort port, ushort queue, nint* handles, short* delta, ushort* len, ushort n);
    [LibraryImport(Library), SuppressGCTransition]
    public static partial void sy_free_bulk(nint* handles, ushort n);

    // ---- Tooling ----
    [LibraryImport(Library)] public static partial int sy_pdump_init();
    [LibraryImport(Library)] public static partial int sy_pdump_uninit();

    // ---- ABI checks ----
    [LibraryImport(Library)] public static partial uint sy_sizeof_port_stats();
    [LibraryImport(Library)] public static partial uint sy_sizeof_port_link();

    /// <summary>
    /// Where the resolver looks for the shim, in order: $SWITCHYARD_NATIVE_DIR, the application
    /// directory (the Management project copies the .so there), then native/build of the enclosing
    /// repository (tests and tools run from bin/ under the repository). Returned for error messages.
    /// </summary>
    public static IReadOnlyList<string> CandidatePaths()
    {
        var list = new List<string>(4);
        string? env = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (!string.IsNullOrEmpty(env)) list.Add(Path.Combine(env, FileName));
        list.Add(Path.Combine(AppContext.BaseDirectory, FileName));
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "native", "build", FileName);
            if (File.Exists(candidate)) { list.Add(candidate); break; }
        }
        return list;
    }

    /// <summary>Loads the shim now (instead of at the first call) and reports every path tried on failure.</summary>
    public static void EnsureLoaded()
    {
        if (Resolve(Library, typeof(Shim).Assembly, null) != 0) return;
        throw new DllNotFoundException(
            $"{FileName} not found; run `make -C native` (looked in: {string.Join(", ", CandidatePaths())})");
    }

    static nint s_handle;

    static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library) return 0; // libc and others: default probing
        nint h = Volatile.Read(ref s_handle);
        if (h != 0) return h;
        foreach (string path in CandidatePaths())
        {
            if (File.Exists(path) && NativeLibrary.TryLoad(path, out h))
            {
                Volatile.Write(ref s_handle, h);
                return h;
            }
        }
        // Last resort: the system linker path (e.g. an installed package, LD_LIBRARY_PATH).
        if (NativeLibrary.TryLoad(FileName, out h)) { Volatile.Write(ref s_handle, h); return h; }
        return 0;
    }

    /// <summary>Runs when the Dataplane assembly loads, before any import can be bound. A library
    /// module initializer is deliberate: the resolver must be in place whichever entry point (the
    /// appliance, tests, benchmarks) touches the shim first. Only one resolver per assembly is
    /// allowed, so no other code may call SetDllImportResolver for this assembly.</summary>
#pragma warning disable CA2255
    [ModuleInitializer]
    internal static void RegisterResolver() => NativeLibrary.SetDllImportResolver(typeof(Shim).Assembly, Resolve);
#pragma warning restore CA2255
}
