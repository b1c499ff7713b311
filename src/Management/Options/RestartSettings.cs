namespace Switchyard.Management.Options;

/// <summary>
/// The settings a running appliance cannot change (they size or start DPDK, ports, workers and tables):
/// a reload or live change that alters one is refused with its path and "requires a restart".
/// </summary>
public static class RestartSettings
{
    /// <summary>The paths of the restart-only settings that differ between <paramref name="now"/> and <paramref name="next"/>.</summary>
    public static List<string> Differences(ApplianceOptions now, ApplianceOptions next)
    {
        var paths = new List<string>();
        void Check(string path, bool same) { if (!same) paths.Add(path); }
        Check("Eal", Same(now.Eal, next.Eal));
        Check("Ports", SameItems(now.Ports, next.Ports, Same));
        Check("Workers", SameItems(now.Workers, next.Workers, Same));
        Check("Cores", now.Cores.SequenceEqual(next.Cores));
        Check("Dataplane", Same(now.Dataplane, next.Dataplane));
        Check("Mptcp.LearnedTokenCapacity", now.Mptcp.LearnedTokenCapacity == next.Mptcp.LearnedTokenCapacity);
        Check("Run", Same(now.Run, next.Run));
        Check("Demo", Same(now.Demo, next.Demo));
        Check("Control.Socket", now.Control.Socket == next.Control.Socket);
        // Issue 12: the speaker, its neighbours and the tap are set up once (MinHealthyBackends changes live:
        // the announcer reads the running configuration).
        Check("Bgp", JsonEq(WithMin(now.Bgp, next.Bgp.MinHealthyBackends), next.Bgp));
        Check("ExceptionPath", JsonEq(now.ExceptionPath, next.ExceptionPath));
        Check("Cluster", JsonEq(now.Cluster, next.Cluster)); // the token exchange's socket, key and queues are set up once
        Check("Dataplane.IdleBackoffMicroseconds", now.Dataplane.IdleBackoffMicroseconds == next.Dataplane.IdleBackoffMicroseconds
            && now.Dataplane.IdleBackoffPolls == next.Dataplane.IdleBackoffPolls);
        return paths;
    }

    static BgpOptions WithMin(BgpOptions b, int min) { var c = b.Copy(); c.MinHealthyBackends = min; return c; }

    static bool JsonEq<T>(T a, T b) => System.Text.Json.JsonSerializer.Serialize(a) == System.Text.Json.JsonSerializer.Serialize(b);

    static bool SameItems<T>(T[] a, T[] b, Func<T, T, bool> same) => a.Length == b.Length && a.Zip(b).All(x => same(x.First, x.Second));

    static bool Same(EalOptions a, EalOptions b) =>
        a.Args.SequenceEqual(b.Args) && a.Vdevs.SequenceEqual(b.Vdevs) && a.Allow.SequenceEqual(b.Allow)
        && (a.FilePrefix, a.MemoryMb, a.Hugepages, a.Lcores) == (b.FilePrefix, b.MemoryMb, b.Hugepages, b.Lcores);

    static bool Same(PortOptions a, PortOptions b) =>
        a.Addresses.SequenceEqual(b.Addresses)
        && (a.Name, a.Device, a.RxQueues, a.TxQueues, a.RxDescriptors, a.TxDescriptors, a.Mtu, a.Mac, a.GatewayMac, a.Promiscuous)
        == (b.Name, b.Device, b.RxQueues, b.TxQueues, b.RxDescriptors, b.TxDescriptors, b.Mtu, b.Mac, b.GatewayMac, b.Promiscuous);

    static bool Same(WorkerOptions a, WorkerOptions b) =>
        a.Core == b.Core && SameItems(a.Queues, b.Queues, (x, y) => (x.Port, x.Queue) == (y.Port, y.Queue));

    static bool Same(DataplaneOptions a, DataplaneOptions b) =>
        (a.FlowTableEntries, a.MaxBackends, a.MaxVips, a.FlowHashSeed, a.MempoolMbufs, a.MbufCacheSize, a.FloodGuardNewFlowsPerSecond, a.SpecialisedBodies)
        == (b.FlowTableEntries, b.MaxBackends, b.MaxVips, b.FlowHashSeed, b.MempoolMbufs, b.MbufCacheSize, b.FloodGuardNewFlowsPerSecond, b.SpecialisedBodies);

    static bool Same(RunOptions a, RunOptions b) =>
        (a.DurationSeconds, a.StopAfterIdleMilliseconds, a.CountersFile, a.CountersIntervalSeconds)
        == (b.DurationSeconds, b.StopAfterIdleMilliseconds, b.CountersFile, b.CountersIntervalSeconds)
        && (a.StageStampsFile, a.StageStampsEvery, a.ForwardOnly, a.ForwardOnlyPort)
        == (b.StageStampsFile, b.StageStampsEvery, b.ForwardOnly, b.ForwardOnlyPort);

    static bool Same(DemoOptions a, DemoOptions b) =>
        (a.Enabled, a.Prefix, a.Clients, a.Connections, a.Concurrency, a.BytesPerConnection)
        == (b.Enabled, b.Prefix, b.Clients, b.Connections, b.Concurrency, b.BytesPerConnection);
}
