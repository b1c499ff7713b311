using System.Text.Json;
using Switchyard.Dataplane.Datapath;

namespace Switchyard.Tests.Integration;

/// <summary>The counter invariants documented on <see cref="WorkerCounters"/>, checked on the counters JSON
/// (layout: src/Management/Host/CountersReport.cs) for the totals and for every worker.</summary>
public static class CountersInvariants
{
    public static void AssertHold(JsonElement counters)
    {
        var problems = new List<string>();
        Check("totals", counters.GetProperty("totals"), problems);
        int n = 0;
        foreach (var w in counters.GetProperty("workers").EnumerateArray())
            Check($"workers[{n++}]", w.GetProperty("counters"), problems);
        Assert.True(n > 0, "the counters JSON lists no worker");

        // Forwarded = sum over VIPs of packets = sum over backends of packets (one worker or many: totals).
        long forwarded = counters.GetProperty("totals").GetProperty("forwarded").GetInt64();
        long vips = counters.GetProperty("vips").EnumerateArray().Sum(v => v.GetProperty("packets").GetInt64());
        long backends = counters.GetProperty("backends").EnumerateArray().Sum(b => b.GetProperty("packets").GetInt64());
        if (vips != forwarded) problems.Add($"sum of VIP packets {vips} != forwarded {forwarded}");
        if (backends != forwarded) problems.Add($"sum of backend packets {backends} != forwarded {forwarded}");

        // Every drop reason the dataplane knows is in the report, by name.
        var drops = counters.GetProperty("totals").GetProperty("drops");
        for (var r = (DropReason)1; r < DropReason.Count; r++)
            if (!drops.TryGetProperty(r.ToString(), out _)) problems.Add($"drop reason {r} missing from the report");

        Assert.True(problems.Count == 0, "counter invariants broken:\n  " + string.Join("\n  ", problems) + "\n" + counters);
    }

    static void Check(string where, JsonElement c, List<string> problems)
    {
        long L(string name) => c.GetProperty(name).GetInt64();
        long rx = L("rxPackets"), tx = L("txPackets"), fwd = L("forwarded"), arp = L("arpReplied"), ndp = L("ndpReplied"),
            tooBig = L("icmpTooBigSent"), resets = L("joinReset") + L("flowReset"), dropped = L("dropped"),
            toKernel = L("toKernel"), fromKernel = L("fromKernel");
        var drops = c.GetProperty("drops");
        long sumDrops = drops.EnumerateObject().Sum(p => p.Value.GetInt64());
        long txFull = drops.GetProperty(nameof(DropReason.TxQueueFull)).GetInt64();
        // Frames handed to the kernel and then refused by the exception path's rate limit or ring (issue 12).
        long excDrops = drops.GetProperty(nameof(DropReason.ExceptionRateLimited)).GetInt64() + drops.GetProperty(nameof(DropReason.ExceptionQueueFull)).GetInt64();
        long answered = fwd + arp + ndp + tooBig + resets;
        if (rx != answered + toKernel + dropped)
            problems.Add($"{where}: rxPackets {rx} != forwarded {fwd} + arpReplied {arp} + ndpReplied {ndp} + icmpTooBigSent {tooBig} + joinReset/flowReset {resets} + toKernel {toKernel} + dropped {dropped}");
        if (dropped != sumDrops - txFull - excDrops)
            problems.Add($"{where}: dropped {dropped} != sum(drops) {sumDrops} - TxQueueFull {txFull} - exception-path drops {excDrops}");
        if (tx + txFull != answered + fromKernel)
            problems.Add($"{where}: txPackets {tx} + TxQueueFull {txFull} != forwarded + replies {answered} + fromKernel {fromKernel}");
    }
}
