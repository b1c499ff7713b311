using System.Diagnostics;
using Switchyard.Benchmarks;
if (args[0] == "thp") {
  unsafe { var p = Switchyard.Dataplane.Datapath.Steering.TableMemory.Allocate(16<<20, 64); Console.WriteLine((nint)p); }
  Console.WriteLine(File.ReadAllLines("/proc/self/smaps_rollup").First(l => l.Contains("AnonHuge"))); return;
}
if (args[0] == "tok") {
  var rng = new Random(1); byte[] k0 = new byte[16], k1 = new byte[16]; rng.NextBytes(k0); rng.NextBytes(k1);
  var keys = new Switchyard.Dataplane.Datapath.Steering.Tokens.TokenKeys(10, (0, k0), (1, k1));
  const int N = 4096; var toks = new uint[N]; for (int i = 0; i < N; i++) toks[i] = ((uint)rng.Next() & 0x3FFF_FFFF) | (uint)rng.Next(2) << 30;
  var ids = new uint[N]; var ok = new byte[N]; int batch = int.Parse(args[1]);
  double best = 1e9;
  for (int rep = 0; rep < 3000; rep++) {
    long t0 = Stopwatch.GetTimestamp();
    for (int i = 0; i < N; i += batch) Switchyard.Dataplane.Datapath.Steering.Tokens.TokenCipher.DecryptServerIds(toks.AsSpan(i, batch), ids.AsSpan(i, batch), ok.AsSpan(i, batch), keys);
    double ns = Stopwatch.GetElapsedTime(t0).TotalNanoseconds / N; if (ns < best) best = ns;
  }
  double ghz = args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 2.445; // core clock, GHz
  Console.WriteLine($"batched {batch} ({Switchyard.Dataplane.Datapath.Steering.Tokens.TokenCipher.BatchedKernelName}): min {best:F2} ns/token = {best*ghz:F1} cycles/token at {ghz} GHz; check {ids.Sum(x => (long)x)}");
  return;
}
if (args[0] == "min") {
  // Min and median of per-Run (1024 frames) wall time over many short trials, for each mix in turn.
  foreach (var m in args[1].Split(',')) {
    using var r = new BurstRig(Enum.Parse<TrafficMix>(m));
    // Warm up by time, not by count: the runtime promotes the packet path to optimised code in the background
    // (tiered compilation, ~100 ms after the last new method), and a count that ended before that measured the
    // first mix of a process at tier 0 (the "first mix ~50 % slower" artifact of 2026-12-06).
    var warm = Stopwatch.StartNew();
    for (int i = 0; i < 3000 || warm.Elapsed < TimeSpan.FromSeconds(2); i++) r.Run();
    int trials = int.Parse(args[2]); var t = new double[trials];
    for (int k = 0; k < trials; k++) { long a = Stopwatch.GetTimestamp(); r.Run(); t[k] = Stopwatch.GetElapsedTime(a).TotalNanoseconds / BurstRig.FramesPerRun; }
    Array.Sort(t);
    // The process's transparent huge pages after this rig's tables were made: a table that did not get them
    // (fragmented memory) misses the TLB on most lookups, which shows as a ~50 % slower mix.
    string thp = File.ReadAllLines("/proc/self/smaps_rollup").First(l => l.StartsWith("AnonHugePages")).Split(':')[1].Trim();
    Console.WriteLine($"{m}: min {t[0]:F1} p10 {t[trials/10]:F1} median {t[trials/2]:F1} ns/pkt (process AnonHugePages {thp})");
  }
  return;
}
var mix = Enum.Parse<TrafficMix>(args[0]);
double secs = args.Length > 1 ? double.Parse(args[1]) : 5;
using var rig = new BurstRig(mix);
Console.WriteLine(File.ReadAllLines("/proc/self/smaps_rollup").First(l => l.Contains("AnonHuge")));
for (int i = 0; i < 2000; i++) rig.Run();
var sw = Stopwatch.StartNew(); long frames = 0; long alloc0 = GC.GetAllocatedBytesForCurrentThread();
var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
while (sw.Elapsed.TotalSeconds < secs) { for (int i = 0; i < 100; i++) rig.Run(); frames += 100L * BurstRig.FramesPerRun; }
var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
Console.WriteLine($"{mix}: {frames / sw.Elapsed.TotalSeconds / 1e6:F2} Mpps wall, {cpu * 1e9 / frames:F1} ns/pkt cpu, {cpu*2.445e9/frames:F0} cyc/pkt cpu, alloc {GC.GetAllocatedBytesForCurrentThread()-alloc0}");
