using System.Text.Json;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Integration;

namespace Switchyard.Tests.Perf;

/// <summary>
/// Issue 15: the real pktgen-dpdk drives the running appliance, briefly. `perf/pktgen/run.sh --smoke` starts
/// the appliance (Debug build next to the tests) as net_memif server on both ports and pktgen (built by
/// `./build.sh pktgen`; run.sh builds it through that target when it is missing) as client, once: the range
/// mixes est (a SYN pass, then ACKs), udp and tcp6, then one pcap holding mixgen's syn, imix, join-enc and
/// join-learned frames, a couple of thousand packets each. Asserted per mix, from pktgen's counts and the
/// appliance's counters copied after each mix: everything pktgen sent was received by the appliance,
/// nothing was dropped by it, everything it transmitted came back to pktgen's second port and what it
/// forwarded but could not transmit is counted (TxQueueFull: the memif ring back to pktgen was full);
/// each mix took its own path (pins and hits for est, the UDP and IPv6 VIPs, joins placed by encrypted and
/// learned tokens). After each mix, in the same window, a short latency phase (`SY_LATENCY=1`): pktgen's latency
/// packets, made from the single-packet template the mix script left (IPv4 UDP to udp4; IPv6 UDP to udp6 for tcp6),
/// must reach their VIP (no NotForVip) and come back timestamped. No speed is asserted.
/// </summary>
[Trait("Category", "Integration")]
[Collection(ApplianceCollection.Name)]
public class PktgenSmokeTests
{
    const int RangeCount = 2048, RangeFlows = 64;
    // mixgen --flows 64 --rounds 4: 256 frames per pcap mix; join-enc: 256 joins; join-learned: 64
    // connections (SYN, third ACK) then 128 joins.
    const int PcapFrames = 4 * 256, EncJoins = 256, LearnedJoins = 128, Connections = 64;

