using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Tests.Infrastructure;
using static Switchyard.Tests.Pipeline.PipelineHarness;

namespace Switchyard.Tests.Pipeline;

/// <summary>
/// The packet path's stage stamps (issue 14, Run.StageStampsFile): in a stamped burst the processor adds
/// cycles to Parse, Token, Steer and Rewrite; outside one it adds nothing; and stamping changes no output
/// byte (<see cref="PipelineHarness.MixedCorpus"/> through a stamped and an unstamped processor).
/// </summary>
public sealed class StageStampTests
{
    [Fact]
    public void Stamped_bursts_cover_the_passes_and_change_no_output_byte()
    {
        var frames = MixedCorpus();
        var plain = new PipelineHarness();
        var stamped = new PipelineHarness();
        var budget = new StageBudget(1);
        stamped.Processor.Budget = budget;

        var expected = plain.Send(frames);
        budget.Active = true;
        var got = stamped.Send(frames);
        budget.Active = false;
        budget.Commit(frames.Count);

        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].OutPort, got[i].OutPort);
            Assert.Equal(expected[i].Delta, got[i].Delta);
            Assert.Equal(expected[i].OutLength, got[i].OutLength);
            Assert.Equal(expected[i].Frame, got[i].Frame);
        }
        Assert.Contains(expected, s => !s.Dropped);
        Assert.True(budget.Cycles(Stage.Parse) > 0);
        Assert.True(budget.Cycles(Stage.Steer) > 0);
        Assert.True(budget.Cycles(Stage.Rewrite) > 0);
        Assert.True(budget.Cycles(Stage.Token) > 0); // two back-to-back stamps at least

        // Outside a stamped burst nothing is added.
        long parse = budget.Cycles(Stage.Parse);
        stamped.Send(frames);
        budget.Commit(frames.Count);
        Assert.Equal(parse, budget.Cycles(Stage.Parse));
        stamped.AssertCounterInvariants();
    }
}
