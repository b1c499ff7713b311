using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Pipeline;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Management.Compile;
using Switchyard.Management.Options;
using Switchyard.Tests.Infrastructure;

namespace Switchyard.Benchmarks;

/// <summary>The traffic a <see cref="BurstRig"/> replays.</summary>
public enum TrafficMix
{
    /// <summary>Established TCP flows (ACK + 6 bytes of data, 60-byte frames) to an L2 DSR pool: flow-table hits.</summary>
    TcpEstablishedL2Dsr,
    /// <summary>The same flows with IMIX frame sizes (7:4:1 of 60, 590 and 1514 bytes, no FCS).</summary>
    TcpEstablishedL2DsrImix,
    /// <summary>Established TCP flows to an IPIP pool (outer IPv4 header written into the headroom).</summary>
    TcpEstablishedIpip,
    /// <summary>A SYN flood: every frame of every burst is a new flow (its source port changes on each
    /// replay), so each packet misses, takes a Maglev choice and inserts; once the table is full,
    /// inserts evict.</summary>
    SynFlood,
    /// <summary>Established UDP flows (pinned by their first packet) to an L2 DSR pool.</summary>
    Udp,
    /// <summary>Established IPv6 TCP flows to an L2 DSR pool.</summary>
    Ipv6Tcp,
    /// <summary>An MP_JOIN SYN flood to a VIP with Joins ["encrypted-token"]: every token minted per
    /// token-format.md (key ids 0..2 in turn) for one of the pool's server ids; as in the SYN flood, the
    /// source port changes on each replay, so each join misses, is decrypted (batched, per burst),
    /// placed on its server's backend and inserted.</summary>
    JoinEncryptedToken,
    /// <summary>An MP_JOIN SYN flood to a VIP with Joins ["learned-token"]: set-up opens one MPTCP
    /// connection per frame (SYN with MP_CAPABLE, then the third ACK with both keys, from which the
    /// appliance learns the server key's token by SHA-256); the timed joins carry those tokens from new
    /// 5-tuples (new source port on each replay): a learned-table lookup, placement and insert each.</summary>
    JoinLearnedToken,
    /// <summary>QUIC short headers to a UDP VIP in QUIC-LB mode, every frame with its own CID (config 0,
    /// AES four-pass, 3-octet server ids of w1..w16 in turn, 6-octet nonce i): the DCIDs of a burst are
    /// decoded together (eight AES pipelines), each server id looked up and the 4-tuple pin checked.</summary>
    QuicShortHeader,
}

/// <summary>
/// The real <see cref="BurstProcessor"/> on a <see cref="MemoryPort"/> with a snapshot compiled by
/// <see cref="SnapshotCompiler"/>: what <see cref="BurstBenchmarks"/> times and what the test suite's
/// allocation guard runs. <see cref="Run"/> replays <see cref="FramesPerRun"/> frames, one flow each,
/// as <see cref="BurstsPerRun"/> bursts of 32: restore the frames, receive, process.
/// </summary>
public sealed unsafe class BurstRig : IDisposable
{
    public const int BurstsPerRun = 32;
    public const int FramesPerRun = BurstsPerRun * Burst.Size; // 1024 frames, 2.2 MB of slots: L2 misses, as with real mbufs
    const int TcpSourcePortOffset = 14 + 20; // Ethernet + IPv4 without options

    readonly MemoryPort _port;
    readonly Burst _burst = new();
    readonly BurstProcessor _processor;
    readonly bool _synFlood;  // SYN and join floods: a new 5-tuple per frame on each replay
    readonly LearnedTokenTable? _learned;
    uint _now = 1;            // ms; one burst per ms
    ushort _generation;       // SYN flood: source port of this replay

    public TrafficMix Mix { get; }
    public WorkerCounters Counters => _processor.Counters;
    public MemoryPort Port => _port;
    public Burst LastBurst => _burst;

