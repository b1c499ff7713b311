using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Switchyard.Dataplane.Native;

namespace Switchyard.Dataplane.Datapath.Worker;

/// <summary>Where a worker's cycles go. Loop-level stages are stamped by <see cref="WorkerLoop{TPort}"/>;
/// a handler may split <see cref="Handler"/> further with the sub-stages (added to, not subtracted from,
/// Handler: Handler is the whole of the handler's time).</summary>
public enum Stage
{
    /// <summary>The receive call (rx burst through the shim).</summary>
    Receive,
    /// <summary>The burst handler as a whole (parse, lookups, steering, rewrite).</summary>
    Handler,
    /// <summary>Routing the burst to transmit buffers, transmitting full ones, freeing dropped frames.</summary>
    Transmit,
    // Sub-stages of Handler, for handlers that stamp them.
    Parse,
    VipLookup,
    FlowLookup,
    Maglev,
    Token,
    Rewrite,
    /// <summary>The packet path's steering pass (flow table, Maglev, join and QUIC-LB steering, token tracking,
    /// answers); the forwarding bodies that follow it are stamped as <see cref="Rewrite"/>.</summary>
    Steer,
}

/// <summary>
/// A worker's per-stage cycle budget, sampled in the running appliance (Run.StageStampsFile): one
/// non-empty burst in <see cref="SampleEvery"/> is stamped with the TSC (<see cref="Shim.sy_rdtsc"/>)
/// between its stages; cycles and packets of the stamped bursts accumulate here (mean cycles per packet
/// of a stage = its cycles / <see cref="Packets"/>), and the last <see cref="Kept"/> bursts' cycles per
/// packet are kept for medians (the reported figure: robust to preemption on a shared machine). Written by the worker thread only; read after it stopped
/// (or racily, for a progress view: the fields are plain longs). No allocation after the constructor.
/// </summary>
public sealed class StageBudget
{
    public static readonly int StageCount = Enum.GetValues<Stage>().Length;

    /// <summary>Bursts between two stamped ones (a power of two).</summary>
    public int SampleEvery { get; }

    /// <summary>Samples kept for the medians (a ring: the most recent ones).</summary>
    public const int Kept = 4096;

    readonly long[] _cycles = new long[StageCount];
    readonly long[] _current = new long[StageCount];     // the stamped burst in progress
    readonly float[] _kept = new float[Kept * StageCount]; // [sample * StageCount + stage] = cycles per packet
    /// <summary>Packets in the stamped bursts (written by <see cref="Commit"/>).</summary>
    public long Packets;
    /// <summary>Stamped bursts.</summary>
    public long Samples;
    /// <summary>True while the worker is inside a stamped burst: handlers check it before stamping sub-stages.</summary>
    public bool Active;

    public StageBudget(int sampleEvery = 64)
    {
        if (sampleEvery < 1 || (sampleEvery & (sampleEvery - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(sampleEvery), sampleEvery, "a power of two");
        SampleEvery = sampleEvery;
    }

    /// <summary>The TSC now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Now() => Shim.sy_rdtsc();

    /// <summary>Adds cycles to <paramref name="stage"/> of the stamped burst in progress.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(Stage stage, ulong cycles) => _current[(int)stage] += (long)cycles;

    /// <summary>Ends the stamped burst of <paramref name="packets"/> packets: its cycles join the totals and
    /// its per-packet cycles the kept samples (medians shrug off the bursts a preemption landed in, which
    /// the means on a shared machine do not).</summary>
    public void Commit(int packets)
    {
        if (packets <= 0) { Array.Clear(_current); return; }
        int slot = (int)(Samples % Kept) * StageCount;
        for (int s = 0; s < StageCount; s++)
        {
            _cycles[s] += _current[s];
            _kept[slot + s] = (float)_current[s] / packets;
            _current[s] = 0;
        }
        Packets += packets;
        Samples++;
    }

    /// <summary>Median over the kept samples of <paramref name="stage"/>'s cycles per packet (0 before any). Allocates (reporting only).</summary>
    public double MedianCyclesPerPacket(Stage stage)
    {
        int n = (int)Math.Min(Samples, Kept);
        if (n == 0) return 0;
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = _kept[i * StageCount + (int)stage];
        Array.Sort(v);
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
    }

    public long Cycles(Stage stage) => _cycles[(int)stage];

    /// <summary>Mean TSC cycles per packet of <paramref name="stage"/> over the stamped bursts (0 before any).</summary>
    public double CyclesPerPacket(Stage stage) => Packets == 0 ? 0 : (double)_cycles[(int)stage] / Packets;

    /// <summary>TSC ticks per second, measured against Stopwatch over <paramref name="window"/> (once, off the packet path).</summary>
    public static double MeasureTscHz(TimeSpan window)
    {
        long s0 = Stopwatch.GetTimestamp();
        ulong t0 = Now();
        Thread.Sleep(window);
        ulong t1 = Now();
        long s1 = Stopwatch.GetTimestamp();
        return (t1 - t0) / ((double)(s1 - s0) / Stopwatch.Frequency);
    }

    /// <summary>The budgets of all workers as JSON (the StageStampsFile format, read by perf/load/load.py):
    /// <c>{"tscHz", "sampleEvery", "mode", "workers": [{"core", "samples", "packets", "cyclesPerPacket": {stage: median},
    /// "meanCyclesPerPacket": {stage: mean}}]}</c>.</summary>
    public static string ToJson(IReadOnlyList<(int Core, StageBudget Budget)> workers, double tscHz, string mode)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("tscHz", Math.Round(tscHz));
            w.WriteNumber("sampleEvery", workers.Count > 0 ? workers[0].Budget.SampleEvery : 0);
            w.WriteString("mode", mode);
            w.WriteStartArray("workers");
            foreach (var (core, b) in workers)
            {
                w.WriteStartObject();
                w.WriteNumber("core", core);
                w.WriteNumber("samples", b.Samples);
                w.WriteNumber("packets", b.Packets);
                foreach (var (key, median) in new[] { ("cyclesPerPacket", true), ("meanCyclesPerPacket", false) })
                {
                    w.WriteStartObject(key);
                    foreach (Stage s in Enum.GetValues<Stage>())
                        if (s <= Stage.Transmit || b.Cycles(s) != 0)
                            w.WriteNumber(JsonNamingPolicy.CamelCase.ConvertName(s.ToString()),
                                Math.Round(median ? b.MedianCyclesPerPacket(s) : b.CyclesPerPacket(s), 1));
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }
}
