using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Datapath.Steering.Pins;

/// <summary>One flow pin that the current Maglev table no longer reproduces (issue 12 item 4): flow hash, the backend
/// id it is pinned to on this appliance, and how many ticks it has left before it idles out.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PinEvent
{
    public ulong Hash;
    public uint BackendId;
    public uint RemainingTicks;
}

/// <summary>
/// A worker's pins on their way to the cluster exchange: a bounded lock-free single-producer single-consumer ring
/// (<see cref="SpscRing{T}"/>, as <see cref="Tokens.TokenExportQueue"/>). The producer is the owning worker's housekeeping
/// sweep (no allocation, no lock, no syscall); the consumer is the exchange's send thread. A full ring drops the
/// pin and counts it: the next sweep pass exports it again.
/// </summary>
public sealed class PinExportQueue(int capacity) : SpscRing<PinEvent>(capacity, "pin export queue")
{
    /// <summary>Producer: appends a pin, or counts an overflow and returns false.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnqueue(ulong hash, uint backendId, uint remainingTicks) =>
        TryEnqueue(new PinEvent { Hash = hash, BackendId = backendId, RemainingTicks = remainingTicks });
}
