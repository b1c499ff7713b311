extern alias Benchmarks;

using System.Linq.Expressions;
using System.Reflection;
using BenchmarkDotNet.Attributes;
using BurstBenchmarks = Benchmarks::Switchyard.Benchmarks.BurstBenchmarks;
using BurstRig = Benchmarks::Switchyard.Benchmarks.BurstRig;
using Categories = Benchmarks::Switchyard.Benchmarks.Categories;
using TrafficMix = Benchmarks::Switchyard.Benchmarks.TrafficMix;
using GlobalCounter = Switchyard.Dataplane.Datapath.GlobalCounter;

namespace Switchyard.Tests.Pipeline;

/// <summary>
/// The packet-path benchmarks, run here as plain code: every [Benchmark] method of every benchmark class
/// in perf/Switchyard.Benchmarks (found by reflection, so a new one is covered without touching this
/// file), for every value of its [ParamsAllValues]/[Params] property and every [Arguments] row, must
/// allocate nothing once warm. Only methods in category <see cref="Categories.ControlPlane"/> (Maglev
/// table builds) are left out. So a change that allocates on the packet path fails the normal test
/// suite, not only a benchmark report nobody reads.
/// </summary>
public class BenchmarkAllocationTests
{
    static readonly Assembly BenchmarkAssembly = typeof(BurstBenchmarks).Assembly;

    static Type[] BenchmarkTypes() => [.. BenchmarkAssembly.GetTypes()
        .Where(t => t.IsClass && !t.IsAbstract && t.GetMethods().Any(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null))
        .OrderBy(t => t.Name)];

    static bool IsControlPlane(MethodInfo m)
        => m.GetCustomAttribute<BenchmarkCategoryAttribute>()?.Categories.Contains(Categories.ControlPlane) == true;