    [Fact]
    public void Every_mix_is_sent_received_forwarded_and_counted()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "switchyard.dll");
        Assert.True(File.Exists(dll), $"switchyard.dll not found next to the tests ({dll})");
        var dir = Directory.CreateTempSubdirectory("pg-smoke-");
        try
        {
            string prefix = "pg" + Random.Shared.Next(1_000_000);
            var r = ProcessRunner.Run("bash", [PerfPaths.Perf("pktgen", "run.sh"), "--smoke", "--no-build", "--prefix", prefix,
                "--work", dir.FullName, "--switchyard", dll], TimeSpan.FromMinutes(5), workingDirectory: PerfPaths.Root);
            string what = r.Describe("perf/pktgen/run.sh --smoke");
            Assert.True(r.ExitCode == 0, what);
            var results = File.ReadAllLines(Path.Combine(dir.FullName, "res-smoke.txt"));
            Assert.DoesNotContain(results, l => l.StartsWith("error=", StringComparison.Ordinal));

            Dictionary<string, long> Pktgen(string mix)
            {
                var line = results.FirstOrDefault(l => l.StartsWith($"mix={mix} ", StringComparison.Ordinal));
                Assert.True(line is not null, $"pktgen reported nothing for {mix}\n{string.Join('\n', results)}\n{what}");
                return line!.Split(' ').Select(x => x.Split('=', 2)).Where(x => x[0] != "mix" && x[0] != "mode")
                    .ToDictionary(x => x[0], x => long.Parse(x[1]));
            }

            JsonElement previous = default;
            bool first = true;
            foreach (var (mix, expectSent) in new[] { ("est", RangeCount), ("udp", RangeCount), ("tcp6", RangeCount), ("pcap", PcapFrames) })
            {
                var kv = Pktgen(mix);
                long sent = kv["sent"], received = kv["received"], latSent = kv["lat_sent"], latPkts = kv["lat_pkts"];
                long sentInMix = sent;
                if (mix == "est")
                {
                    var open = Pktgen("est-open");
                    Assert.Equal(RangeFlows, open["sent"]);
                    sentInMix += open["sent"];
                    received += open["received"];
                }
                Assert.True(latSent > 0, $"{mix}: no latency phase (SY_LATENCY=1)\n{what}");
                Assert.Equal(expectSent + latSent, sent);
                string file = Path.Combine(dir.FullName, $"counters-{mix}.json");
                Assert.True(File.Exists(file), $"no counters copied after {mix}\n{what}");
                var now = JsonDocument.Parse(File.ReadAllText(file)).RootElement.Clone();
                long D(string counter) => Total(now, counter) - (first ? 0 : Total(previous, counter));
                long Drop(string reason) => Drops(now, reason) - (first ? 0 : Drops(previous, reason));
                long Vip(string name) => VipPackets(now, name) - (first ? 0 : VipPackets(previous, name));
                string ctx = $"{mix}: pktgen sent {sentInMix}, received {received}, latency packets back {latPkts} (skipped {kv["lat_skipped"]}); "
                    + $"appliance rx {D("rxPackets")}, forwarded {D("forwarded")}, "
                    + $"tx {D("txPackets")}, dropped {D("dropped")}, TxQueueFull {Drop("TxQueueFull")}, NotForVip {Drop("NotForVip")}\n{File.ReadAllText(file)}";

                Assert.True(sentInMix == D("rxPackets"), "the appliance did not receive what pktgen sent: " + ctx);
                Assert.True(D("dropped") == 0 && D("joinReset") == 0 && D("flowReset") == 0, "the appliance dropped or reset: " + ctx);
                Assert.True(D("forwarded") == D("rxPackets"), "not everything received was forwarded: " + ctx);
                // Forwarded = transmitted + TxQueueFull; everything transmitted came back to pktgen's port 1.
                Assert.True(D("forwarded") == D("txPackets") + Drop("TxQueueFull"), "forwarded frames unaccounted for: " + ctx);
                Assert.True(received == D("txPackets"), "pktgen's port 1 did not receive what the appliance transmitted: " + ctx);
                Assert.True(received > 0, "nothing came back: " + ctx);
                // The latency phase: every packet to the template's VIP (none NotForVip), and pktgen found its
                // timestamps in what came back (the first latency packet goes out with the phase's first burst).
                Assert.True(Drop("NotForVip") == 0, "packets not for a VIP (the latency template?): " + ctx);
                Assert.True(latPkts > 0, "no latency packet came back: " + ctx);
                Assert.True(Vip(mix == "tcp6" ? "udp6" : "udp4") == (mix == "udp" ? RangeCount : 0) + latSent,
                    "the latency phase's packets did not all reach the template's VIP: " + ctx);

                switch (mix)
                {
                    case "est": // the SYN pass pins the flows, the ACKs hit them (the latency phase: one UDP flow)
                        Assert.True(D("flowInserts") == RangeFlows + 1 && D("flowHits") == RangeCount + latSent - 1, ctx);
                        Assert.True(Vip("tcp4") == sentInMix - latSent, ctx);
                        break;
                    case "udp":
                        Assert.True(D("flowInserts") == RangeFlows + 1, ctx);
                        break;
                    case "tcp6": // ACKs on flows never opened: Maglev, unpinned
                        Assert.True(Vip("tcp6") == RangeCount && D("maglevSteered") == RangeCount, ctx);
                        break;
                    case "pcap": // syn + imix + join-enc + join-learned
                        Assert.True(D("joinsByEncryptedToken") == EncJoins, ctx);
                        Assert.True(D("joinsByLearnedToken") == LearnedJoins && D("tokensLearned") == Connections, ctx);
                        Assert.True(D("joinsUnplaceable") == 0 && Vip("tcp4") == PcapFrames, ctx);
                        break;
                }
                previous = now;
                first = false;
            }
            // The appliance stopped cleanly after the run (final counters written at exit).
            var final = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.FullName, "counters-smoke.json"))).RootElement;
            Assert.True(final.GetProperty("final").GetBoolean(), "the appliance did not write its final counters\n" + what);
            Assert.Equal(Total(previous, "rxPackets"), Total(final, "rxPackets"));
        }
        finally
        {
            try { dir.Delete(recursive: true); } catch (IOException) { }
        }
    }

    static long Total(JsonElement counters, string name) => counters.GetProperty("totals").GetProperty(name).GetInt64();
    static long Drops(JsonElement counters, string reason) => counters.GetProperty("totals").GetProperty("drops").GetProperty(reason).GetInt64();
    static long VipPackets(JsonElement counters, string vip) =>
        counters.GetProperty("vips").EnumerateArray().Single(v => v.GetProperty("name").GetString() == vip).GetProperty("packets").GetInt64();
}
