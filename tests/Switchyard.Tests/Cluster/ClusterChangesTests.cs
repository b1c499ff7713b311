using Switchyard.Demo;
using Switchyard.Tests.Integration;
using Xunit.Abstractions;

namespace Switchyard.Tests.Cluster;

/// <summary>
/// Three appliances behind a BGP-fed ECMP router, under load (long-lived TCP over IPv4 and IPv6 and MPTCP streams
/// that verify every echoed byte, plus a steady arrival of new connections): ECMP spreads the flows over every
/// appliance; then an appliance is drained and undrained, stopped with SIGTERM (withdraw, hold-down, stop), added
/// back, killed with SIGKILL (the routers notice at the BGP hold time) and added back. With the backend set unchanged
/// Maglev sends every moved flow to the backend it had, so no established connection may break and no new one may
/// fail. The time from each event to the router's change and to the traffic moving is printed.
/// </summary>
[Trait("Category", "EndToEnd")]
[Collection(ApplianceCollection.Name)]
public sealed class ClusterChangesTests(ITestOutputHelper output)
{
    [Fact]
    public void Appliances_join_drain_stop_crash_and_return_under_load_without_breaking_a_connection()
    {
        using var c = ClusterHarness.Create(output, appliances: 3, backends: 3);
        var result = ClusterScenario.Run(c.Topology, c.PeerDll, m => output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {m}"), full: true);
        output.WriteLine(result.Summary());

        // ECMP over every appliance: each received a share of the flows before the changes.
        Assert.All(result.ApplianceRx, kv => Assert.True(kv.Value > 100, $"appliance {kv.Key} got {kv.Value} frames: ECMP did not spread the flows\n{result.Summary()}"));
        Assert.Equal(6, result.Events.Count);
        Assert.All(result.Events, e =>
        {
            Assert.True(e.Broken == 0, $"{e.Name}: {e.Broken} broken: {e.Detail}\n{result.Summary()}");
            Assert.True(e.TrafficMovedMs >= 0, $"{e.Name}: traffic did not move\n{result.Summary()}");
        });
        Assert.True(result.Ok, result.Summary());
        Assert.Equal(16, result.Connections);
    }
}
