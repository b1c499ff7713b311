using System.Buffers.Binary;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Pipeline;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Management.Compile;
using Switchyard.Management.Options;
using Switchyard.Minting;
using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Pipeline;

/// <summary>
/// The real <see cref="BurstProcessor"/> on MPTCP-aware VIPs: several workers (one processor, flow table
/// and counter set each) sharing one snapshot holder and one <see cref="LearnedTokenTable"/>, as the host
/// runs them. Port 0 faces the clients, port 1 the backends (L2 DSR, so the backend is the destination MAC).
/// </summary>
sealed unsafe class JoinHarness : IDisposable
{
    public const byte Outside = 0, Inside = 1;
    public const string ClientMac = "02:00:00:00:00:c1", OutsideMac = "02:00:00:00:00:01", InsideMac = "02:00:00:00:00:02";

    // VIPs (all port 80/tcp, pool "mp" unless said)
    public const string EncVip = "192.0.2.10", LearnVip = "192.0.2.11", AnnVip = "192.0.2.12", AddrVip = "192.0.2.13",
        EncLearnVip = "192.0.2.14", LearnEncVip = "192.0.2.15", PlainVip = "192.0.2.16", EncAnnVip = "192.0.2.17", Enc6Vip = "2001:db8::10";
    public static readonly string[] Backends = ["m1", "m2", "m3", "m4"];
    public static int ServerIdOf(string backend) => 10 + Array.IndexOf(Backends, backend);   // m1 -> 10 ...
    public static ushort AnnouncedPortOf(string backend) => (ushort)(8001 + Array.IndexOf(Backends, backend));
    public const int ServerIdBits = 10;
    public static readonly byte[][] Keys =
    [
        Convert.FromHexString("000102030405060708090a0b0c0d0e0f"),
        Convert.FromHexString("f0e0d0c0b0a090807060504030201000"),
        Convert.FromHexString("2b7e151628aed2a6abf7158809cf4f3c"),
    ];
    public const int LearnedIdleSeconds = 10;

    public ApplianceOptions Options { get; }
    public SnapshotCompiler Compiler { get; } = new();
    public SnapshotHolder Snapshots { get; }
    public LearnedTokenTable Learned { get; }
    public BurstProcessor[] Workers { get; }
    /// <summary>Each worker's learned-token export queue (the cluster's exchange, issue 12), when asked for.</summary>
    public TokenExportQueue[]? Exports { get; }
    readonly Burst _burst = new();
    readonly long[] _received;

    public JoinHarness(int workers = 1, Action<ApplianceOptions>? edit = null, int exportCapacity = 0, int flowTableEntries = 1 << 14)
    {
        Options = DefaultOptions();
        edit?.Invoke(Options);
        Snapshots = new SnapshotHolder(Compile());
        Learned = new LearnedTokenTable(Options.Mptcp.LearnedTokenCapacity, (uint)Options.Mptcp.LearnedTokenIdleTimeoutSeconds * 1000u);
        Exports = exportCapacity > 0 ? Enumerable.Range(0, workers).Select(_ => new TokenExportQueue(exportCapacity)).ToArray() : null;
        Workers = Enumerable.Range(0, workers).Select(i => new BurstProcessor(Snapshots, new FlowTable(flowTableEntries),
            new WorkerCounters(Options.Dataplane.MaxVips, Options.Dataplane.MaxBackends), Learned, Exports?[i])).ToArray();
        _received = new long[workers];
    }

    public DataplaneSnapshot Snapshot => Snapshots.Current;
    public WorkerCounters Counters => Workers[0].Counters;
    DataplaneSnapshot Compile() => Compiler.Compile(Options, new Dictionary<string, ulong>());
    public void Republish() => Snapshots.PublishUnsynchronized(Compile());

    public Sent[] Send(IReadOnlyList<byte[]> frames, uint now = 1, int worker = 0)
    {
        var result = new Sent[frames.Count];
        using var port = new MemoryPort(frames);
        for (int first = 0; first < frames.Count; first += Burst.Size)
        {
            int n = Math.Min(Burst.Size, frames.Count - first);
            port.Receive(_burst, first, n);
            Workers[worker].Process(_burst, Outside, now);
            _received[worker] += n;
            for (int i = 0; i < n; i++)
                result[first + i] = new Sent(_burst.OutPort[i], _burst.Delta[i], _burst.OutLength[i],
                    _burst.OutPort[i] == Burst.DropPort ? [] : MemoryPort.Output(_burst, i).ToArray());
        }
        return result;
    }