    public BurstRig(TrafficMix mix)
    {
        Mix = mix;
        var options = Options();
        var snapshot = new SnapshotCompiler().Compile(options, new Dictionary<string, ulong>());
        if (mix == TrafficMix.JoinLearnedToken)
            _learned = new LearnedTokenTable(options.Mptcp.LearnedTokenCapacity, (uint)options.Mptcp.LearnedTokenIdleTimeoutSeconds * 1000u);
        _processor = new BurstProcessor(new SnapshotHolder(snapshot), new FlowTable(options.Dataplane.FlowTableEntries),
            new WorkerCounters(options.Dataplane.MaxVips, options.Dataplane.MaxBackends), _learned);
        _synFlood = mix is TrafficMix.SynFlood or TrafficMix.JoinEncryptedToken or TrafficMix.JoinLearnedToken;
        _port = new MemoryPort(Frames(mix));
        if (mix == TrafficMix.JoinLearnedToken)
        {
            // Open the MPTCP connections whose tokens the joins carry: SYN + MP_CAPABLE, then the third
            // ACK with both keys (the appliance learns the token of the receiver's, i.e. the server's, key).
            foreach (bool third in new[] { false, true })
            {
                using var opening = new MemoryPort([.. Enumerable.Range(0, FramesPerRun).Select(i => MpCapableFrame(i, third))]);
                for (int b = 0; b < BurstsPerRun; b++)
                {
                    opening.Receive(_burst, b * Burst.Size, Burst.Size);
                    _processor.Process(_burst, 0, _now);
                }
            }
        }
        else if (!_synFlood)
        {
            // Open every flow once (SYN for TCP, the first datagram for UDP), so the timed replays are
            // established traffic.
            using var opening = new MemoryPort(OpeningFrames(mix));
            for (int b = 0; b < BurstsPerRun; b++)
            {
                opening.Receive(_burst, b * Burst.Size, Burst.Size);
                _processor.Process(_burst, 0, _now);
            }
        }
    }

    /// <summary>Replays every frame once; returns how many were forwarded (so the work is not dead code).</summary>
    public int Run()
    {
        int forwarded = 0;
        ushort generation = ++_generation;
        for (int b = 0; b < BurstsPerRun; b++)
        {
            int first = b * Burst.Size;
            _port.Reset(first, Burst.Size);
            _port.Receive(_burst, first, Burst.Size);
            if (_synFlood)
            {
                // A new source port per replay makes each SYN a flow the table has not seen. The TCP
                // checksum is left stale: the processor does not verify it (a NIC would have).
                for (int i = 0; i < Burst.Size; i++)
                {
                    byte* sp = _burst.Data[i] + TcpSourcePortOffset;
                    sp[0] = (byte)(generation >> 8);
                    sp[1] = (byte)generation;
                }
            }
            _processor.Process(_burst, 0, _now++);
            for (int i = 0; i < Burst.Size; i++) forwarded += _burst.OutPort[i] == 1 ? 1 : 0;
        }
        return forwarded;
    }

    /// <summary>One client port (index 0) and one backend-side port (index 1); 16 backends per pool.</summary>
    public static ApplianceOptions Options()
    {
        BackendOptions[] Backends(string prefix, Func<int, string> address, bool mac) =>
            Enumerable.Range(1, 16).Select(i => new BackendOptions
            {
                Name = $"{prefix}{i}",
                Address = address(i),
                Mac = mac ? $"02:00:00:00:10:{i:x2}" : null,
                Port = "inside",
                ServerId = prefix == "w" ? ServerIdBase + i : null,
                QuicServerId = prefix == "w" ? QuicServerIdHex(i) : null,
            }).ToArray();
        return new ApplianceOptions
        {
            Cores = [1],
            Mptcp = new Switchyard.Management.Options.MptcpOptions
            {
                ServerIdBits = ServerIdBits,
                TokenKeys = [.. TokenKeyBytes.Select((k, id) => new TokenKeyOptions { Id = id, Key = Convert.ToHexString(k) })],
            },
            Ports =
            [
                new PortOptions { Name = "outside", Device = "net_null0", Mac = "02:00:00:00:00:01", Addresses = ["192.0.2.1", "2001:db8::1"] },
                new PortOptions { Name = "inside", Device = "net_null1", Mac = "02:00:00:00:00:02", GatewayMac = "02:00:00:00:00:fe", Mtu = 9000, Addresses = ["10.0.0.1"] },
            ],
            Pools =
            [
                new PoolOptions { Name = "web", Forwarding = ForwardingMode.L2Dsr, Backends = Backends("w", i => $"10.0.0.{10 + i}", mac: true) },
                new PoolOptions { Name = "tun", Forwarding = ForwardingMode.Ipip, EncapSourceV4 = "198.18.200.0/24", Backends = Backends("t", i => $"10.0.1.{10 + i}", mac: false) },
            ],
            Vips =
            [
                new VipOptions { Name = "http", Address = "192.0.2.100", Port = 80, Protocol = "tcp", Pool = "web" },
                new VipOptions { Name = "tunnelled", Address = "192.0.2.101", Port = 80, Protocol = "tcp", Pool = "tun" },
                new VipOptions { Name = "dns", Address = "192.0.2.53", Port = 53, Protocol = "udp", Pool = "web" },
                new VipOptions { Name = "http6", Address = "2001:db8::100", Port = 80, Protocol = "tcp", Pool = "web" },
                new VipOptions { Name = "mptcp-enc", Address = "192.0.2.102", Port = 80, Protocol = "tcp", Pool = "web", Joins = [JoinMode.EncryptedToken] },
                new VipOptions { Name = "mptcp-learn", Address = "192.0.2.103", Port = 80, Protocol = "tcp", Pool = "web", Joins = [JoinMode.LearnedToken] },
                new VipOptions { Name = "quic", Address = "192.0.2.104", Port = 443, Protocol = "udp", Pool = "web", QuicLb = true },
            ],
            QuicLb = new QuicLbOptions { Configs = [new QuicLbConfigOptions { ConfigId = 0, ServerIdLength = 3, NonceLength = 6, Key = Convert.ToHexString(QuicKey) }] },
        };
    }

