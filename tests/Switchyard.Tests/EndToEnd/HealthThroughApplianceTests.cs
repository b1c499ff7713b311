using System.Diagnostics;
using System.Text.Json;
using Switchyard.Demo;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Integration;
using Xunit.Abstractions;

namespace Switchyard.Tests.EndToEnd;

/// <summary>
/// Health checks inside the real appliance: its management side probes the backends over the topology's management
/// leg, and a transition goes through the control plane into the dataplane (the same change path as `switchyard ctl`).
/// Needs root: without it this FAILS, never skips.
/// </summary>
[Trait("Category", "EndToEnd")]
[Collection(ApplianceCollection.Name)]
public sealed class HealthThroughApplianceTests(ITestOutputHelper output)
{
    [Fact]
    public void A_backend_whose_listener_stops_is_taken_out_by_its_tcp_check_and_comes_back_when_it_listens_again()
    {
        Namespaces.RequireRoot();
        string prefix;
        using (var t = Topology.Create(new TopologySpec
               { Prefix = Namespaces.NewPrefix(), Clients = 1, Backends = 3, IPv6 = false, ManagementLeg = true }))
        {
            prefix = t.Prefix;
            var dir = Directory.CreateTempSubdirectory("sy-health-").FullName;
            var servers = new BackgroundProcess?[t.Backends.Count];
            try
            {
                string socket = Path.Combine(dir, "ctl.sock");
                string configPath = Path.Combine(dir, "appliance.json");
                File.WriteAllText(configPath, ConfigJson(t, socket));
                for (int i = 0; i < servers.Length; i++) servers[i] = StartServer(t, i);
                using var appliance = ApplianceProcess.Start(t.ApplianceNamespace, configPath, [], output.WriteLine);
                var ctl = new SwitchyardCtl(socket, output.WriteLine);

                WaitForState(ctl, "b1", "active");
                var before = RunClients(t, "every backend up");
                Assert.True(before.GetValueOrDefault("b1") > 0, "b1 takes new connections while it is up");

                // The listener goes away: connects are refused, Fall=2 failures later the check says down, and the
                // control plane takes b1 out of the Maglev table.
                servers[0]!.Dispose();
                servers[0] = null;
                WaitForState(ctl, "b1", "down");
                var whileDown = RunClients(t, "b1 down");
                Assert.False(whileDown.ContainsKey("b1"), "no new connection reaches the backend that is down");

                // It listens again: Rise=2 successes later it is back in the table.
                servers[0] = StartServer(t, 0);
                WaitForState(ctl, "b1", "active");
                var after = RunClients(t, "b1 up again");
                Assert.True(after.GetValueOrDefault("b1") > 0, "b1 takes new connections again");

                var counters = appliance.Stop();
                CountersInvariants.AssertHold(counters);
                var log = appliance.StdErr + appliance.StdOut;
                Assert.Contains("health web/b1 down", log);
                Assert.Contains("health web/b1 up", log);
            }
            finally
            {
                foreach (var s in servers) s?.Dispose();
                Directory.Delete(dir, recursive: true);
            }
        }
        Namespaces.AssertNoneWithPrefix(prefix);
    }

    static BackgroundProcess StartServer(Topology t, int i) =>
        PeerProcess.StartServer(t, t.Backends[i].Namespace, $"b{i + 1}", 80, udp: false, "0.0.0.0");

    Dictionary<string, int> RunClients(Topology t, string when)
    {
        var r = PeerProcess.RunClient(t.Clients[0].Namespace, t.VipV4.ToString(), 80, 60, 10, 1024);
        Assert.True(r.Process.ExitCode == 0 && r.Succeeded == 60 && r.Failed == 0, $"{when}: every connection succeeds\n{r}");
        output.WriteLine($"{when}: {string.Join(", ", r.Backends.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}"))}");
        return new Dictionary<string, int>(r.Backends);
    }

    void WaitForState(SwitchyardCtl ctl, string backend, string state)
    {
        var sw = Stopwatch.StartNew();
        string seen = "";
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            foreach (var b in ctl.Counters().GetProperty("backends").EnumerateArray())
                if (b.GetProperty("name").GetString() == backend) seen = b.GetProperty("state").GetString()!;
            if (seen == state)
            {
                output.WriteLine($"{backend} {state} after {sw.ElapsedMilliseconds} ms");
                return;
            }
            Thread.Sleep(100);
        }
        Assert.Fail($"{backend} did not become {state} within 30 s (last seen: {seen})\n{ctl.Transcript}");
    }

    static string ConfigJson(Topology t, string socket) => JsonSerializer.Serialize(new
    {
        Eal = EndToEndConfig.Eal(t),
        Ports = EndToEndConfig.LanPort(t),
        Workers = EndToEndConfig.OneWorker(),
        Pools = new[]
        {
            new
            {
                Name = "web", Forwarding = "l2dsr",
                HealthCheck = new { Type = "tcp", Port = 80, IntervalMs = 200, TimeoutMs = 150, Rise = 2, Fall = 2 },
                Backends = t.Backends.Select((b, i) => new { Name = $"b{i + 1}", Address = b.V4!.ToString(), b.Mac, Weight = 1 }).ToArray(),
            },
        },
        Vips = new[] { new { Name = "tcp-v4", Address = t.VipV4.ToString(), Port = 80, Protocol = "tcp", Pool = "web" } },
        Dataplane = new { FlowTableEntries = 65536 },
        Control = new { Socket = socket, WatchConfigFile = false },
    }, new JsonSerializerOptions { WriteIndented = true });
}
