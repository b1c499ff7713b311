using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Tests.Pipeline;
using static Switchyard.Tests.Pipeline.JoinHarness;

namespace Switchyard.Tests.Control;

/// <summary>MP_JOINs of existing connections still reach a draining backend (every join mode); a disabled one gets none.</summary>
public class DrainJoinTests
{
    static void Publish(JoinHarness h, string backend, BackendState state) =>
        h.Snapshots.PublishUnsynchronized(h.Compiler.Compile(h.Options, new Dictionary<string, ulong>(), null, (_, b) => b == backend ? state : BackendState.Active));

    [Fact]
    public void Joins_by_encrypted_token_learned_token_and_announced_port_reach_a_draining_backend()
    {
        using var h = new JoinHarness();
        // A connection to m2 opened before the drain: learned token.
        const ulong serverKey = 0x0A0B0C0D01020304;
        ushort sp = 41000;
        string learnedOn;
        for (;; sp++)
        {
            var s = h.Send([CapableSyn(Client(7), sp, LearnVip), ThirdAck(Client(7), sp, LearnVip, 0x1111_2222_3333_4444, serverKey)]);
            learnedOn = h.BackendOf(s[0])!;
            if (learnedOn == "m2") break;
        }
        Publish(h, "m2", BackendState.Draining);
        int m2 = Array.FindIndex(h.Snapshot.Backends, b => b.Name == "m2");
        Assert.All(h.Snapshot.Pools, p => Assert.DoesNotContain(m2, p.Maglev));

        Assert.Equal("m2", h.BackendOf(h.Send(JoinSyn(Client(8), 42000, EncVip, Token("m2")))));
        Assert.Equal("m2", h.BackendOf(h.Send(JoinSyn(Client(8), 42001, LearnVip, Dataplane.Datapath.Steering.Tokens.TokenLearning.Token(serverKey)))));
        Assert.Equal("m2", h.BackendOf(h.Send(JoinSyn(Client(8), 42002, AnnVip, 0x1234, dport: AnnouncedPortOf("m2")))));
        // The initial subflow's own segments keep going to m2 too.
        Assert.Equal("m2", h.BackendOf(h.Send(Data(Client(7), sp, LearnVip))));
        Assert.Equal(0, h.Counters.Get(GlobalCounter.JoinsUnplaceable));

        // Disabled: joins for m2 are unplaceable (RST), never sent to another backend.
        Publish(h, "m2", BackendState.Disabled);
        var rst = h.Send(JoinSyn(Client(9), 43000, EncVip, Token("m2")));
        Assert.Equal(Outside, rst.OutPort);
        Assert.Equal(1, h.Counters.Get(GlobalCounter.JoinsUnplaceable));
        h.AssertCounterInvariants();
    }
}
