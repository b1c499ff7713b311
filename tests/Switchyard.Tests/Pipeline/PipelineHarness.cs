using System.Buffers.Binary;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Pipeline;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Management.Compile;
using Switchyard.Management.Options;
using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Pipeline;

/// <summary>What the processor did with one frame: its egress port and the frame it produced.</summary>
sealed record Sent(byte OutPort, short Delta, ushort OutLength, byte[] Frame)
{
    public bool Dropped => OutPort == Burst.DropPort;
    public ulong DstMac => (ulong)BinaryPrimitives.ReadUInt32BigEndian(Frame) << 16 | BinaryPrimitives.ReadUInt16BigEndian(Frame.AsSpan(4));
    public ushort EtherType => BinaryPrimitives.ReadUInt16BigEndian(Frame.AsSpan(12));
    /// <summary>Outer IPv4 destination of an encapsulated frame (no VLAN).</summary>
    public string OuterDstV4 => new System.Net.IPAddress(Frame.AsSpan(14 + 16, 4)).ToString();
    public string OuterDstV6 => new System.Net.IPAddress(Frame.AsSpan(14 + 24, 16)).ToString();
}

/// <summary>
/// The real <see cref="BurstProcessor"/> with snapshots compiled from <see cref="ApplianceOptions"/>
/// built in code, fed through a <see cref="MemoryPort"/>. Port 0 ("outside") faces the clients, port 1
/// ("inside") the backends. <see cref="Options"/> may be edited and <see cref="Republish"/>ed, as the
/// control plane does on a reload.
/// </summary>
sealed unsafe class PipelineHarness : IDisposable
{
    public const byte Outside = 0, Inside = 1;
    public const string ClientMac = "02:00:00:00:00:c1", OutsideMac = "02:00:00:00:00:01", InsideMac = "02:00:00:00:00:02", GatewayMac = "02:00:00:00:00:fe";

    public ApplianceOptions Options { get; }
    public SnapshotCompiler Compiler { get; } = new();
    public SnapshotHolder Snapshots { get; }
    public BurstProcessor Processor { get; }
    public WorkerCounters Counters => Processor.Counters;
    readonly Burst _burst = new();
    /// <summary>Frames handed to the processor so far (what the worker loop would count as RxPackets).</summary>
    public long Received { get; private set; }

    /// <param name="exceptionPath">Hand the appliance's own traffic to the kernel (issue 12's exception path).</param>
    /// <param name="flowTableEntries">The worker's flow-table capacity.</param>
    /// <param name="floodGuardNewFlowsPerSecond">Dataplane.FloodGuardNewFlowsPerSecond (0 = off).</param>
    /// <param name="sharedPins">Pins shared by other appliances (issue 12 item 4); <paramref name="pinExport"/> receives the
    /// pins this one's sweep finds differing from Maglev.</param>
    public PipelineHarness(ApplianceOptions? options = null, bool exceptionPath = false, int flowTableEntries = 1 << 16, int floodGuardNewFlowsPerSecond = 0,
        Dataplane.Datapath.Steering.Pins.SharedPinTable? sharedPins = null, Dataplane.Datapath.Steering.Pins.PinExportQueue? pinExport = null,
        bool plainTwin = true, bool specialisedBodies = true)
    {
        Options = options ?? DefaultOptions();
        Snapshots = new SnapshotHolder(Compile());
        Processor = new BurstProcessor(Snapshots, new FlowTable(flowTableEntries),
            new WorkerCounters(Options.Dataplane.MaxVips, Options.Dataplane.MaxBackends), sharedPins: sharedPins, pinExport: pinExport)
        { ExceptionPath = exceptionPath, FloodGuardNewFlowsPerSecond = floodGuardNewFlowsPerSecond, SpecialisedBodies = specialisedBodies };
        // Issue 14: every frame any pipeline test sends also goes through a twin forwarding with the plain body
        // (per-packet branches on mode and family); Send fails unless both wrote the same bytes.
        if (plainTwin)
            _twin = new BurstProcessor(Snapshots, new FlowTable(flowTableEntries),
                new WorkerCounters(Options.Dataplane.MaxVips, Options.Dataplane.MaxBackends), sharedPins: sharedPins)
            { ExceptionPath = exceptionPath, FloodGuardNewFlowsPerSecond = floodGuardNewFlowsPerSecond, SpecialisedBodies = false };
    }

    readonly BurstProcessor? _twin;
    readonly Burst _twinBurst = new();

    /// <summary>Frames compared between the processor and its plain-body twin so far.</summary>
    public long TwinCompared { get; private set; }

    public DataplaneSnapshot Snapshot => Snapshots.Current;

    DataplaneSnapshot Compile() => Compiler.Compile(Options, new Dictionary<string, ulong>());

