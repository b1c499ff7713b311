using System.Runtime.CompilerServices;

namespace Switchyard.Dataplane.Datapath.Worker;

/// <summary>
/// The floor of the cycle budget (Run.ForwardOnly): the appliance's own worker loop, ports and
/// transmit path with a trivial handler in place of the packet path. Every frame goes out of
/// <see cref="OutPort"/> unchanged in length, its Ethernet source and destination swapped (the same
/// work per frame as dpdk-testpmd's macswap, so the two floors compare). Frames shorter than an
/// Ethernet header are dropped (counted as <see cref="DropReason.RuntFrame"/>). No allocation.
/// </summary>
public sealed unsafe class ForwardOnlyHandler : IBurstHandler
{
    readonly WorkerCounters _counters;

    /// <summary>Port index every frame is sent out of.</summary>
    public byte OutPort { get; }

    public ForwardOnlyHandler(byte outPort, WorkerCounters counters)
    {
        if (outPort >= Burst.DropPort) throw new ArgumentOutOfRangeException(nameof(outPort));
        OutPort = outPort;
        _counters = counters ?? throw new ArgumentNullException(nameof(counters));
    }

    public void Process(Burst burst, byte rxPort, uint nowTicks)
    {
        int n = burst.Count;
        byte port = OutPort;
        long forwarded = 0;
        for (int i = 0; i < n; i++)
        {
            byte* f = burst.Data[i];
            ushort len = burst.Length[i];
            burst.Delta[i] = 0;
            burst.OutLength[i] = len;
            if (len < 14)
            {
                burst.OutPort[i] = Burst.DropPort;
                _counters.Drop(DropReason.RuntFrame);
                continue;
            }
            // Swap the 6-byte addresses: two 8-byte loads, two 6-byte stores (bytes 12..13, the type, kept).
            ulong dst = Unsafe.ReadUnaligned<ulong>(f);      // dst[0..5] + src[0..1]
            ulong src = Unsafe.ReadUnaligned<ulong>(f + 6);  // src[0..5] + type
            Unsafe.WriteUnaligned(f, (uint)src);
            Unsafe.WriteUnaligned(f + 4, (ushort)(src >> 32));
            Unsafe.WriteUnaligned(f + 6, (uint)dst);
            Unsafe.WriteUnaligned(f + 10, (ushort)(dst >> 32));
            burst.OutPort[i] = port;
            forwarded++;
        }
        _counters.Outcomes[WorkerCounters.Offset + (int)Outcome.Forwarded] += forwarded;
    }
}
