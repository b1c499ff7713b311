using System.Runtime.InteropServices;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Tests.Native;

/// <summary>
/// The worker loop on a fake port (no EAL): frames are handles 1..N, each backed by a native buffer.
/// Every handle must end exactly once in "sent" or "freed".
/// </summary>
public unsafe class WorkerLoopTests
{
    [Fact]
    public unsafe void Burst_byte_sums_and_drop_marks_cover_exactly_the_frames_received()
    {
        using var burst = new Burst();
        var rng = new Random(9);
        for (int n = 0; n <= Burst.Size; n++)
        {
            long expected = 0;
            for (int i = 0; i < Burst.Size; i++)
            {
                burst.Length[i] = (ushort)rng.Next(65536);
                if (i < n) expected += burst.Length[i];
                burst.OutPort[i] = 7;
            }
            Assert.Equal(expected, Burst.SumLengths(burst.Length, n));
            burst.DropAll(n);
            for (int i = 0; i < Burst.Size; i++) Assert.Equal(i < n ? Burst.DropPort : (byte)7, burst.OutPort[i]);
        }
    }

    sealed class FakeDevice : IDisposable
    {
        public readonly int Frames;
        public int NextToReceive;            // handles NextToReceive+1.. are still to come
        public int AcceptPerTransmit = int.MaxValue;
        public readonly List<(byte Port, ushort Queue, nint Handle, short Delta, ushort Len)> Sent = new();
        public readonly List<nint> Freed = new();
        public readonly List<nint> NotTaken = new();
        public int Attached, Detached;
        readonly byte* _buffers;

        public FakeDevice(int frames)
        {
            Frames = frames;
            _buffers = (byte*)NativeMemory.AllocZeroed((nuint)(frames * 256));
        }

        public int Receive(Burst b)
        {
            int n = Math.Min(Burst.Size, Frames - NextToReceive);
            for (int i = 0; i < n; i++)
            {
                int id = ++NextToReceive;
                b.Handles[i] = id;
                b.Data[i] = _buffers + (id - 1) * 256 + 128;
                b.Length[i] = 60;
                b.Headroom[i] = 128;
                b.Segments[i] = 1;
            }
            return n;
        }

        public void Dispose() => NativeMemory.Free(_buffers);
    }

    struct FakeIo : IPortIo
    {
        public FakeDevice Device;
        public void AttachThread() => Device.Attached++;
        public void DetachThread() => Device.Detached++;
        public int Receive(byte port, ushort queue, Burst burst) => Device.Receive(burst);
        public int Transmit(byte port, ushort queue, nint* handles, short* delta, ushort* len, int n)
        {
            int sent = Math.Min(n, Device.AcceptPerTransmit);
            for (int i = 0; i < sent; i++) Device.Sent.Add((port, queue, handles[i], delta[i], len[i]));
            for (int i = sent; i < n; i++) Device.NotTaken.Add(handles[i]); // "freed by the shim"
            return sent;
        }
        public void Free(nint* handles, int n) { for (int i = 0; i < n; i++) Device.Freed.Add(handles[i]); }
    }

    /// <summary>Even handles go to port 1 with 4 bytes prepended, odd handles are dropped.</summary>
    sealed class EvenToPortOne : IBurstHandler
    {
        public int Bursts;
        public void Process(Burst burst, byte rxPort, uint nowTicks)
        {
            Bursts++;
            for (int i = 0; i < burst.Count; i++)
            {
                bool even = burst.Handles[i] % 2 == 0;
                burst.OutPort[i] = even ? (byte)1 : Burst.DropPort;
                burst.Delta[i] = -4;
                burst.OutLength[i] = (ushort)(burst.Length[i] + 4);
            }
        }
    }

    static (WorkerCounters, FakeDevice) RunUntilDrained(int frames, int acceptPerTransmit)
    {
        var device = new FakeDevice(frames) { AcceptPerTransmit = acceptPerTransmit };
        var counters = new WorkerCounters(4, 4);
        var stop = new StopFlag();
        using var loop = new WorkerLoop<FakeIo>(new FakeIo { Device = device }, core: -1,
            [new RxQueueRef(0, 0)], [0, 3], portCount: 2, new EvenToPortOne(), counters, stop);
        var t = new Thread(() => loop.Run());
        t.Start();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        // Frames are all received quickly; then wait past a drain deadline before stopping.
        while (Volatile.Read(ref device.NextToReceive) < frames && DateTime.UtcNow < deadline) Thread.Sleep(1);
        Thread.Sleep(5);
        stop.Request();
        Assert.True(t.Join(TimeSpan.FromSeconds(10)));
        Assert.True(loop.Loops > 0);
        Assert.True(loop.QuiescentGeneration > 0);
        Assert.True(loop.LastRxTick >= 0);
        device.Dispose();
        return (counters, device);
    }

    [Fact]
    public void Every_frame_is_sent_or_freed_exactly_once_and_counted()
    {
        const int frames = 1000; // not a multiple of 32: the last partial buffer leaves on the drain deadline
        var (c, d) = RunUntilDrained(frames, int.MaxValue);

        Assert.Equal(1, d.Attached);
        Assert.Equal(1, d.Detached);
        Assert.Equal(frames / 2, d.Sent.Count);
        Assert.Equal(frames / 2, d.Freed.Count);
        Assert.Empty(d.NotTaken);
        var all = d.Sent.Select(s => s.Handle).Concat(d.Freed).OrderBy(h => h).ToArray();
        Assert.Equal(Enumerable.Range(1, frames).Select(i => (nint)i), all);
        Assert.All(d.Sent, s => { Assert.Equal(1, s.Port); Assert.Equal(3, s.Queue); Assert.Equal(-4, s.Delta); Assert.Equal(64, s.Len); });
        // Order on the wire is the order received.
        Assert.Equal(d.Sent.Select(s => s.Handle).OrderBy(h => h), d.Sent.Select(s => s.Handle));

        Assert.Equal(frames, c.Get(GlobalCounter.RxPackets));
        Assert.Equal(frames * 60L, c.Get(GlobalCounter.RxBytes));
        Assert.Equal(frames / 2, c.Get(GlobalCounter.TxPackets));
        Assert.Equal(frames / 2 * 64L, c.Get(GlobalCounter.TxBytes));
        Assert.Equal((frames + Burst.Size - 1) / Burst.Size, c.Get(GlobalCounter.Bursts));
        Assert.Equal(0, c.Get(DropReason.TxQueueFull));
    }

    [Fact]
    public void Frames_the_device_does_not_take_count_as_tx_queue_full()
    {
        const int frames = 640;
        var (c, d) = RunUntilDrained(frames, acceptPerTransmit: 20);

        Assert.Equal(frames / 2, d.Sent.Count + d.NotTaken.Count);
        Assert.Equal(d.Sent.Count, c.Get(GlobalCounter.TxPackets));
        Assert.Equal(d.NotTaken.Count, c.Get(DropReason.TxQueueFull));
        Assert.True(d.NotTaken.Count > 0);
        // TxPackets + TxQueueFull = frames routed to a port.
        Assert.Equal(frames / 2, c.Get(GlobalCounter.TxPackets) + c.Get(DropReason.TxQueueFull));
    }

    [Fact]
    public void Constructor_rejects_an_rx_port_outside_the_port_count()
    {
        Assert.Throws<ArgumentException>(() => new WorkerLoop<FakeIo>(default, -1, [new RxQueueRef(2, 0)], [0, 0], 2,
            new EvenToPortOne(), new WorkerCounters(1, 1), new StopFlag()));
    }
}
