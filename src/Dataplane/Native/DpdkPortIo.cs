using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Dataplane.Native;

/// <summary>
/// The worker loop's device strategy for real DPDK ports: one shim call per burst, no checks
/// (ports and queues were validated when the loop was built and the ports set up).
/// </summary>
public readonly unsafe struct DpdkPortIo : IPortIo
{
    /// <summary>rte_thread_register: the worker gets an lcore id, hence a mempool cache of its own
    /// (without one every mbuf alloc/free goes to the shared ring).</summary>
    public void AttachThread()
    {
        if (Shim.sy_thread_register() != 0)
            throw new DpdkException("rte_thread_register", $"thread '{Thread.CurrentThread.Name}'", Shim.sy_errno());
    }

    public void DetachThread() => Shim.sy_thread_unregister();

    public int Receive(byte port, ushort queue, Burst burst)
        => Shim.sy_rx_burst(port, queue, burst.Handles, burst.Data, burst.Length, burst.Headroom, burst.Segments, Burst.Size);

    public int Transmit(byte port, ushort queue, nint* handles, short* delta, ushort* len, int n)
        => Shim.sy_tx_burst(port, queue, handles, delta, len, (ushort)n);

    public void Free(nint* handles, int n) => Shim.sy_free_bulk(handles, (ushort)n);
}
