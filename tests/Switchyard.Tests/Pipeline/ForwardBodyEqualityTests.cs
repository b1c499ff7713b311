using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Forwarding;
using Switchyard.Tests.Infrastructure;
using static Switchyard.Tests.Pipeline.PipelineHarness;

namespace Switchyard.Tests.Pipeline;

/// <summary>
/// Issue 14: the forwarding bodies compiled per (mode x family) write exactly the bytes of the plain body that
/// branches per packet. PipelineHarness compares the two on every frame any pipeline test sends; this corpus makes
/// sure every body runs, in bursts that mix bodies, next to answers (ICMP too-big) and drops.
/// </summary>
public sealed class ForwardBodyEqualityTests
{
    [Fact]
    public void Every_specialised_body_writes_what_the_plain_body_writes()
    {
        var frames = MixedCorpus();
        using var h = new PipelineHarness();
        var sent = h.Send(frames, now: 5);
        sent = sent.Concat(h.Send(frames, now: 6)).ToArray(); // again: now as pinned flows (flow-table hits)
        Assert.Equal(2 * frames.Count, h.TwinCompared);

        for (var b = ForwardBody.L2Dsr; b < ForwardBody.Plain; b++)
            Assert.True(h.Processor.BodyRuns(b) > 0, $"the corpus never ran the {b} body");
        Assert.Equal(0, h.Processor.BodyRuns(ForwardBody.Plain));
        // Forwarded, answered and dropped frames all occur (the comparison covers each kind).
        Assert.Contains(sent, s => !s.Dropped && s.Delta < 0);
        Assert.Contains(sent, s => !s.Dropped && s.Delta == 0);
        Assert.Contains(sent, s => s.Dropped);
        Assert.True(h.Counters.Get(Outcome.IcmpTooBigSent) > 0);
        Assert.True(h.Counters.Get(DropReason.EncapTooBigNoDf) > 0);
        h.AssertCounterInvariants();
    }

    [Fact]
    public void The_plain_body_alone_serves_every_frame_when_specialised_bodies_are_off()
    {
        var frames = MixedCorpus();
        using var specialised = new PipelineHarness(plainTwin: false);
        using var plain = new PipelineHarness(plainTwin: false, specialisedBodies: false);
        var expected = specialised.Send(frames, now: 5);
        var got = plain.Send(frames, now: 5);
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].OutPort, got[i].OutPort);
            Assert.Equal(expected[i].Delta, got[i].Delta);
            Assert.Equal(expected[i].OutLength, got[i].OutLength);
            Assert.Equal(expected[i].Frame, got[i].Frame);
        }
        for (var b = ForwardBody.L2Dsr; b < ForwardBody.Plain; b++) Assert.Equal(0, plain.Processor.BodyRuns(b));
        Assert.True(plain.Processor.BodyRuns(ForwardBody.Plain) > 0);
        Assert.Equal(0, specialised.Processor.BodyRuns(ForwardBody.Plain));
    }

    /// <summary>The first pass takes the common frames for the last VIP it found in one loop and the rest one by one
    /// (Classifier.ClassifyCommon): what a frame becomes must not depend on the frames around it. The corpus interleaves
    /// services (a new VIP every frame or two), families, tags, answers and drops; each frame sent alone, in a burst of
    /// one, must come out as it does in the full bursts, new and then pinned.</summary>
    [Fact]
    public void A_frame_comes_out_of_a_full_burst_as_it_does_alone()
    {
        var frames = MixedCorpus();
        using var bursts = new PipelineHarness(plainTwin: false);
        using var alone = new PipelineHarness(plainTwin: false);
        foreach (uint now in new uint[] { 5, 6 })
        {
            var expected = bursts.Send(frames, now);
            for (int i = 0; i < frames.Count; i++)
            {
                var got = alone.Send(frames[i], now);
                Assert.True(expected[i].OutPort == got.OutPort && expected[i].Delta == got.Delta && expected[i].OutLength == got.OutLength
                    && expected[i].Frame.AsSpan().SequenceEqual(got.Frame),
                    $"frame {i} at {now}: in a burst port {expected[i].OutPort}, delta {expected[i].Delta}, {Convert.ToHexString(expected[i].Frame)}; " +
                    $"alone port {got.OutPort}, delta {got.Delta}, {Convert.ToHexString(got.Frame)}");
            }
        }
        Assert.True(bursts.Counters.Get(Outcome.Forwarded) > 0);
        Assert.Equal(bursts.Counters.Get(Outcome.Forwarded), alone.Counters.Get(Outcome.Forwarded));
        Assert.Equal(bursts.Counters.Get(Outcome.IcmpTooBigSent), alone.Counters.Get(Outcome.IcmpTooBigSent));
    }

    [Theory]
    [InlineData(Dataplane.Control.ForwardingMode.L2Dsr, false, ForwardBody.L2Dsr)]
    [InlineData(Dataplane.Control.ForwardingMode.L2Dsr, true, ForwardBody.L2Dsr)]
    [InlineData(Dataplane.Control.ForwardingMode.Ipip, false, ForwardBody.Ipip4)]
    [InlineData(Dataplane.Control.ForwardingMode.Ipip, true, ForwardBody.Ipip6)]
    [InlineData(Dataplane.Control.ForwardingMode.Gue, false, ForwardBody.Gue4)]
    [InlineData(Dataplane.Control.ForwardingMode.Gue, true, ForwardBody.Gue6)]
    [InlineData(Dataplane.Control.ForwardingMode.Gre, false, ForwardBody.Gre4)]
    [InlineData(Dataplane.Control.ForwardingMode.Gre, true, ForwardBody.Gre6)]
    public void The_body_of_a_mode_and_family(Dataplane.Control.ForwardingMode mode, bool v6, ForwardBody body) =>
        Assert.Equal(body, Forwarder.BodyOf(mode, v6));
}