    const int ServerIdBits = 10, ServerIdBase = 100; // backend w1..w16 has server id 101..116

    /// <summary>The three token keys (ids 0, 1, 2) the join mixes mint with.</summary>
    static readonly byte[][] TokenKeyBytes =
    [
        Convert.FromHexString("000102030405060708090a0b0c0d0e0f"),
        Convert.FromHexString("5377697463687961726420746f6b656e"),
        Convert.FromHexString("c0ffee00deadbeef0123456789abcdef"),
    ];

    /// <summary>The encrypted token of frame i: server id 101 + i % 16, nonce i, key id i % 3 (token-format.md).</summary>
    public static uint EncryptedToken(int i)
    {
        var keys = new TokenKeys(ServerIdBits, [.. TokenKeyBytes.Select((k, id) => (id, k))]);
        return TokenCipher.Encrypt(TokenCipher.ComposeX((uint)(ServerIdBase + 1 + i % 16), (uint)i, ServerIdBits), i % 3, keys);
    }

    static readonly byte[] QuicKey = Convert.FromHexString("8f95f09245765f80256934e50c66207f");
    static string QuicServerIdHex(int backend) => $"51{backend:x4}";

    /// <summary>A QUIC short header (1-RTT) whose DCID is a QUIC-LB CID of backend w(1 + i % 16) with nonce i.</summary>
    public static byte[] QuicShortHeader(int i)
    {
        var config = new Switchyard.Dataplane.Datapath.Quic.QuicLbConfig(0, 3, 6, QuicKey);
        var cid = new byte[config.CidLength];
        var nonce = new byte[6];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(nonce.AsSpan(2), i);
        Switchyard.Dataplane.Datapath.Quic.QuicLbCipher.Encode(config, (byte)(config.CidLength - 1), Convert.FromHexString(QuicServerIdHex(1 + i % 16)), nonce, cid);
        return [0x40, .. cid, .. new byte[21]]; // + packet number and AEAD tag stand-in
    }

    /// <summary>The server key of learned-token connection i (the client's key is its complement).</summary>
    static ulong ServerKey(int i) => 0x5357_4954_4348_0000UL | (uint)i;

    /// <summary>Learned-token set-up frame of connection i: its SYN (MP_CAPABLE, no key, v1) or its third
    /// ACK (MP_CAPABLE with the client's and the server's keys).</summary>
    static byte[] MpCapableFrame(int i, bool thirdAck) => FrameBuilder.Ethernet(Mac, Ours).Ipv4(Client4(i), "192.0.2.103")
        .Tcp((ushort)(40000 + i), 80, thirdAck ? TcpFlags.Ack : TcpFlags.Syn,
            options: thirdAck ? TcpOptions.MpCapable(~ServerKey(i), ServerKey(i)) : TcpOptions.MpCapable())
        .PadTo(60).Build();

