using System.Buffers.Binary;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Pipeline;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Management.Control;
using Switchyard.Management.Options;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Pipeline;

namespace Switchyard.Tests.Control;

/// <summary>A worker that passes a quiescent point whenever the test says so (or on every read, when auto).</summary>
sealed class FakeWorker : IQuiescentWorker
{
    long _gen;
    public bool Auto = true;
    public bool Exited;
    public long QuiescentGeneration => Auto ? Interlocked.Increment(ref _gen) : Volatile.Read(ref _gen);
    public bool HasExited => Exited;
    public void Pass() => Interlocked.Increment(ref _gen);
}

/// <summary>
/// A <see cref="ControlPlane"/> over PipelineHarness's default options, with the real
/// <see cref="BurstProcessor"/> reading the control plane's snapshot holder (as a worker does).
/// Pool "web" (l2dsr, w1..w3) behind 192.0.2.100:80/tcp and :53/udp.
/// </summary>
sealed unsafe class ControlHarness : IDisposable
{
    public const string Vip = "192.0.2.100";
    public DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    public ControlPlane Control { get; }
    public BurstProcessor Processor { get; }
    public FakeWorker Worker { get; } = new();
    readonly Burst _burst = new();

    public ControlHarness(Action<ApplianceOptions>? edit = null)
    {
        var o = PipelineHarness.DefaultOptions();
        edit?.Invoke(o);
        Control = new ControlPlane(o, new Dictionary<string, ulong>(), clock: () => Now);
        var counters = new WorkerCounters(o.Dataplane.MaxVips, o.Dataplane.MaxBackends);
        Processor = new BurstProcessor(Control.Snapshots, new FlowTable(1 << 16), counters);
        Control.AttachWorkers([Worker], [counters]);
    }

    public WorkerCounters Counters => Processor.Counters;

    public Sent[] Send(IReadOnlyList<byte[]> frames, uint now = 1)
    {
        var result = new Sent[frames.Count];
        using var port = new MemoryPort(frames);
        for (int first = 0; first < frames.Count; first += Burst.Size)
        {
            int n = Math.Min(Burst.Size, frames.Count - first);
            port.Receive(_burst, first, n);
            Processor.Process(_burst, PipelineHarness.Outside, now);
            for (int i = 0; i < n; i++)
                result[first + i] = new Sent(_burst.OutPort[i], _burst.Delta[i], _burst.OutLength[i],
                    _burst.OutPort[i] == Burst.DropPort ? [] : MemoryPort.Output(_burst, i).ToArray());
        }
        return result;
    }

    public Sent Send(byte[] frame, uint now = 1) => Send([frame], now)[0];

    /// <summary>The backend (by destination MAC, any state) a frame was forwarded to; null when not forwarded inside.</summary>
    public string? BackendOf(Sent s)
    {
        if (s.Dropped || s.OutPort != PipelineHarness.Inside) return null;
        foreach (var b in Control.Current.Backends)
            if (b.Name is not null && b.Mac != 0 && b.Mac == s.DstMac) return b.Name;
        return null;
    }

    public static string Client(int i) => $"198.51.{100 + (i >> 8 & 0xff)}.{i & 0xff}";

    public static byte[] Tcp(int client, ushort sport, TcpFlags flags, int payload = 0) =>
        FrameBuilder.Ethernet(PipelineHarness.ClientMac, PipelineHarness.OutsideMac).Ipv4(Client(client), Vip)
            .Tcp(sport, 80, flags).Payload(new byte[payload]).PadTo(60).Build();

    public static byte[] Udp(int client, ushort sport) =>
        FrameBuilder.Ethernet(PipelineHarness.ClientMac, PipelineHarness.OutsideMac).Ipv4(Client(client), Vip)
            .Udp(sport, 53).Payload(new byte[8]).PadTo(60).Build();

    /// <summary>TCP flags of a frame sent back (untagged IPv4, no options).</summary>
    public static byte TcpFlagsOf(Sent s) => s.Frame[14 + 20 + 13];

    /// <summary>Opens n TCP flows (SYN) from distinct clients; returns (client, backend).</summary>
    public List<(int Client, string Backend)> Open(int n, int firstClient = 1)
    {
        var frames = Enumerable.Range(firstClient, n).Select(c => Tcp(c, 40000, TcpFlags.Syn)).ToArray();
        var sent = Send(frames);
        return [.. sent.Select((s, i) => (firstClient + i, BackendOf(s) ?? throw new Xunit.Sdk.XunitException($"SYN {i} not forwarded")))];
    }

    public void Dispose()
    {
        Processor.Dispose();
        _burst.Dispose();
    }
}
