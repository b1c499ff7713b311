using System.Runtime.InteropServices;
using System.Text.Json;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Tests.Native;

/// <summary>
/// The cycle-budget tooling of issue 14 without EAL: the worker loop's sampled TSC stamps
/// (<see cref="StageBudget"/>, rdtsc from the shim) on a fake device, and the floor handler
/// (<see cref="ForwardOnlyHandler"/>). Stamps must not change what the loop does with frames.
/// </summary>
public unsafe class StageBudgetTests
{
    sealed class Device : IDisposable
    {
        public readonly int Frames;
        public int Next;
        public readonly List<(byte Port, nint Handle)> Sent = new();
        public readonly List<nint> Freed = new();
        public readonly byte* Buffers;
        public Device(int frames) { Frames = frames; Buffers = (byte*)NativeMemory.AllocZeroed((nuint)(frames * 256)); }
        public void Dispose() => NativeMemory.Free(Buffers);
    }

    struct Io : IPortIo
    {
        public Device D;
        public void AttachThread() { }
        public void DetachThread() { }
        public int Receive(byte port, ushort queue, Burst b)
        {
            int n = Math.Min(Burst.Size, D.Frames - D.Next);
            for (int i = 0; i < n; i++)
            {
                int id = ++D.Next;
                b.Handles[i] = id;
                b.Data[i] = D.Buffers + (id - 1) * 256 + 128;
                b.Length[i] = (ushort)(id % 10 == 0 ? 10 : 60); // every tenth frame is a runt
                b.Headroom[i] = 128;
                b.Segments[i] = 1;
                for (int k = 0; k < 12; k++) b.Data[i][k] = (byte)(k < 6 ? 0xD0 + k : 0x50 + k); // dst D0.., src 56..
            }
            return n;
        }
        public int Transmit(byte port, ushort queue, nint* handles, short* delta, ushort* len, int n)
        {
            for (int i = 0; i < n; i++) D.Sent.Add((port, handles[i]));
            return n;
        }
        public void Free(nint* handles, int n) { for (int i = 0; i < n; i++) D.Freed.Add(handles[i]); }
    }

    [Fact]
    public void Sampled_stamps_cover_every_loop_stage_and_change_nothing_about_the_frames()
    {
        const int frames = 3200; // 100 full bursts
        using var d = new Device(frames);
        var counters = new WorkerCounters(1, 1);
        var stop = new StopFlag();
        var budget = new StageBudget(sampleEvery: 4);
        using var loop = new WorkerLoop<Io>(new Io { D = d }, core: -1, [new RxQueueRef(0, 0)], [0, 0], portCount: 2,
            new ForwardOnlyHandler(1, counters), counters, stop) { Budget = budget };
        var t = new Thread(() => loop.Run());
        t.Start();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Volatile.Read(ref d.Next) < frames && DateTime.UtcNow < deadline) Thread.Sleep(1);
        while (counters.Get(GlobalCounter.TxPackets) + d.Freed.Count < frames && DateTime.UtcNow < deadline) Thread.Sleep(1);
        stop.Request();
        Assert.True(t.Join(TimeSpan.FromSeconds(10)));

        // Frames: every one sent (port 1) or freed (the runts), once.
        Assert.Equal(frames, counters.Get(GlobalCounter.RxPackets));
        Assert.Equal(frames / 10, d.Freed.Count);
        Assert.Equal(frames - frames / 10, d.Sent.Count);
        Assert.All(d.Sent, s => Assert.Equal(1, s.Port));
        Assert.Equal(Enumerable.Range(1, frames).Select(i => (nint)i), d.Sent.Select(s => s.Handle).Concat(d.Freed).Order());
        Assert.Equal(frames - frames / 10, counters.Get(Outcome.Forwarded));
        Assert.Equal(frames / 10, counters.Get(DropReason.RuntFrame));

        // Stamps: one full burst in four (empty polls re-arm the next poll, so exactly 25 of the 100).
        Assert.Equal(25, budget.Samples);
        Assert.Equal(25 * Burst.Size, budget.Packets);
        foreach (var s in new[] { Stage.Receive, Stage.Handler, Stage.Transmit })
            Assert.True(budget.Cycles(s) > 0, $"{s}: no cycles");
        Assert.Equal(0, budget.Cycles(Stage.Maglev)); // nothing stamps sub-stages in the floor
        Assert.False(budget.Active);

