using System.Text.Json;
using Switchyard.Demo;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Integration;
using Xunit.Abstractions;

namespace Switchyard.Tests.EndToEnd;

/// <summary>
/// Real Linux TCP and UDP clients and servers in network namespaces, the real appliance in the
/// middle on net_af_packet (L2 direct server return). Needs root: without it these FAIL, never skip.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class TcpThroughApplianceTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Hundreds_of_tcp_connections_complete_with_the_right_bytes_and_spread_over_backends_by_weight()
    {
        Namespaces.RequireRoot();
        int[] weights = [1, 1, 2];
        string prefix;
        using (var t = Namespaces.CreateTopology(clients: 2, backends: 3, ipv6: true))
        {
            prefix = t.Prefix;
            var dir = Directory.CreateTempSubdirectory("sy-e2e-").FullName;
            try
            {
                var config = EndToEndConfig.Write(t, weights, dir);
                for (int i = 0; i < t.Backends.Count; i++)
                    PeerProcess.StartServer(t, t.Backends[i].Namespace, $"b{i + 1}", 80, udp: false, "0.0.0.0", "::");
                using var appliance = ApplianceProcess.Start(t.ApplianceNamespace, config, [], output.WriteLine);

                // 300 over IPv4 from one client and 300 over IPv6 from the other, at the same time.
                var v4 = Task.Run(() => PeerProcess.RunClient(t.Clients[0].Namespace, t.VipV4.ToString(), 80, 300, 50, 16_384));
                var v6 = Task.Run(() => PeerProcess.RunClient(t.Clients[1].Namespace, t.VipV6!.ToString(), 80, 300, 50, 16_384));
                var runs = await Task.WhenAll(v4, v6);
                var counters = appliance.Stop();
                output.WriteLine(counters.GetProperty("totals").ToString());

                foreach (var r in runs)
                {
                    Assert.True(r.Process.ExitCode == 0 && r.Succeeded == 300 && r.Failed == 0, r.ToString());
                }
                var perBackend = new Dictionary<string, int>();
                foreach (var r in runs) foreach (var (k, v) in r.Backends) perBackend[k] = perBackend.GetValueOrDefault(k) + v;
                int total = perBackend.Values.Sum();
                Assert.Equal(600, total);
                double weightSum = weights.Sum();
                for (int i = 0; i < weights.Length; i++)
                {
                    double share = perBackend.GetValueOrDefault($"b{i + 1}") / (double)total;
                    output.WriteLine($"b{i + 1}: weight {weights[i]}, {perBackend.GetValueOrDefault($"b{i + 1}")} connections ({share:P1})");
                    // 600 connections: one binomial standard deviation is at most ~2 points; allow 7.
                    Assert.InRange(share, weights[i] / weightSum - 0.07, weights[i] / weightSum + 0.07);
                }

                // What the clients saw is what the appliance pinned: one new flow per connection, on that backend.
                foreach (var be in counters.GetProperty("backends").EnumerateArray())
                {
                    string name = be.GetProperty("name").GetString()!;
                    Assert.Equal(perBackend.GetValueOrDefault(name), be.GetProperty("newFlows").GetInt64());
                }
                var totals = counters.GetProperty("totals");
                Assert.Equal(0, totals.GetProperty("drops").GetProperty("NoBackend").GetInt64());
                Assert.Equal(0, totals.GetProperty("drops").GetProperty("TxQueueFull").GetInt64());
                Assert.True(totals.GetProperty("arpReplied").GetInt64() >= 1, "the client resolved the VIP through the appliance's ARP");
                Assert.True(totals.GetProperty("ndpReplied").GetInt64() >= 1, "the client resolved the IPv6 VIP through the appliance's NDP");
                CountersInvariants.AssertHold(counters);
            }
            finally { Directory.Delete(dir, recursive: true); }
        }
        // The appliance, the peers and every namespace are gone.
        Namespaces.AssertNoneWithPrefix(prefix);
    }

    [Fact]
    public void Udp_datagrams_reach_a_backend_and_the_answers_come_back_from_the_vip()
    {
        Namespaces.RequireRoot();
        using var t = Namespaces.CreateTopology(clients: 1, backends: 2, ipv6: false);
        var dir = Directory.CreateTempSubdirectory("sy-e2e-").FullName;
        try
        {
            var config = EndToEndConfig.Write(t, [1, 1], dir, udpPort: 5353);
            for (int i = 0; i < t.Backends.Count; i++)
                PeerProcess.StartServer(t, t.Backends[i].Namespace, $"b{i + 1}", 5353, udp: true, t.VipV4.ToString());
            using var appliance = ApplianceProcess.Start(t.ApplianceNamespace, config, [], output.WriteLine);
            var r = PeerProcess.RunClient(t.Clients[0].Namespace, t.VipV4.ToString(), 5353, 200, 20, 512, udp: true);
            var counters = appliance.Stop();
            Assert.True(r.Process.ExitCode == 0 && r.Succeeded == 200, r.ToString());
            Assert.Equal(2, r.Backends.Count); // 200 distinct 5-tuples hash onto both backends
            CountersInvariants.AssertHold(counters);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
