using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Tests.Infrastructure;
using static Switchyard.Tests.Pipeline.PipelineHarness;

namespace Switchyard.Tests.Pipeline;

/// <summary>
/// The packet path's stage stamps (issue 14, Run.StageStampsFile): in a stamped burst the processor adds
/// cycles to Parse, Token, Steer and Rewrite; outside one it adds nothing; and stamping changes no output
/// byte (the same mixed corpus through a stamped and an unstamped processor).
/// </summary>
public sealed class StageStampTests
{
    const string Vip = "192.0.2.100", Vip6 = "2001:db8::100";

    static List<byte[]> Corpus()
    {
        var frames = new List<byte[]>();
        for (int i = 0; i < 100; i++)
        {
            string src = $"198.51.100.{i + 1}";
            ushort sport = (ushort)(20000 + i);
            frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv4(src, Vip).Tcp(sport, 80, i % 3 == 0 ? TcpFlags.Syn : TcpFlags.Ack).PadTo(60).Build());
            frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv4(src, Vip).Tcp(sport, (ushort)(81 + i % 3), TcpFlags.Ack).Payload(new byte[i]).PadTo(60).Build());
            frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv4(src, Vip).Udp(sport, 53).Payload(new byte[8]).PadTo(60).Build());
            frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv6($"2001:db8:c::{i + 1:x}", Vip6).Tcp(sport, (ushort)(80 + i % 4), TcpFlags.Syn).Build());
            if (i % 10 == 0) frames.Add(new byte[13]); // a runt
        }
        return frames;
    }

    [Fact]
    public void Stamped_bursts_cover_the_passes_and_change_no_output_byte()
    {
        var frames = Corpus();
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
