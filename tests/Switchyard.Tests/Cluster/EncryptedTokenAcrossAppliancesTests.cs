using Switchyard.Dataplane.Datapath;
using Switchyard.Tests.Pipeline;
using static Switchyard.Tests.Pipeline.JoinHarness;

namespace Switchyard.Tests.Cluster;

/// <summary>
/// Issue 12, "Joins": with joins spread over appliances, `encrypted-token` places every join. Three appliances (three
/// independent packet paths: own flow tables, own learned-token tables, nothing exchanged) with the same configuration;
/// each connection's first subflow reaches one appliance, its join another, as ECMP does with a second client address.
/// The join's token decrypts to the server id of the backend that minted it, on whichever appliance it reaches. The
/// real-kernel cluster runs (ClusterTokenSharingTests) cover `learned-token`, which stock Linux backends can serve;
/// routable tokens need backends that choose their MPTCP key (the path manager's minting), which stock Linux does not.
/// </summary>
public sealed class EncryptedTokenAcrossAppliancesTests
{
    [Fact]
    public void Every_join_reaching_another_appliance_than_its_first_subflow_is_placed_on_the_connections_backend()
    {
        var appliances = new[] { new JoinHarness(), new JoinHarness(), new JoinHarness() };
        try
        {
            const int Connections = 300;
            int placed = 0;
            for (int i = 0; i < Connections; i++)
            {
                var first = appliances[i % 3];
                var other = appliances[(i + 1 + i / 3 % 2) % 3]; // never the first one
                Assert.NotSame(first, other);
                // The first subflow: steered by the flow hash (Maglev), pinned on its appliance only.
                string client = Client(i), second = Client(i + 1000);
                ushort sport = (ushort)(20000 + i);
                string? backend = first.BackendOf(first.Send(CapableSyn(client, sport, EncVip)));
                Assert.NotNull(backend);
                // The backend mints the connection's token with its server id; the join comes from the client's other
                // address, on another 5-tuple, to another appliance that has seen nothing of this connection.
                var join = other.Send(JoinSyn(second, (ushort)(30000 + i), EncVip, Token(backend!, keyId: i % 3)));
                if (other.BackendOf(join) == backend) placed++;
            }
            Assert.Equal(Connections, placed);
            Assert.Equal(Connections, appliances.Sum(a => a.Counters.Get(GlobalCounter.JoinsByEncryptedToken)));
            Assert.All(appliances, a =>
            {
                Assert.Equal(0, a.Counters.Get(GlobalCounter.JoinsUnplaceable));
                Assert.True(a.Counters.Get(GlobalCounter.JoinsByEncryptedToken) > 0);
                a.AssertCounterInvariants();
            });
        }
        finally
        {
            foreach (var a in appliances) a.Dispose();
        }
    }
}
