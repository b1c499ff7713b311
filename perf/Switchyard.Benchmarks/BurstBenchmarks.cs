using BenchmarkDotNet.Attributes;

namespace Switchyard.Benchmarks;

/// <summary>
/// The whole packet path (<c>BurstProcessor.Process</c>: parse, VIP lookup, flow table / Maglev,
/// forward) on 32-frame bursts from a memory port, one row per traffic mix. Times are per packet
/// (OperationsPerInvoke = frames per invoke) and include restoring the frames' first 128 bytes
/// (<c>MemoryPort.Reset</c>), which stands in for the NIC writing a fresh frame. Allocated must read
/// "-": the test suite runs these same methods under an allocation guard (BenchmarkAllocationTests).
/// </summary>
[MemoryDiagnoser]
public class BurstBenchmarks
{
    [ParamsAllValues]
    public TrafficMix Mix { get; set; }

    BurstRig _rig = null!;

    [GlobalSetup]
    public void Setup() => _rig = new BurstRig(Mix);

    [GlobalCleanup]
    public void Cleanup() => _rig.Dispose();

    [Benchmark(OperationsPerInvoke = BurstRig.FramesPerRun)]
    public int Process() => _rig.Run();
}
