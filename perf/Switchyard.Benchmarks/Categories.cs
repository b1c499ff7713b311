namespace Switchyard.Benchmarks;

/// <summary>Benchmark categories (<c>[BenchmarkCategory]</c>; filter with <c>--anyCategories</c>).</summary>
public static class Categories
{
    /// <summary>Work the control plane does (table builds), off the packet path: allowed to allocate,
    /// so the test suite's allocation guard (BenchmarkAllocationTests) leaves these out. Every other
    /// [Benchmark] method in this assembly is packet-path work and must allocate nothing.</summary>
    public const string ControlPlane = "ControlPlane";
}