    public Sent Send(byte[] frame, uint now = 1, int worker = 0) => Send([frame], now, worker)[0];

    /// <summary>The backend a forwarded frame went to (by destination MAC), or null (dropped, or sent back to the client).</summary>
    public string? BackendOf(Sent s)
    {
        if (s.Dropped || s.OutPort != Inside) return null;
        foreach (var b in Snapshot.Backends)
            if (b.Name is not null && b.Mac != 0 && b.Mac == s.DstMac) return b.Name;
        return null;
    }

    /// <summary>The backend Maglev picks for a 5-tuple to a VIP.</summary>
    public string MaglevChoice(string src, ushort sport, string vip, ushort dport)
    {
        var snap = Snapshot;
        ulong hash = FlowHash.FiveTuple(Addr128.Parse(src), Addr128.Parse(vip), sport, dport, 6, snap.FlowHashSeed);
        var table = snap.Pools.Single(p => p.Name == "mp").Maglev;
        return snap.Backends[table[Maglev.Slot(hash, table.Length)]].Name;
    }

    /// <summary>The <see cref="WorkerCounters"/> invariants for worker <paramref name="w"/>, plus the join ones:
    /// JoinsSeen = placed by a mode + unplaceable, unplaceable = RSTs + JoinUnplaceable drops.</summary>
    public void AssertCounterInvariants(int w = 0)
    {
        var c = Workers[w].Counters;
        long forwarded = c.Get(Outcome.Forwarded), arp = c.Get(Outcome.ArpReplied), ndp = c.Get(Outcome.NdpReplied),
            tooBig = c.Get(Outcome.IcmpTooBigSent), resets = c.Get(Outcome.JoinReset) + c.Get(Outcome.FlowReset), dropped = c.Get(Outcome.Dropped);
        Assert.Equal(_received[w], forwarded + arp + ndp + tooBig + resets + dropped);
        long drops = 0;
        for (var r = DropReason.None; r < DropReason.Count; r++) if (r != DropReason.TxQueueFull) drops += c.Get(r);
        Assert.Equal(dropped, drops);
        long vipPackets = 0, backendPackets = 0;
        for (int v = 0; v < c.MaxVips; v++) vipPackets += c.GetVip(v, ServiceCounter.Packets);
        for (int b = 0; b < c.MaxBackends; b++) backendPackets += c.GetBackend(b, ServiceCounter.Packets);
        Assert.Equal(forwarded, vipPackets);
        Assert.Equal(forwarded, backendPackets);
        Assert.Equal(forwarded + tooBig + c.Get(DropReason.NoHeadroom) + c.Get(DropReason.EncapTooBigNoDf) + c.Get(DropReason.EncapTooBigIcmpError),
            c.Get(GlobalCounter.FlowHits) + c.Get(GlobalCounter.FlowInserts) + c.Get(GlobalCounter.FlowRepins) + c.Get(GlobalCounter.MaglevSteered)
            + c.Get(GlobalCounter.HandshakePinsRefused));
        Assert.Equal(c.Get(GlobalCounter.JoinsSeen), c.Get(GlobalCounter.JoinsByEncryptedToken) + c.Get(GlobalCounter.JoinsByLearnedToken)
            + c.Get(GlobalCounter.JoinsByAnnouncedPort) + c.Get(GlobalCounter.JoinsUnplaceable));
        Assert.Equal(c.Get(GlobalCounter.JoinsUnplaceable), resets + c.Get(DropReason.JoinUnplaceable)
            + c.Get(DropReason.ResetNotPossible));
        Assert.True(c.Get(GlobalCounter.JoinsWithCollidedToken) <= c.Get(GlobalCounter.JoinsUnplaceable));
    }

    // ---- tokens and frames ----

    /// <summary>A minter for a backend's server id holding the keys of <paramref name="keyIds"/>, minting under <paramref name="current"/>.</summary>
    public static TokenMinter Minter(int serverId, int current = 0, params int[] keyIds)
    {
        if (keyIds.Length == 0) keyIds = [0, 1, 2];
        return new TokenMinter(keyIds.ToDictionary(i => i, i => Keys[i]), current, ServerIdBits, (uint)serverId);
    }

    public static uint Token(string backend, int keyId = 0) => Minter(ServerIdOf(backend), keyId).Mint();