    /// <summary>The parameter property of a benchmark class (at most one here) and its values.</summary>
    static (PropertyInfo? Prop, object?[] Values) Params(Type type)
    {
        var props = type.GetProperties().Where(p => p.GetCustomAttribute<ParamsAllValuesAttribute>() is not null
                                                    || p.GetCustomAttribute<ParamsAttribute>() is not null).ToArray();
        Assert.True(props.Length <= 1, $"{type.Name}: more than one parameter property; extend {nameof(BenchmarkAllocationTests)}");
        if (props.Length == 0) return (null, [null]);
        var prop = props[0];
        if (prop.GetCustomAttribute<ParamsAttribute>() is { } values) return (prop, values.Values);
        var t = prop.PropertyType;
        return (prop, t == typeof(bool) ? [false, true] : Enum.GetValues(t).Cast<object?>().ToArray());
    }

    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var type in BenchmarkTypes())
            foreach (var value in Params(type).Values)
                foreach (var m in type.GetMethods().Where(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null && !IsControlPlane(m)))
                    data.Add(type.Name, value?.ToString() ?? "-", m.Name);
        return data;
    }

    [Fact]
    public void Every_benchmark_class_has_the_memory_diagnoser_and_some_packet_path_methods_are_guarded()
    {
        var types = BenchmarkTypes();
        Assert.True(types.Length >= 4, $"found only {types.Length} benchmark classes");
        foreach (var t in types)
            Assert.True(t.GetCustomAttribute<MemoryDiagnoserAttribute>() is not null, $"{t.Name} has no [MemoryDiagnoser]");
        // The guard must really enumerate the packet-path methods: the burst processor for every mix,
        // the parser, flow table, Maglev lookup and token decryption/learning.
        var guarded = Cases().Select(r => $"{r[0]}.{r[2]}").ToHashSet();
        foreach (var name in new[] { "BurstBenchmarks.Process", "ParserBenchmarks.Parse", "SteeringBenchmarks.MaglevLookup",
                                     "SteeringBenchmarks.FlowTableHit", "SteeringBenchmarks.FlowTableMiss", "SteeringBenchmarks.FlowTableInsert",
                                     "TokenBenchmarks.Scalar", "TokenBenchmarks.BatchedUniform", "TokenBenchmarks.LearnedTokenSha256" })
            Assert.Contains(name, guarded);
        Assert.DoesNotContain("SteeringBenchmarks.MaglevBuild100", guarded);
        Assert.Equal(Enum.GetValues<TrafficMix>().Length, Cases().Count(r => (string)r[0] == nameof(BurstBenchmarks)));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Packet_path_benchmark_allocates_nothing(string benchmark, string param, string method)
    {
        var type = BenchmarkTypes().Single(t => t.Name == benchmark);
        object bench = Activator.CreateInstance(type)!;
        var (prop, values) = Params(type);
        prop?.SetValue(bench, values.Single(v => (v?.ToString() ?? "-") == param));
        var m = type.GetMethod(method)!;
        var rows = m.GetCustomAttributes<ArgumentsAttribute>().Select(a => a.Values).DefaultIfEmpty([]).ToArray();
        Method<GlobalSetupAttribute>(type)?.Invoke(bench, null);
        try
        {
            foreach (var args in rows)
            {
                // A compiled call with constant arguments, not MethodInfo.Invoke: reflection would box the
                // arguments and the result and allocate itself.
                var call = Expression.Call(Expression.Constant(bench), m,
                    args.Zip(m.GetParameters(), (a, p) => (Expression)Expression.Constant(a, p.ParameterType)));
                var run = Expression.Lambda<Action>(call).Compile();
                for (int i = 0; i < 20; i++) run();
                // Windows of 100 calls until two in a row allocate nothing (at most four). A packet path that allocates
                // per call, per burst or periodically shows in every window; what the runtime allocates once on the
                // calling thread (the tiered JIT's background worker is created by the thread whose method reaches its
                // call count, around the 30th call, when no worker is alive) shows in one window only.
                var windows = new List<long>();
                while (windows.Count < 4 && !(windows.Count >= 2 && windows[^1] == 0 && windows[^2] == 0))
                {
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    for (int i = 0; i < 100; i++) run();
                    windows.Add(GC.GetAllocatedBytesForCurrentThread() - before);
                }
                Assert.True(windows.Count >= 2 && windows[^1] == 0 && windows[^2] == 0,
                    $"{benchmark}.{method}({string.Join(", ", args)}) [{param}] allocated {string.Join(", ", windows)} bytes in windows of 100 calls");
            }
        }
        finally { Method<GlobalCleanupAttribute>(type)?.Invoke(bench, null); }
    }

    static MethodInfo? Method<T>(Type type) where T : Attribute => type.GetMethods().SingleOrDefault(m => m.GetCustomAttribute<T>() is not null);

    public static TheoryData<string> Mixes() => [.. Enum.GetNames<TrafficMix>()];

    [Theory]
    [MemberData(nameof(Mixes))]
    public void Benchmark_mix_forwards_every_frame_and_reset_restores_it(string mix)
    {
        var m = Enum.Parse<TrafficMix>(mix);
        using var rig = new BurstRig(m);
        long insertsBefore = rig.Counters.Get(GlobalCounter.FlowInserts);
        for (int run = 0; run < 3; run++) Assert.Equal(BurstRig.FramesPerRun, rig.Run());
        rig.Port.Reset(0, BurstRig.FramesPerRun);
        for (int i = 0; i < BurstRig.FramesPerRun; i++) Assert.True(rig.Port.IsPristine(i), $"frame {i} differs after Reset");
        const int all = 3 * BurstRig.FramesPerRun;
        switch (m)
        {
            case TrafficMix.SynFlood:
                Assert.Equal(all, rig.Counters.Get(GlobalCounter.FlowInserts));
                break;
            case TrafficMix.JoinEncryptedToken:
                // Every join is a new 5-tuple, decrypted, placed by its token and pinned.
                Assert.Equal(all, rig.Counters.Get(GlobalCounter.JoinsSeen));
                Assert.Equal(all, rig.Counters.Get(GlobalCounter.JoinsByEncryptedToken));
                Assert.Equal(all, rig.Counters.Get(GlobalCounter.FlowInserts));
                Assert.Equal(0, rig.Counters.Get(GlobalCounter.JoinsUnplaceable));
                break;
            case TrafficMix.JoinLearnedToken:
                // Set-up learned one token per connection; every timed join found its token.
                Assert.Equal(BurstRig.FramesPerRun, rig.Counters.Get(GlobalCounter.TokensLearned));
                Assert.Equal(all, rig.Counters.Get(GlobalCounter.JoinsSeen));
                Assert.Equal(all, rig.Counters.Get(GlobalCounter.JoinsByLearnedToken));
                Assert.Equal(all, rig.Counters.Get(GlobalCounter.FlowInserts) - insertsBefore);
                Assert.Equal(0, rig.Counters.Get(GlobalCounter.JoinsUnplaceable));
                break;
            default:
                Assert.Equal(all, rig.Counters.Get(GlobalCounter.FlowHits));
                break;
        }
    }
}