    /// <summary>Frames of every forwarding body (DefaultOptions' VIP 192.0.2.100 / 2001:db8::100, ports 80-83: L2 DSR,
    /// IPIP, GUE, GRE in both families), mixed in one burst: SYNs and ACKs, 802.1Q tags, frames too big once encapsulated
    /// (ICMP too-big answers; IPv4 without DF dropped), UDP, a wildcard VIP, runts and frames for no VIP.</summary>
    public static List<byte[]> MixedCorpus()
    {
        var frames = new List<byte[]>();
        for (int i = 0; i < 64; i++)
        {
            ushort sport = (ushort)(30000 + i);
            string src = $"198.51.100.{i + 1}", src6 = $"2001:db8:c::{i + 1:x}";
            foreach (ushort port in new ushort[] { 80, 81, 82, 83 })
            {
                var syn = i % 2 == 0 ? TcpFlags.Syn : TcpFlags.Ack;
                frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv4(src, "192.0.2.100").Tcp(sport, port, syn).Payload(new byte[i]).PadTo(60).Build());
                frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv6(src6, "2001:db8::100", trafficClass: (byte)i, flowLabel: (uint)i).Tcp(sport, port, syn).Payload(new byte[i]).Build());
                if (i % 8 == 0)
                {
                    // 802.1Q-tagged, and too big once encapsulated (ICMP too-big answers; IPv4 without DF: dropped).
                    frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Vlan((ushort)(100 + i)).Ipv4(src, "192.0.2.100").Tcp(sport, port, TcpFlags.Ack).Payload(new byte[i]).PadTo(60).Build());
                    frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Vlan((ushort)(100 + i)).Ipv6(src6, "2001:db8::100").Tcp(sport, port, TcpFlags.Ack).Build());
                    frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv4(src, "192.0.2.100", dontFragment: i % 16 == 0).Tcp(sport, port, TcpFlags.Ack).Payload(new byte[1460]).Build());
                    frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv6(src6, "2001:db8::100").Tcp(sport, port, TcpFlags.Ack).Payload(new byte[1440]).Build());
                }
                if (i == 1)
                {
                    // At the egress MTU (1500) of each encapsulation: the largest inner packet that fits, and one byte more
                    // (IPIP 20, GRE 24, GUE 28 bytes of outer headers over IPv4; 40, 44, 48 over IPv6), on every pool.
                    foreach (int overhead in new[] { 20, 24, 28 })
                        foreach (int extra in new[] { 0, 1 })
                        {
                            int l3 = 1500 - overhead + extra;
                            frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv4(src, "192.0.2.100", dontFragment: true).Tcp(sport, port, TcpFlags.Ack).Payload(new byte[l3 - 40]).Build());
                            frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv6(src6, "2001:db8::100").Tcp(sport, port, TcpFlags.Ack).Payload(new byte[l3 - 20 - 60]).Build());
                        }
                }
            }
            frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv4(src, "192.0.2.100").Udp(sport, 53).Payload(new byte[8]).PadTo(60).Build());
            frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv4(src, "192.0.2.200").Udp(sport, 9).Payload(new byte[i]).PadTo(60).Build());
            if (i % 10 == 0) frames.Add(new byte[13]); // a runt
            if (i % 7 == 0) frames.Add(FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv4(src, "203.0.113.9").Tcp(sport, 80, TcpFlags.Syn).PadTo(60).Build()); // not for a VIP
        }
        return frames;
    }

    /// <summary>Compiles <see cref="Options"/> again and publishes the snapshot.</summary>
    public void Republish() => Snapshots.PublishUnsynchronized(Compile());

    /// <summary>Processes the frames in bursts of up to 32, all received on <paramref name="rxPort"/> at <paramref name="now"/>.</summary>
    public Sent[] Send(IReadOnlyList<byte[]> frames, uint now = 1, byte rxPort = Outside)
    {
        var result = new Sent[frames.Count];
        using var port = new MemoryPort(frames);
        using var twinPort = _twin is null ? null : new MemoryPort(frames);
        for (int first = 0; first < frames.Count; first += Burst.Size)
        {
            int n = Math.Min(Burst.Size, frames.Count - first);
            port.Receive(_burst, first, n);
            Processor.Process(_burst, rxPort, now);
            Received += n;
            for (int i = 0; i < n; i++)
                result[first + i] = new Sent(_burst.OutPort[i], _burst.Delta[i], _burst.OutLength[i],
                    _burst.OutPort[i] == Burst.DropPort ? [] : MemoryPort.Output(_burst, i).ToArray());
            if (_twin is null) continue;
            twinPort!.Receive(_twinBurst, first, n);
            _twin.Process(_twinBurst, rxPort, now);
            for (int i = 0; i < n; i++)
            {
                var s = result[first + i];
                var t = new Sent(_twinBurst.OutPort[i], _twinBurst.Delta[i], _twinBurst.OutLength[i],
                    _twinBurst.OutPort[i] == Burst.DropPort ? [] : MemoryPort.Output(_twinBurst, i).ToArray());
                if (s.OutPort != t.OutPort || s.Delta != t.Delta || s.OutLength != t.OutLength || !s.Frame.AsSpan().SequenceEqual(t.Frame))
                    throw new Xunit.Sdk.XunitException($"frame {first + i}: the specialised forwarding body wrote port {s.OutPort}, delta {s.Delta}, " +
                        $"length {s.OutLength}, {Convert.ToHexString(s.Frame)}; the plain body port {t.OutPort}, delta {t.Delta}, " +
                        $"length {t.OutLength}, {Convert.ToHexString(t.Frame)}");
                TwinCompared++;
            }
        }
        return result;
    }

    public Sent Send(byte[] frame, uint now = 1, byte rxPort = Outside) => Send([frame], now, rxPort)[0];

    /// <summary>Name of the backend a forwarded frame went to, from its destination MAC (L2 DSR) or outer
    /// destination address (encapsulation); null when no backend matches.</summary>
    public string? BackendOf(Sent s)
    {
        if (s.Dropped) return null;
        foreach (var b in Snapshot.Backends)
        {
            if (b.Name is null) continue;
            bool match = !IsEncapsulated(s) ? b.Mac != 0 && b.Mac == s.DstMac
                : s.EtherType == 0x0800 ? b.Address.IsV4 && Addr128.Parse(s.OuterDstV4) == b.Address
                : s.EtherType == 0x86DD && !b.Address.IsV4 && Addr128.Parse(s.OuterDstV6) == b.Address;
            if (match) return b.Name;
        }
        return null;
    }

    /// <summary>Encapsulated frames start in the headroom (negative delta); L2 DSR leaves the frame in place.</summary>
    static bool IsEncapsulated(Sent s) => s.Delta < 0;

    /// <summary>Asserts the invariants of <see cref="WorkerCounters"/> (with the frames this harness handed
    /// over as RxPackets; there is no transmit here, so TxQueueFull is 0).</summary>
    public void AssertCounterInvariants()
    {
        var c = Counters;
        long forwarded = c.Get(Outcome.Forwarded), arp = c.Get(Outcome.ArpReplied), ndp = c.Get(Outcome.NdpReplied),
            tooBig = c.Get(Outcome.IcmpTooBigSent), resets = c.Get(Outcome.JoinReset) + c.Get(Outcome.FlowReset), dropped = c.Get(Outcome.Dropped);
        Assert.Equal(Received, forwarded + arp + ndp + tooBig + resets + dropped);
        long drops = 0;
        for (var r = DropReason.None; r < DropReason.Count; r++) if (r != DropReason.TxQueueFull) drops += c.Get(r);
        Assert.Equal(dropped, drops);
        Assert.Equal(0, c.Get(DropReason.None));
        long vipPackets = 0, backendPackets = 0;
        for (int v = 0; v < c.MaxVips; v++) vipPackets += c.GetVip(v, ServiceCounter.Packets);
        for (int b = 0; b < c.MaxBackends; b++) backendPackets += c.GetBackend(b, ServiceCounter.Packets);
        Assert.Equal(forwarded, vipPackets);
        Assert.Equal(forwarded, backendPackets);
        // Every steered packet is steered exactly one way.
        Assert.Equal(forwarded + tooBig + c.Get(DropReason.NoHeadroom) + c.Get(DropReason.EncapTooBigNoDf) + c.Get(DropReason.EncapTooBigIcmpError),
            c.Get(GlobalCounter.FlowHits) + c.Get(GlobalCounter.FlowInserts) + c.Get(GlobalCounter.FlowRepins) + c.Get(GlobalCounter.MaglevSteered) + c.Get(GlobalCounter.SharedPinHits)
            + c.Get(GlobalCounter.HandshakePinsRefused));
    }

    static BackendOptions B(string name, string address, string? mac = null, int weight = 1, bool enabled = true) =>
        new() { Name = name, Address = address, Mac = mac, Port = "inside", Weight = weight, Enabled = enabled };

    /// <summary>
    /// VIPs (all on port 0 unless said): 192.0.2.100:80/tcp and :53/udp and 2001:db8::100:80/tcp -> web
    /// (l2dsr, w1..w3); 192.0.2.100:81/82/83 -> ipip4/gue4/gre4 and 2001:db8::100:81/82/83 -> ipip6/gue6/gre6;
    /// 192.0.2.200 any protocol, any port -> web; 192.0.2.60:5000/udp -> fragdrop (fragments dropped);
    /// 192.0.2.70:80/tcp -> dead (every backend disabled); 192.0.2.80:80/tcp -> weighted (weights 1, 2, 3, 4).
    /// </summary>
    public static ApplianceOptions DefaultOptions()
    {
        PoolOptions Encap(string name, string mode, bool v6, int n) => new()
        {
            Name = name, Forwarding = OptionNames.Forwarding.Parse(mode), MaglevSize = 251,
            EncapSourceV4 = v6 ? null : "198.18.200.0/24", EncapSourceV6 = v6 ? "2001:db8:200::/64" : null,
            Backends = v6 ? [B($"{name}-a", $"2001:db8:{n}::11"), B($"{name}-b", $"2001:db8:{n}::12")]
                          : [B($"{name}-a", $"10.0.{n}.11"), B($"{name}-b", $"10.0.{n}.12")],
        };
        return new ApplianceOptions
        {
            Cores = [1],
            Ports =
            [
                new PortOptions { Name = "outside", Device = "net_null0", Mac = OutsideMac, Addresses = ["192.0.2.1", "2001:db8::1"] },
                new PortOptions { Name = "inside", Device = "net_null1", Mac = InsideMac, GatewayMac = GatewayMac, Addresses = ["10.0.0.1", "2001:db8:1::1"] },
            ],
            Pools =
            [
                new PoolOptions { Name = "web", Forwarding = ForwardingMode.L2Dsr, MaglevSize = 251, Backends =
                    [B("w1", "10.0.0.11", "02:00:00:00:01:01"), B("w2", "10.0.0.12", "02:00:00:00:01:02"), B("w3", "10.0.0.13", "02:00:00:00:01:03")] },
                Encap("ipip4", "ipip", false, 1), Encap("gue4", "gue", false, 2), Encap("gre4", "gre", false, 3),
                Encap("ipip6", "ipip", true, 4), Encap("gue6", "gue", true, 5), Encap("gre6", "gre", true, 6),
                new PoolOptions { Name = "fragdrop", Forwarding = ForwardingMode.L2Dsr, Fragments = FragmentPolicy.Drop, MaglevSize = 251, Backends = [B("f1", "10.0.0.21", "02:00:00:00:02:01")] },
                new PoolOptions { Name = "dead", Forwarding = ForwardingMode.L2Dsr, MaglevSize = 251, Backends =
                    [B("x1", "10.0.0.31", "02:00:00:00:03:01", enabled: false), B("x2", "10.0.0.32", "02:00:00:00:03:02", enabled: false)] },
                new PoolOptions { Name = "weighted", Forwarding = ForwardingMode.L2Dsr, Backends =
                    [B("k1", "10.0.0.41", "02:00:00:00:04:01", 1), B("k2", "10.0.0.42", "02:00:00:00:04:02", 2),
                     B("k3", "10.0.0.43", "02:00:00:00:04:03", 3), B("k4", "10.0.0.44", "02:00:00:00:04:04", 4)] },
            ],
            Vips =
            [
                new VipOptions { Name = "http", Address = "192.0.2.100", Port = 80, Protocol = "tcp", Pool = "web" },
                new VipOptions { Name = "dns", Address = "192.0.2.100", Port = 53, Protocol = "udp", Pool = "web" },
                new VipOptions { Name = "http6", Address = "2001:db8::100", Port = 80, Protocol = "tcp", Pool = "web" },
                new VipOptions { Name = "ipip4", Address = "192.0.2.100", Port = 81, Protocol = "tcp", Pool = "ipip4" },
                new VipOptions { Name = "gue4", Address = "192.0.2.100", Port = 82, Protocol = "tcp", Pool = "gue4" },
                new VipOptions { Name = "gre4", Address = "192.0.2.100", Port = 83, Protocol = "tcp", Pool = "gre4" },
                new VipOptions { Name = "ipip6", Address = "2001:db8::100", Port = 81, Protocol = "tcp", Pool = "ipip6" },
                new VipOptions { Name = "gue6", Address = "2001:db8::100", Port = 82, Protocol = "tcp", Pool = "gue6" },
                new VipOptions { Name = "gre6", Address = "2001:db8::100", Port = 83, Protocol = "tcp", Pool = "gre6" },
                new VipOptions { Name = "whole", Address = "192.0.2.200", Port = 0, Protocol = "any", Pool = "web" },
                new VipOptions { Name = "fragdrop", Address = "192.0.2.60", Port = 5000, Protocol = "udp", Pool = "fragdrop" },
                new VipOptions { Name = "dead", Address = "192.0.2.70", Port = 80, Protocol = "tcp", Pool = "dead" },
                new VipOptions { Name = "weighted", Address = "192.0.2.80", Port = 80, Protocol = "tcp", Pool = "weighted" },
            ],
            Dataplane = new DataplaneOptions { MaxBackends = 64, MaxVips = 32 },
        };
    }

    public void Dispose()
    {
        Processor.Dispose();
        _twin?.Dispose();
        _twinBurst.Dispose();
        _burst.Dispose();
    }
}
