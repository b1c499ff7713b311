using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Switchyard.Dataplane.Native;

/// <summary>
/// A DPDK control-plane call failed. <see cref="Message"/> reads like
/// <c>rte_eth_dev_configure(port 0 'net_pcap0'): Invalid argument</c>: the DPDK call, what it was
/// called on, and DPDK's own text (rte_strerror) for the error.
/// </summary>
public sealed class DpdkException : Exception
{
    /// <summary>The DPDK function that failed.</summary>
    public string Call { get; }
    /// <summary>Positive errno (or RTE_* code) DPDK reported.</summary>
    public int Errno { get; }

    public DpdkException(string call, string? subject, int errno, string? hint = null)
        : base($"{call}{(subject is null ? "" : "(" + subject + ")")}: {Dpdk.ErrorText(errno)}{(hint is null ? "" : " (" + hint + ")")}")
    {
        Call = call;
        Errno = errno < 0 ? -errno : errno;
    }
}

/// <summary>Port set-up parameters for <see cref="Dpdk.SetupPort"/>.</summary>
public readonly record struct PortSetup(
    ushort RxQueues,
    ushort TxQueues,
    ushort RxDescriptors = 1024,
    ushort TxDescriptors = 1024,
    ushort Mtu = 0,              // 0 = leave the device's MTU alone
    bool EnableRss = true,       // used only when RxQueues > 1
    bool Promiscuous = true);

/// <summary>
/// Control-plane wrappers over the shim: EAL start, ports, mempools, statistics, shutdown.
/// Single-threaded by design (the host calls it before starting workers and after stopping them);
/// nothing here is for the packet path. Every failure throws <see cref="DpdkException"/>.
/// </summary>
public static unsafe class Dpdk
{
    static readonly Lock s_gate = new();
    static bool s_initialised;
    // argv handed to rte_eal_init. DPDK keeps pointers into it (it permutes argv and some
    // devargs/options refer to the original strings), so it is never freed.
    static byte** s_argv;
    static readonly Dictionary<int, nint> s_pools = new();
    static readonly List<ushort> s_started = new();

    /// <summary>DPDK's text for an errno or RTE_* code (either sign).</summary>
    public static string ErrorText(int errno)
    {
        byte* p = Shim.sy_strerror(errno);
        return p == null ? $"error {errno}" : Marshal.PtrToStringUTF8((nint)p) ?? $"error {errno}";
    }

    public static bool IsInitialised { get { lock (s_gate) return s_initialised; } }

