using System.Diagnostics;
using System.Runtime.InteropServices;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Dataplane.Native;
using Switchyard.Management.Options;

namespace Switchyard.Management.Bgp;

/// <summary>Counters of the management side of the exception path (the workers count their side).</summary>
public sealed record ExceptionPathCounters(string Interface, long ToKernel, long FromKernel, long FromKernelDropped, long TapTxDropped, int RingToKernel, int RingFromKernel);

/// <summary>
/// The exception path's management side (issue 12). The appliance owns its data port through DPDK, so the
/// kernel never sees that port's traffic; real DPDK appliances hand their own traffic to the kernel (GLB
/// Director through KNI; here DPDK's <c>net_tap</c>). A tap interface carries the port's addresses and MAC;
/// workers put frames for the appliance's own addresses on a lock-free ring, and this thread (off the worker
/// cores, allowed to block) writes them to the tap. What the kernel sends back (BGP replies, ICMP echo replies,
/// its ARP requests) is read from the tap and put on a second ring that worker 0 transmits on its own queue of
/// the data port. gobgpd, ping and anything else on the host then use the appliance's data-plane address.
/// </summary>
public sealed unsafe class ExceptionPathService : IDisposable
{
    public const string VdevName = "net_tap_syexc";
    readonly ExceptionPathOptions _o;
    readonly Action<string> _log;
    readonly nint _toKernel, _fromKernel;
    readonly ushort _tapPort;
    readonly Thread _thread;
    readonly Burst _burst = new();
    readonly nint* _handles;
    volatile bool _stop;
    long _toKernelCount, _fromKernelCount, _fromKernelDropped, _tapTxDropped;

    /// <summary>The EAL argument that creates the tap (appended after every configured vdev, so the tap gets
    /// the highest port id and the configured ports keep 0..n-1).</summary>
    public static string VdevArgument(ExceptionPathOptions o) => $"--vdev={VdevName},iface={o.Interface}";

    /// <summary>Sets up and starts the tap port (after EAL and the data ports), creates the rings, gives the
    /// kernel interface the data port's MAC and addresses.</summary>
    public ExceptionPathService(ExceptionPathOptions o, PortOptions dataPort, ulong dataPortMac, nint pool, Action<string> log)
    {
        _o = o; _log = log;
        _tapPort = Dpdk.PortByName(VdevName);
        Dpdk.SetupPort(_tapPort, new PortSetup(1, 1, 512, 512, (ushort)dataPort.Mtu, false, false), pool);
        byte* mac = stackalloc byte[6];
        for (int i = 0; i < 6; i++) mac[i] = (byte)(dataPortMac >> (40 - 8 * i));
        int r = Shim.sy_port_set_mac(_tapPort, mac);
        if (r != 0) throw new DpdkException("rte_eth_dev_default_mac_addr_set", $"tap {o.Interface}", r);
        Dpdk.StartPort(_tapPort);
        _toKernel = CreateRing("sy_exc_to_kernel", singleProducer: false);
        _fromKernel = CreateRing("sy_exc_from_kernel", singleProducer: true);
        _handles = (nint*)NativeMemory.AlignedAlloc((nuint)(Burst.Size * sizeof(nint)), 64);
        ConfigureKernelInterface(dataPort);
        _thread = new Thread(Loop) { IsBackground = true, Name = "sy-exception" };
    }

