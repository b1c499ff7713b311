using Switchyard.Dataplane.Datapath;
using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Pipeline;

/// <summary>
/// Floods of new 5-tuples at 10x the flow table (issue 15): the pins of SYNs and MP_JOIN SYNs live for the pool's
/// HandshakeTimeoutSeconds until the connection's first non-SYN segment, and the table evicts the entry that expires
/// soonest, so the flood's pins push each other out and every established flow keeps its pin (a hit, not a Maglev
/// miss). The same flood with the handshake timeout as long as the TCP idle timeout (what every pin had before)
/// evicts established flows: the test sees the difference.
/// </summary>
public sealed class FloodEvictionTests
{
    const int Table = 1024, Established = 128, Flood = 10 * Table;

    static string Flooder(int i) => $"10.{100 + (i >> 16 & 0x3f)}.{i >> 8 & 0xff}.{i & 0xff}";

    /// <summary>Established flows: SYN, then an ACK a second later (now the pin is an established flow's).</summary>
    static void Establish(Func<IReadOnlyList<byte[]>, uint, Sent[]> send, Func<int, TcpFlags, byte[]> frame)
    {
        send(Enumerable.Range(0, Established).Select(i => frame(i, TcpFlags.Syn)).ToList(), 1_000);
        send(Enumerable.Range(0, Established).Select(i => frame(i, TcpFlags.Ack)).ToList(), 2_000);
    }

    /// <summary>One ACK per established flow after the flood: with <paramref name="kept"/>, every one hits its pin;
    /// otherwise (the control) more than a quarter of them lost it and were steered by Maglev.</summary>
    static void AssertPinsKept(WorkerCounters c, Action<IReadOnlyList<byte[]>> send, Func<int, TcpFlags, byte[]> frame, bool kept)
    {
        long hits = c.Get(GlobalCounter.FlowHits), misses = c.Get(GlobalCounter.MaglevSteered);
        send(Enumerable.Range(0, Established).Select(i => frame(i, TcpFlags.Ack)).ToList());
        long missed = c.Get(GlobalCounter.MaglevSteered) - misses;
        if (kept)
        {
            Assert.Equal(0, missed);
            Assert.Equal(Established, c.Get(GlobalCounter.FlowHits) - hits);
        }
        else Assert.True(missed > Established / 4, $"only {missed} of {Established} established flows lost their pin");
    }

    [Theory]
    [InlineData(10, 0)]
    [InlineData(300, -1)] // handshake pins as long-lived as established ones: established flows are evicted
    public void A_syn_flood_at_ten_times_the_table_evicts_no_established_flow(int handshakeSeconds, int expectedMisses)
    {
        var o = PipelineHarness.DefaultOptions();
        o.Pools[0].HandshakeTimeoutSeconds = handshakeSeconds;
        using var h = new PipelineHarness(o, flowTableEntries: Table, plainTwin: false);
        byte[] Est(int i, TcpFlags f) => FrameBuilder.Ethernet(PipelineHarness.ClientMac, PipelineHarness.OutsideMac)
            .Ipv4($"198.51.100.{i + 1}", "192.0.2.100").Tcp((ushort)(40000 + i), 80, f).PadTo(60).Build();
        Establish((f, now) => h.Send(f, now), Est);

        var flood = Enumerable.Range(0, Flood).Select(i => FrameBuilder.Ethernet(PipelineHarness.ClientMac, PipelineHarness.OutsideMac)
            .Ipv4(Flooder(i), "192.0.2.100").Tcp((ushort)(1024 + i % 60000), 80, TcpFlags.Syn).PadTo(60).Build()).ToList();
        h.Send(flood, 3_000);
        Assert.True(h.Counters.Get(GlobalCounter.FlowEvictions) > Flood / 2, "the flood did not overflow the table");

        AssertPinsKept(h.Counters, f => h.Send(f, 4_000), Est, expectedMisses == 0);
        h.AssertCounterInvariants();
    }

    [Theory]
    [InlineData(10, 0)]
    [InlineData(300, -1)]
    public void A_join_flood_with_unique_tokens_evicts_no_established_flow(int handshakeSeconds, int expectedMisses)
    {
        using var h = new JoinHarness(edit: o => { foreach (var p in o.Pools) p.HandshakeTimeoutSeconds = handshakeSeconds; }, flowTableEntries: Table);
        byte[] Est(int i, TcpFlags f) => JoinHarness.Tcp(JoinHarness.Client(i + 1), (ushort)(40000 + i), JoinHarness.EncVip, 80, f);
        Establish((f, now) => h.Send(f, now), Est);

        var flood = Enumerable.Range(0, Flood).Select(i => JoinHarness.JoinSyn(Flooder(i), (ushort)(1024 + i % 60000), JoinHarness.EncVip,
            JoinHarness.Token(JoinHarness.Backends[i % JoinHarness.Backends.Length]))).ToList();
        h.Send(flood, 3_000);
        Assert.Equal(Flood, h.Counters.Get(GlobalCounter.JoinsByEncryptedToken)); // every join placed by its token
        Assert.True(h.Counters.Get(GlobalCounter.FlowEvictions) > Flood / 2, "the flood did not overflow the table");

        AssertPinsKept(h.Counters, f => h.Send(f, 4_000), Est, expectedMisses == 0);
        h.AssertCounterInvariants();
    }
}