        var doc = JsonDocument.Parse(StageBudget.ToJson([(7, budget)], StageBudget.MeasureTscHz(TimeSpan.FromMilliseconds(20)), "forward-only")).RootElement;
        Assert.True(doc.GetProperty("tscHz").GetDouble() > 1e8);
        Assert.Equal(4, doc.GetProperty("sampleEvery").GetInt32());
        Assert.Equal("forward-only", doc.GetProperty("mode").GetString());
        var w = doc.GetProperty("workers")[0];
        Assert.Equal(7, w.GetProperty("core").GetInt32());
        Assert.Equal(budget.Packets, w.GetProperty("packets").GetInt64());
        var cpp = w.GetProperty("cyclesPerPacket");
        Assert.True(cpp.GetProperty("handler").GetDouble() > 0);
        Assert.True(w.GetProperty("meanCyclesPerPacket").GetProperty("handler").GetDouble() > 0);
        Assert.False(cpp.TryGetProperty("maglev", out _));
    }

    [Fact]
    public void Medians_ignore_an_outlier_burst_that_the_mean_does_not()
    {
        var b = new StageBudget(1);
        for (int i = 0; i < 9; i++) { b.Add(Stage.Handler, 3200); b.Commit(32); }   // 100 cycles per packet
        b.Add(Stage.Handler, 32_000_000); b.Commit(32);                            // a preempted burst
        Assert.Equal(10, b.Samples);
        Assert.Equal(320, b.Packets);
        Assert.Equal(100, b.MedianCyclesPerPacket(Stage.Handler));
        Assert.True(b.CyclesPerPacket(Stage.Handler) > 100_000);
        Assert.Equal(0, b.MedianCyclesPerPacket(Stage.Receive));
        b.Add(Stage.Handler, 5); b.Commit(0); // an empty commit keeps nothing
        Assert.Equal(10, b.Samples);
    }

    [Fact]
    public void Sample_rate_must_be_a_power_of_two()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new StageBudget(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StageBudget(48));
        Assert.Equal(1, new StageBudget(1).SampleEvery);
    }

    [Fact]
    public void Forward_only_swaps_the_macs_keeps_the_rest_and_allocates_nothing()
    {
        using var burst = new Burst();
        var buf = (byte*)NativeMemory.AllocZeroed(Burst.Size * 128);
        try
        {
            var counters = new WorkerCounters(1, 1);
            var h = new ForwardOnlyHandler(3, counters);
            void Fill()
            {
                burst.Count = Burst.Size;
                for (int i = 0; i < Burst.Size; i++)
                {
                    byte* f = buf + i * 128;
                    for (int k = 0; k < 64; k++) f[k] = (byte)(i + k);
                    burst.Data[i] = f;
                    burst.Length[i] = (ushort)(i == 5 ? 13 : 60 + i);
                }
            }
            Fill();
            h.Process(burst, 0, 0);
            for (int i = 0; i < Burst.Size; i++)
            {
                byte* f = buf + i * 128;
                if (i == 5) { Assert.Equal(Burst.DropPort, burst.OutPort[i]); continue; }
                Assert.Equal(3, burst.OutPort[i]);
                Assert.Equal(0, burst.Delta[i]);
                Assert.Equal(60 + i, burst.OutLength[i]);
                for (int k = 0; k < 6; k++)
                {
                    Assert.Equal((byte)(i + 6 + k), f[k]);  // new dst = old src
                    Assert.Equal((byte)(i + k), f[6 + k]);  // new src = old dst
                }
                for (int k = 12; k < 64; k++) Assert.Equal((byte)(i + k), f[k]);
            }
            Assert.Equal(Burst.Size - 1, counters.Get(Outcome.Forwarded));
            Assert.Equal(1, counters.Get(DropReason.RuntFrame));

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int r = 0; r < 1000; r++) h.Process(burst, 0, 0);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        finally { NativeMemory.Free(buf); }
    }
}