    /// <summary>
    /// Starts the EAL with <paramref name="args"/> (argv[0] first, e.g. "switchyard"). Returns the
    /// number of arguments DPDK consumed. May succeed only once per process.
    /// Note (DPDK 22.11, seen here): <c>--no-huge</c> together with <c>--in-memory</c> is refused
    /// ("Option --legacy-mem is not compatible with --in-memory"); with --no-huge use a unique
    /// <c>--file-prefix</c> instead.
    /// </summary>
    public static int InitEal(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Count == 0) throw new ArgumentException("argv[0] is required", nameof(args));
        lock (s_gate)
        {
            if (s_initialised) throw new InvalidOperationException("the DPDK EAL is already initialised (once per process)");
            Shim.EnsureLoaded();
            // argc + 1 slots: argv[argc] = NULL as C expects.
            byte** argv = (byte**)NativeMemory.AllocZeroed((nuint)(args.Count + 1), (nuint)sizeof(byte*));
            for (int i = 0; i < args.Count; i++) argv[i] = Utf8(args[i]);
            s_argv = argv;
            int ret = Shim.sy_eal_init(args.Count, argv);
            if (ret < 0)
                throw new DpdkException("rte_eal_init", string.Join(' ', args), Shim.sy_errno());
            s_initialised = true;
            return ret;
        }
    }

    /// <summary>rte_pdump_init, so dpdk-dumpcap can attach (only useful with hugepages).</summary>
    public static void InitPdump()
    {
        if (Shim.sy_pdump_init() != 0) throw new DpdkException("rte_pdump_init", null, Shim.sy_errno());
    }

    public static int PortCount => Shim.sy_port_count();
    public static int SocketCount => (int)Shim.sy_socket_count();

    /// <summary>Socket ids DPDK detected (not necessarily 0..n-1).</summary>
    public static int[] SocketIds()
    {
        int n = SocketCount;
        var ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = Shim.sy_socket_id_by_idx((uint)i);
        return ids;
    }

    /// <summary>The port id of a device by its DPDK name (e.g. "net_pcap0", "0000:01:00.0").</summary>
    public static ushort PortByName(string deviceName)
    {
        byte* name = Utf8(deviceName);
        try
        {
            ushort port;
            int ret = Shim.sy_port_by_name(name, &port);
            // A --vdev with a bad argument or a missing pcap file does not fail rte_eal_init in
            // DPDK 22.11: the bus probe logs "vdev_probe(): failed to initialize ..." and carries
            // on, so the first visible failure is here, as ENODEV.
            if (ret != 0)
                throw new DpdkException("rte_eth_dev_get_port_by_name", $"'{deviceName}'", ret,
                    ret == -19 ? "the device was not probed: see the EAL log above for its --vdev/PCI error" : null);
            return port;
        }
        finally { NativeMemory.Free(name); }
    }

    public static string PortName(ushort port)
    {
        byte* buf = stackalloc byte[128]; // RTE_ETH_NAME_MAX_LEN is 64
        int ret = Shim.sy_port_name(port, buf, 128);
        if (ret != 0) throw new DpdkException("rte_eth_dev_get_name_by_port", $"port {port}", ret);
        return Marshal.PtrToStringUTF8((nint)buf)!;
    }

    /// <summary>NUMA socket of the port; -1 when DPDK does not know (virtual devices).</summary>
    public static int PortSocket(ushort port) => Shim.sy_port_socket(port);

    /// <summary>"port 0 'net_pcap0'", for messages.</summary>
    static string Describe(ushort port)
    {
        byte* buf = stackalloc byte[128];
        return Shim.sy_port_name(port, buf, 128) == 0
            ? $"port {port} '{Marshal.PtrToStringUTF8((nint)buf)}'"
            : $"port {port}";
    }

    /// <summary>
    /// The mbuf pool for <paramref name="socket"/> (-1 = any), created on first use: one pool per
    /// socket, shared by every port and worker on it. Under --no-huge all memory is on socket 0
    /// from DPDK's point of view; ask for the socket <see cref="PortSocket"/> reports (or 0).
    /// </summary>
    /// <param name="mbufs">Pool size in mbufs; best as 2^n - 1 (DPDK's ring is a power of two).</param>
    /// <param name="cache">Per-lcore cache in mbufs (at most 512; 256 is typical).</param>
    /// <param name="dataRoom">Bytes per mbuf including the RTE_PKTMBUF_HEADROOM (2048 + 128 is DPDK's default).</param>
    public static nint PoolForSocket(int socket, uint mbufs = 8191, uint cache = 256, ushort dataRoom = 2048 + 128)
    {
        lock (s_gate)
        {
            if (s_pools.TryGetValue(socket, out nint pool)) return pool;
            string name = socket < 0 ? "sy_pool_any" : "sy_pool_s" + socket.ToString(CultureInfo.InvariantCulture);
            byte* n = Utf8(name);
            try
            {
                pool = Shim.sy_pool_create(n, mbufs, cache, dataRoom, socket);
                if (pool == 0)
                    throw new DpdkException("rte_pktmbuf_pool_create",
                        $"'{name}', {mbufs} mbufs, cache {cache}, data room {dataRoom}, socket {socket}", Shim.sy_errno());
            }
            finally { NativeMemory.Free(n); }
            s_pools[socket] = pool;
            return pool;
        }
    }

    /// <summary>Free mbufs in a pool (includes the per-lcore caches).</summary>
    public static uint PoolAvailable(nint pool) => Shim.sy_pool_avail(pool);

    /// <summary>Configures a stopped port (queues, RSS, MTU, promiscuous). See sy_port_setup.</summary>
    public static void SetupPort(ushort port, in PortSetup setup, nint pool)
    {
        byte* failed = null;
        int ret = Shim.sy_port_setup(port, setup.RxQueues, setup.TxQueues, setup.RxDescriptors, setup.TxDescriptors,
            setup.Mtu, pool, setup.EnableRss ? 1 : 0, setup.Promiscuous ? 1 : 0, &failed);
        if (ret != 0)
        {
            string call = failed == null ? "sy_port_setup" : Marshal.PtrToStringUTF8((nint)failed)!;
            throw new DpdkException(call, Describe(port), ret);
        }
    }

    public static void StartPort(ushort port)
    {
        int ret = Shim.sy_port_start(port);
        if (ret != 0) throw new DpdkException("rte_eth_dev_start", Describe(port), ret);
        lock (s_gate) if (!s_started.Contains(port)) s_started.Add(port);
    }

    public static void StopPort(ushort port)
    {
        int ret = Shim.sy_port_stop(port);
        if (ret != 0) throw new DpdkException("rte_eth_dev_stop", Describe(port), ret);
    }

    /// <summary>Closes a stopped port. net_pcap writes out and closes its tx_pcap file here.</summary>
    public static void ClosePort(ushort port)
    {
        string what = Describe(port); // the name is gone after close
        int ret = Shim.sy_port_close(port);
        if (ret != 0) throw new DpdkException("rte_eth_dev_close", what, ret);
        lock (s_gate) s_started.Remove(port);
    }

    /// <summary>
    /// Stops and closes every port started through <see cref="StartPort"/>, continuing past failures
    /// (shutdown must reach every port); returns the failures for the caller to log. Call only after
    /// every worker has left its loop: a port must not be polled while it stops.
    /// </summary>
    public static List<DpdkException> StopAndCloseAll()
    {
        ushort[] ports;
        lock (s_gate) ports = s_started.ToArray();
        var errors = new List<DpdkException>();
        foreach (ushort p in ports)
        {
            try { StopPort(p); } catch (DpdkException e) { errors.Add(e); }
            try { ClosePort(p); } catch (DpdkException e) { errors.Add(e); }
        }
        return errors;
    }

    public static byte[] PortMac(ushort port)
    {
        var mac = new byte[6];
        fixed (byte* m = mac)
        {
            int ret = Shim.sy_port_mac(port, m);
            if (ret != 0) throw new DpdkException("rte_eth_macaddr_get", Describe(port), ret);
        }
        return mac;
    }

    /// <summary>MAC as the snapshot stores it: byte 0 of wire order in bits 47..40.</summary>
    public static ulong PortMac48(ushort port)
    {
        byte[] m = PortMac(port);
        ulong v = 0;
        for (int i = 0; i < 6; i++) v = (v << 8) | m[i];
        return v;
    }

    public static PortLink Link(ushort port)
    {
        PortLink link;
        int ret = Shim.sy_port_link(port, &link);
        if (ret != 0) throw new DpdkException("rte_eth_link_get_nowait", Describe(port), ret);
        return link;
    }

    public static PortStats Stats(ushort port)
    {
        PortStats s;
        int ret = Shim.sy_port_stats(port, &s);
        if (ret != 0) throw new DpdkException("rte_eth_stats_get", Describe(port), ret);
        return s;
    }

    /// <summary>rte_eal_cleanup; after it no DPDK call may be made (and EAL cannot start again).</summary>
    public static void Cleanup()
    {
        lock (s_gate)
        {
            if (!s_initialised) return;
            int ret = Shim.sy_eal_cleanup();
            if (ret != 0) throw new DpdkException("rte_eal_cleanup", null, ret);
            s_initialised = false;
            s_pools.Clear();
        }
    }

    /// <summary>NUL-terminated UTF-8 copy in native memory; the caller frees it (NativeMemory.Free).</summary>
    static byte* Utf8(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        byte* p = (byte*)NativeMemory.Alloc((nuint)n + 1);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }
}

