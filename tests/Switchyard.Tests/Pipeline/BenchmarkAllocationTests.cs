extern alias Benchmarks;

using System.Reflection;
using BenchmarkDotNet.Attributes;
using BurstBenchmarks = Benchmarks::Switchyard.Benchmarks.BurstBenchmarks;
using BurstRig = Benchmarks::Switchyard.Benchmarks.BurstRig;
using ParserBenchmarks = Benchmarks::Switchyard.Benchmarks.ParserBenchmarks;
using TrafficMix = Benchmarks::Switchyard.Benchmarks.TrafficMix;

namespace Switchyard.Tests.Pipeline;

/// <summary>
/// The packet-path benchmarks, run here as plain code: every [Benchmark] method, for every value of
/// its [ParamsAllValues] property, must allocate nothing once warm. So a change that allocates on the
/// packet path fails the normal test suite, not only a benchmark report nobody reads.
/// </summary>
public class BenchmarkAllocationTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var type in new[] { typeof(BurstBenchmarks), typeof(ParserBenchmarks) })
        {
            var param = type.GetProperties().Single(p => p.GetCustomAttribute<ParamsAllValuesAttribute>() is not null);
            foreach (var value in Enum.GetNames(param.PropertyType)) data.Add(type.Name, value);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Packet_path_benchmark_allocates_nothing(string benchmark, string param)
    {
        var type = benchmark == nameof(BurstBenchmarks) ? typeof(BurstBenchmarks) : typeof(ParserBenchmarks);
        object bench = Activator.CreateInstance(type)!;
        var prop = type.GetProperties().Single(p => p.GetCustomAttribute<ParamsAllValuesAttribute>() is not null);
        prop.SetValue(bench, Enum.Parse(prop.PropertyType, param));
        Method<GlobalSetupAttribute>(type).Invoke(bench, null);
        try
        {
            var methods = type.GetMethods().Where(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null).ToArray();
            Assert.NotEmpty(methods);
            foreach (var m in methods)
            {
                // A delegate, not MethodInfo.Invoke: reflection would box the result and allocate itself.
                var run = m.CreateDelegate<Func<int>>(bench);
                for (int i = 0; i < 20; i++) run();
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 100; i++) run();
                Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
            }
        }
        finally { Method<GlobalCleanupAttribute>(type).Invoke(bench, null); }
    }

    static MethodInfo Method<T>(Type type) where T : Attribute => type.GetMethods().Single(m => m.GetCustomAttribute<T>() is not null);

    [Theory]
    [InlineData(nameof(TrafficMix.TcpEstablishedL2Dsr))]
    [InlineData(nameof(TrafficMix.TcpEstablishedL2DsrImix))]
    [InlineData(nameof(TrafficMix.TcpEstablishedIpip))]
    [InlineData(nameof(TrafficMix.SynFlood))]
    [InlineData(nameof(TrafficMix.Udp))]
    [InlineData(nameof(TrafficMix.Ipv6Tcp))]
    public void Benchmark_mix_forwards_every_frame_and_reset_restores_it(string mix)
    {
        using var rig = new BurstRig(Enum.Parse<TrafficMix>(mix));
        for (int run = 0; run < 3; run++) Assert.Equal(BurstRig.FramesPerRun, rig.Run());
        rig.Port.Reset(0, BurstRig.FramesPerRun);
        for (int i = 0; i < BurstRig.FramesPerRun; i++) Assert.True(rig.Port.IsPristine(i), $"frame {i} differs after Reset");
        if (mix == nameof(TrafficMix.SynFlood)) Assert.Equal(3 * BurstRig.FramesPerRun, rig.Counters.Get(Switchyard.Dataplane.Datapath.GlobalCounter.FlowInserts));
        else Assert.Equal(3 * BurstRig.FramesPerRun, rig.Counters.Get(Switchyard.Dataplane.Datapath.GlobalCounter.FlowHits));
    }
}