    nint CreateRing(string name, bool singleProducer)
    {
        byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* n = utf8)
        {
            nint ring = Shim.sy_ring_create(n, (uint)_o.RingSize, singleProducer ? 1 : 0);
            if (ring == 0) throw new DpdkException("rte_ring_create", $"'{name}', {_o.RingSize} slots", Shim.sy_errno());
            return ring;
        }
    }

    void ConfigureKernelInterface(PortOptions port)
    {
        var addrs = _o.Addresses.Length > 0 ? _o.Addresses
            : port.Addresses.Select(a => a.Contains(':') ? a + "/128" : a + "/32").ToArray();
        // The kernel computes its own checksums on the tap (no offload to a device that cannot do it).
        Ip("ethtool", "-K", _o.Interface, "tx", "off");
        foreach (var a in addrs)
            if (a.Contains(':')) Ip("ip", "addr", "replace", a, "dev", _o.Interface, "nodad");
            else Ip("ip", "addr", "replace", a, "dev", _o.Interface);
        Ip("ip", "link", "set", "dev", _o.Interface, "mtu", port.Mtu.ToString(System.Globalization.CultureInfo.InvariantCulture), "up");
        _log($"exception path: kernel interface {_o.Interface} ({string.Join(", ", addrs)}) is port '{port.Name}''s own traffic (BGP, ICMP echo, ARP replies)");
    }

    void Ip(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) _log($"exception path: {tool} {string.Join(' ', args)} failed: {err.Trim()}");
    }

    /// <summary>The handoffs to give the workers: every worker enqueues to the kernel, the first one also
    /// transmits what the kernel sent.</summary>
    public ExceptionHandoff HandoffFor(int workerIndex, byte dataPort) =>
        new(_toKernel, workerIndex == 0 ? _fromKernel : 0, dataPort, _o.RatePerSecond, _o.Burst);

    public void Start() => _thread.Start();

    public ExceptionPathCounters Counters => new(_o.Interface, Interlocked.Read(ref _toKernelCount), Interlocked.Read(ref _fromKernelCount),
        Interlocked.Read(ref _fromKernelDropped), Interlocked.Read(ref _tapTxDropped), (int)Shim.sy_ring_count(_toKernel), (int)Shim.sy_ring_count(_fromKernel));

    void Loop()
    {
        while (!_stop)
        {
            bool busy = false;
            // Workers -> kernel.
            uint n = Shim.sy_ring_dequeue(_toKernel, _handles, null, null, Burst.Size);
            if (n > 0)
            {
                busy = true;
                ushort sent = Shim.sy_tx_burst_raw(_tapPort, 0, _handles, (ushort)n);
                Interlocked.Add(ref _toKernelCount, sent);
                if (sent < n) Interlocked.Add(ref _tapTxDropped, n - sent);
            }
            // Kernel -> worker 0 -> data port.
            int m = Shim.sy_rx_burst(_tapPort, 0, _burst.Handles, _burst.Data, _burst.Length, _burst.Headroom, _burst.Segments, Burst.Size);
            if (m > 0)
            {
                busy = true;
                int keep = 0;
                for (int i = 0; i < m; i++)
                {
                    // Worker transmits single-segment frames only (it sets data_len = pkt_len).
                    if (_burst.Segments[i] == 1) _burst.Handles[keep++] = _burst.Handles[i];
                    else { Shim.sy_free_bulk(_burst.Handles + i, 1); Interlocked.Increment(ref _fromKernelDropped); }
                }
                uint queued = keep == 0 ? 0 : Shim.sy_ring_enqueue(_fromKernel, _burst.Handles, (uint)keep);
                if (queued < keep)
                {
                    Shim.sy_free_bulk(_burst.Handles + queued, (ushort)(keep - (int)queued));
                    Interlocked.Add(ref _fromKernelDropped, keep - queued);
                }
                Interlocked.Add(ref _fromKernelCount, queued);
            }
            if (!busy) Thread.Sleep(1);
        }
    }

    /// <summary>Stops the thread (after the workers stopped: nothing is enqueued any more) and frees what is queued.</summary>
    public void Dispose()
    {
        _stop = true;
        if (_thread.IsAlive) _thread.Join(TimeSpan.FromSeconds(2));
        foreach (var ring in new[] { _toKernel, _fromKernel })
        {
            uint n;
            while ((n = Shim.sy_ring_dequeue(ring, _handles, null, null, Burst.Size)) > 0) Shim.sy_free_bulk(_handles, (ushort)n);
            Shim.sy_ring_free(ring);
        }
        NativeMemory.AlignedFree(_handles);
        _burst.Dispose();
    }
}
