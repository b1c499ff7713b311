using BenchmarkDotNet.Attributes;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering;

namespace Switchyard.Benchmarks;

/// <summary>
/// Per-operation costs of the steering stage. Each benchmark runs <see cref="Ops"/> operations over
/// precomputed keys, so the reported time is per operation (OperationsPerInvoke) and the loop
/// overhead is amortised. Allocated bytes must read 0 for everything but the Maglev builds, which run on
/// the control plane (category <see cref="Categories.ControlPlane"/>: the allocation test skips them).
/// </summary>
[MemoryDiagnoser]
public class SteeringBenchmarks
{
    const int Ops = 4096; // keys per invoke; a power of two so the key index is a mask
    const uint Idle = 60_000; // ms

    // 64k entries x 16 bytes = 1 MiB of buckets. The 4096 keys touch ~4096 of its 16384 lines
    // (256 KiB), so lookups run from L2, not L1: closer to the worker than an all-L1 toy table,
    // but it does not show DRAM misses on a table of millions of flows.
    const int TableEntries = 1 << 16;

    ulong[] _keys = null!;
    ulong[] _absent = null!;
    int[] _maglev = null!;
    MaglevBackend[] _backends100 = null!;
    MaglevBackend[] _backends1000 = null!;
    MaglevBackend[] _backends99 = null!;
    MaglevBackend[] _backends100Drained = null!;
    FlowTable _table = null!;
    FlowTable _insertTable = null!;
    uint _now;

    readonly Addr128 _src4 = Addr128.Parse("198.51.100.7"), _dst4 = Addr128.Parse("203.0.113.10");
    readonly Addr128 _src6 = Addr128.Parse("2001:db8::7"), _dst6 = Addr128.Parse("2001:db8:1::10");

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _keys = new ulong[Ops];
        _absent = new ulong[Ops];
        for (int i = 0; i < Ops; i++)
        {
            _keys[i] = (ulong)rng.NextInt64();
            _absent[i] = (ulong)rng.NextInt64();
        }
        _backends100 = Backends(100);
        _backends1000 = Backends(1000);
        _backends99 = [.. _backends100.Where(b => b.Id != 42)];
        _backends100Drained = [.. _backends100.Select(b => b.Id == 42 ? new MaglevBackend(b.Id, b.Key, 0) : b)];
        _maglev = Maglev.Build(_backends100, Maglev.DefaultSize);
        _table = new FlowTable(TableEntries);
        _insertTable = new FlowTable(TableEntries);
        _now = 1;
        foreach (ulong k in _keys) _table.Insert(k, (uint)k, _now, Idle);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _table.Dispose();
        _insertTable.Dispose();
    }

    static MaglevBackend[] Backends(int n)
        => Enumerable.Range(0, n).Select(i => new MaglevBackend(i, $"backend-{i}.example:8080", 1)).ToArray();

    [Benchmark(OperationsPerInvoke = Ops)]
    public int MaglevLookup()
    {
        int[] table = _maglev;
        int sum = 0;
        foreach (ulong k in _keys) sum += table[Maglev.Slot(k, table.Length)];
        return sum;
    }

    [Benchmark, BenchmarkCategory(Categories.ControlPlane)]
    public int[] MaglevBuild100() => Maglev.Build(_backends100, Maglev.DefaultSize);

    [Benchmark, BenchmarkCategory(Categories.ControlPlane)]
    public int[] MaglevBuild1000() => Maglev.Build(_backends1000, Maglev.DefaultSize);

    /// <summary>The rebuild after a backend is removed (what a drain or a failed health check costs):
    /// 99 of the 100 backends, backend 42 gone; the same work as a build of 99.</summary>
    [Benchmark, BenchmarkCategory(Categories.ControlPlane)]
    public int[] MaglevRebuildRemoveOne() => Maglev.Build(_backends99, Maglev.DefaultSize);

    /// <summary>The rebuild after backend 42's weight drops from 1 to 0 (drained, kept in the list).</summary>
    [Benchmark, BenchmarkCategory(Categories.ControlPlane)]
    public int[] MaglevRebuildDrainOne() => Maglev.Build(_backends100Drained, Maglev.DefaultSize);

    /// <summary>Hit on a live entry, prefetching the next key's bucket as the worker loop does.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public uint FlowTableHit()
    {
        ulong[] keys = _keys;
        FlowTable t = _table;
        uint sum = 0;
        for (int i = 0; i < keys.Length; i++)
        {
            t.Prefetch(keys[(i + 1) & (Ops - 1)]);
            t.Lookup(keys[i], _now, Idle, out uint v);
            sum += v;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    public int FlowTableMiss()
    {
        ulong[] keys = _absent;
        FlowTable t = _table;
        int misses = 0;
        for (int i = 0; i < keys.Length; i++)
        {
            t.Prefetch(keys[(i + 1) & (Ops - 1)]);
            if (t.Lookup(keys[i], _now, Idle, out _) == FlowLookup.Miss) misses++;
        }
        return misses;
    }

    /// <summary>Insert of a new key. Time advances by the idle period each invoke, so every key of the
    /// previous invoke has expired and each insert takes the Inserted path (not Updated).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public int FlowTableInsert()
    {
        ulong[] keys = _keys;
        FlowTable t = _insertTable;
        uint now = _now += Idle;
        int inserted = 0;
        for (int i = 0; i < keys.Length; i++)
        {
            t.Prefetch(keys[(i + 1) & (Ops - 1)]);
            if (t.Insert(keys[i], (uint)i, now, Idle) == FlowInsert.Inserted) inserted++;
        }
        return inserted;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    public ulong FlowHashIPv4()
    {
        ulong acc = 0;
        for (int i = 0; i < Ops; i++) acc ^= FlowHash.FiveTuple(_src4, _dst4, (ushort)i, 443, 6, 7);
        return acc;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    public ulong FlowHashIPv6()
    {
        ulong acc = 0;
        for (int i = 0; i < Ops; i++) acc ^= FlowHash.FiveTuple(_src6, _dst6, (ushort)i, 443, 6, 7);
        return acc;
    }
}