    public static string Client(int i) => $"198.51.{100 + (i >> 8 & 0xff)}.{i & 0xff}";

    public static byte[] Tcp(string src, ushort sport, string dst, ushort dport, TcpFlags flags, byte[]? options = null,
        uint seq = 1000, uint ack = 0, int payload = 0)
    {
        var b = FrameBuilder.Ethernet(ClientMac, OutsideMac);
        b = dst.Contains(':') ? b.Ipv6(src, dst) : b.Ipv4(src, dst);
        return b.Tcp(sport, dport, flags, seq, ack, options: options).Payload(new byte[payload]).Build();
    }

    public static byte[] JoinSyn(string src, ushort sport, string vip, uint token, ushort dport = 80, uint seq = 1000) =>
        Tcp(src, sport, vip, dport, TcpFlags.Syn, [.. TcpOptions.Mss(1460), .. TcpOptions.MpJoinSyn(token, 0x01020304)], seq);

    /// <summary>The MP_CAPABLE SYN of an initial subflow (v1: no key).</summary>
    public static byte[] CapableSyn(string src, ushort sport, string vip) =>
        Tcp(src, sport, vip, 80, TcpFlags.Syn, [.. TcpOptions.Mss(1460), .. TcpOptions.MpCapable()]);

    /// <summary>The client's third ACK: MP_CAPABLE with its own key and the server's echoed.</summary>
    public static byte[] ThirdAck(string src, ushort sport, string vip, ulong clientKey, ulong serverKey) =>
        Tcp(src, sport, vip, 80, TcpFlags.Ack, TcpOptions.MpCapable(clientKey, serverKey), seq: 1001, ack: 5001);

    public static byte[] Data(string src, ushort sport, string vip, ushort dport = 80, int payload = 100) =>
        Tcp(src, sport, vip, dport, TcpFlags.Ack | TcpFlags.Psh, seq: 1001, ack: 5001, payload: payload);

    static BackendOptions B(string name, int i) => new()
    {
        Name = name, Address = $"10.0.0.{11 + i}", Mac = $"02:00:00:00:01:{i + 1:x2}", Port = "inside",
        ServerId = ServerIdOf(name), AnnouncedPort = AnnouncedPortOf(name),
    };

    static VipOptions V(string name, string address, params string[] joins) =>
        new() { Name = name, Address = address, Port = 80, Protocol = "tcp", Pool = "mp", Joins = [.. joins.Select(OptionNames.JoinModes.Parse)] };

    public static ApplianceOptions DefaultOptions() => new()
    {
        Cores = [1],
        Ports =
        [
            new PortOptions { Name = "outside", Device = "net_null0", Mac = OutsideMac, Addresses = ["192.0.2.1", "2001:db8::1"] },
            new PortOptions { Name = "inside", Device = "net_null1", Mac = InsideMac, Addresses = ["10.0.0.1"] },
        ],
        Pools = [new PoolOptions { Name = "mp", Forwarding = ForwardingMode.L2Dsr, MaglevSize = 251, Backends = [.. Backends.Select(B)] }],
        Vips =
        [
            V("enc", EncVip, "encrypted-token"),
            V("learn", LearnVip, "learned-token"),
            V("ann", AnnVip, "announced-port"),
            V("addr", AddrVip, "announced-address"),
            V("enc-learn", EncLearnVip, "encrypted-token", "learned-token"),
            V("learn-enc", LearnEncVip, "learned-token", "encrypted-token"),
            V("plain", PlainVip),
            V("enc-ann", EncAnnVip, "encrypted-token", "announced-port"),
            V("enc6", Enc6Vip, "encrypted-token"),
        ],
        Mptcp = new Switchyard.Management.Options.MptcpOptions
        {
            TokenKeys = [.. Enumerable.Range(0, 3).Select(i => new TokenKeyOptions { Id = i, Key = Convert.ToHexString(Keys[i]) })],
            ServerIdBits = ServerIdBits,
            LearnedTokenCapacity = 1024,
            LearnedTokenIdleTimeoutSeconds = LearnedIdleSeconds,
        },
        Dataplane = new DataplaneOptions { MaxBackends = 16, MaxVips = 32 },
    };

    public void Dispose()
    {
        foreach (var w in Workers) w.Dispose();
        Learned.Dispose();
        _burst.Dispose();
    }
}