    static string Client4(int i) => $"198.51.{100 + (i >> 8)}.{i & 0xff}";
    static string Client6(int i) => $"2001:db8:c::{i:x}";
    const string Mac = "02:00:00:00:00:c1", Ours = "02:00:00:00:00:01";

    /// <summary>IMIX frame size (bytes, no FCS) of frame i: 7 x 60, 4 x 590, 1 x 1514 in every 12.</summary>
    static int ImixSize(int i) => (i % 12) switch { < 7 => 60, < 11 => 590, _ => 1514 };

    static byte[] Frame(TrafficMix mix, int i, bool opening)
    {
        var tcp = opening ? TcpFlags.Syn : TcpFlags.Ack | TcpFlags.Psh;
        ushort sport = (ushort)(10000 + i);
        byte[] data = opening ? [] : "GET /\r\n"u8.ToArray();
        return mix switch
        {
            TrafficMix.TcpEstablishedL2Dsr => FrameBuilder.Ethernet(Mac, Ours).Ipv4(Client4(i), "192.0.2.100")
                .Tcp(sport, 80, tcp).Payload(data).PadTo(60).Build(),
            TrafficMix.TcpEstablishedL2DsrImix => FrameBuilder.Ethernet(Mac, Ours).Ipv4(Client4(i), "192.0.2.100")
                .Tcp(sport, 80, tcp).Payload(opening ? [] : new byte[ImixSize(i) - 54]).PadTo(60).Build(),
            TrafficMix.TcpEstablishedIpip => FrameBuilder.Ethernet(Mac, Ours).Ipv4(Client4(i), "192.0.2.101")
                .Tcp(sport, 80, tcp).Payload(data).PadTo(60).Build(),
            TrafficMix.SynFlood => FrameBuilder.Ethernet(Mac, Ours).Ipv4(Client4(i), "192.0.2.100")
                .Tcp(sport, 80, TcpFlags.Syn, options: TcpOptions.Mss(1460)).PadTo(60).Build(),
            TrafficMix.Udp => FrameBuilder.Ethernet(Mac, Ours).Ipv4(Client4(i), "192.0.2.53")
                .Udp(sport, 53).Payload(new byte[18]).PadTo(60).Build(),
            TrafficMix.Ipv6Tcp => FrameBuilder.Ethernet(Mac, Ours).Ipv6(Client6(i), "2001:db8::100")
                .Tcp(sport, 80, tcp).Payload(data).Build(),
            TrafficMix.JoinEncryptedToken => FrameBuilder.Ethernet(Mac, Ours).Ipv4(Client4(i), "192.0.2.102")
                .Tcp(sport, 80, TcpFlags.Syn, options: TcpOptions.MpJoinSyn(EncryptedToken(i), (uint)i)).PadTo(60).Build(),
            TrafficMix.JoinLearnedToken => FrameBuilder.Ethernet(Mac, Ours).Ipv4(Client4(i), "192.0.2.103")
                .Tcp(sport, 80, TcpFlags.Syn, options: TcpOptions.MpJoinSyn(TokenLearning.Token(ServerKey(i)), (uint)i)).PadTo(60).Build(),
            TrafficMix.QuicShortHeader => FrameBuilder.Ethernet(Mac, Ours).Ipv4(Client4(i), "192.0.2.104")
                .Udp(sport, 443).Payload(QuicShortHeader(i)).PadTo(60).Build(),
            _ => throw new ArgumentOutOfRangeException(nameof(mix)),
        };
    }

    /// <summary>The replayed frames of a mix: <see cref="FramesPerRun"/> flows, one frame each.</summary>
    public static byte[][] Frames(TrafficMix mix) => [.. Enumerable.Range(0, FramesPerRun).Select(i => Frame(mix, i, opening: false))];

    /// <summary>The frames that open the mix's flows (SYN, first datagram).</summary>
    public static byte[][] OpeningFrames(TrafficMix mix) => [.. Enumerable.Range(0, FramesPerRun).Select(i => Frame(mix, i, opening: true))];

    public void Dispose()
    {
        _processor.Dispose();
        _learned?.Dispose();
        _burst.Dispose();
        _port.Dispose();
    }
}
