using System.Diagnostics;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering;

// For each backend count N at M = 65537 slots: imbalance (max share / mean share), the fraction of
// 1M random flows whose backend changes when one backend is removed or added (ideal: 1/N and
// 1/(N+1)), and the median build time of 5 builds. Deterministic: fixed seeds throughout.
const int M = Maglev.DefaultSize;
const int Flows = 1_000_000;
const uint HashSeed = 0x5EED;

var rng = new Random(12345);
var hashes = new ulong[Flows];
for (int i = 0; i < Flows; i++)
{
    var src = Addr128.FromV4((uint)rng.Next());
    var dst = Addr128.FromV4((uint)rng.Next());
    hashes[i] = FlowHash.FiveTuple(src, dst, (ushort)rng.Next(1024, 65536), 443, 6, HashSeed);
}

Console.WriteLine($"Maglev, {Flows:N0} random IPv4 TCP flows, equal weights");
Console.WriteLine("  removed/added: flows whose backend changes when one backend is removed/added (ideal 1/N, 1/(N+1))");
Console.WriteLine("  churn: flows of surviving backends that move anyway on removal (ideal 0)");
Console.WriteLine($"{"M",7} {"N",6} {"imbalance",10} {"removed",9} {"ideal",8} {"churn",8} {"added",9} {"ideal",8} {"build ms min",13} {"median",7}");
foreach (var (m, n) in new[] { (M, 3), (M, 10), (M, 100), (M, 1000), (655373, 1000) })
{
    var all = Backends(n + 1);
    var baseSet = all[..n];
    int[] table = Maglev.Build(baseSet, m);

    var counts = new int[n + 1];
    foreach (int id in table) counts[id]++;
    double imbalance = counts.Max() / ((double)m / n);

    // Remove the middle backend (any one will do; the middle avoids favouring an end of the key order).
    var removed = baseSet.Where(b => b.Id != n / 2).ToArray();
    double removedMoved = Moved(table, Maglev.Build(removed, m), m, exceptOwner: -1);
    double churn = Moved(table, Maglev.Build(removed, m), m, exceptOwner: n / 2);
    double addedMoved = Moved(table, Maglev.Build(all, m), m, exceptOwner: -1);

    var times = new double[21];
    for (int r = 0; r < times.Length; r++)
    {
        var sw = Stopwatch.StartNew();
        Maglev.Build(baseSet, m);
        times[r] = sw.Elapsed.TotalMilliseconds;
    }
    Array.Sort(times);

    Console.WriteLine($"{m,7} {n,6} {imbalance,10:F4} {removedMoved,9:P3} {1.0 / n,8:P3} {churn,8:P3} {addedMoved,9:P3} {1.0 / (n + 1),8:P3} {times[0],13:F2} {times[times.Length / 2],7:F2}");
}

// Fraction of all flows that change backend, counting only flows not on exceptOwner (-1: all).
double Moved(int[] before, int[] after, int m, int exceptOwner)
{
    int moved = 0;
    foreach (ulong h in hashes)
    {
        int s = Maglev.Slot(h, m);
        if (before[s] != after[s] && before[s] != exceptOwner) moved++;
    }
    return (double)moved / Flows;
}

static MaglevBackend[] Backends(int n)
    => Enumerable.Range(0, n).Select(i => new MaglevBackend(i, $"backend-{i}.example:8080", 1)).ToArray();