/// <summary>What <see cref="Hugepages.Detect"/> found.</summary>
public readonly record struct HugepageStatus(long Total, long Free, long PageSizeKiB, string? MountPoint)
{
    /// <summary>Free pages exist and a hugetlbfs is mounted: EAL can run without --no-huge.</summary>
    public bool Usable => Free > 0 && PageSizeKiB > 0 && MountPoint is not null;
    public long FreeBytes => Free * PageSizeKiB * 1024;
}

/// <summary>
/// Decides between hugepages and <c>--no-huge</c>. The caller logs the choice: 4 KiB pages cost about
/// half the throughput (docs/measuring.md, "Hugepages"), so falling back must be visible.
/// </summary>
public static class Hugepages
{
    /// <summary>Reads /proc/meminfo and /proc/mounts of this machine.</summary>
    public static HugepageStatus Detect()
    {
        string meminfo = "", mounts = "";
        try { meminfo = File.ReadAllText("/proc/meminfo"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        try { mounts = File.ReadAllText("/proc/mounts"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return Parse(meminfo, mounts);
    }

    /// <summary>
    /// Parses /proc/meminfo text (HugePages_Total, HugePages_Free, Hugepagesize in kB) and /proc/mounts
    /// text (first hugetlbfs mount point). Missing or malformed fields read as 0 / null; never throws.
    /// </summary>
    public static HugepageStatus Parse(string meminfo, string mounts)
    {
        long total = 0, free = 0, size = 0;
        foreach (string raw in meminfo.Split('\n'))
        {
            int colon = raw.IndexOf(':');
            if (colon <= 0) continue;
            string key = raw[..colon].Trim();
            // Value is "<number>" or "<number> kB".
            string[] parts = raw[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long v)) continue;
            switch (key)
            {
                case "HugePages_Total": total = v; break;
                case "HugePages_Free": free = v; break;
                case "Hugepagesize": size = v; break;
            }
        }
        string? mount = null;
        foreach (string line in mounts.Split('\n'))
        {
            // "<device> <mount point> <fstype> <options> 0 0"
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 3 && f[2] == "hugetlbfs") { mount = f[1].Replace("\\040", " "); break; }
        }
        return new HugepageStatus(total, free, size, mount);
    }
}
