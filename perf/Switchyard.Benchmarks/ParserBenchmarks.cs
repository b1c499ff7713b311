using BenchmarkDotNet.Attributes;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Tests.Infrastructure;

namespace Switchyard.Benchmarks;

/// <summary>Frame shapes for <see cref="ParserBenchmarks"/>.</summary>
public enum ParserCase
{
    /// <summary>IPv4 + TCP with MSS, window scale, SACK-permitted and timestamps (a typical SYN).</summary>
    Ipv4Tcp,
    /// <summary>IPv6 + a destination-options header + TCP with timestamps.</summary>
    Ipv6TcpExtHeader,
    /// <summary>802.1Q tag + IPv4 + TCP with timestamps.</summary>
    VlanIpv4Tcp,
}

/// <summary>
/// <see cref="PacketParser.Parse"/> alone, over <see cref="Frames"/> distinct frames in a memory port
/// (the parser only reads, so nothing is restored between invokes). Time is per frame.
/// </summary>
[MemoryDiagnoser]
public unsafe class ParserBenchmarks
{
    public const int Frames = 1024;

    [ParamsAllValues]
    public ParserCase Case { get; set; }

    MemoryPort _port = null!;
    PacketInfo _info;

    [GlobalSetup]
    public void Setup() => _port = new MemoryPort([.. Enumerable.Range(0, Frames).Select(i => Frame(Case, i))]);

    [GlobalCleanup]
    public void Cleanup() => _port.Dispose();

    static byte[] Frame(ParserCase c, int i)
    {
        ushort sport = (ushort)(10000 + i);
        string client = $"198.51.{100 + (i >> 8)}.{i & 0xff}";
        var eth = FrameBuilder.Ethernet("02:00:00:00:00:c1", "02:00:00:00:00:01");
        return c switch
        {
            ParserCase.Ipv4Tcp => eth.Ipv4(client, "192.0.2.100")
                .Tcp(sport, 80, TcpFlags.Syn, options: [.. TcpOptions.Mss(1460), .. TcpOptions.SackPermitted(), .. TcpOptions.Timestamps(1, 0), .. TcpOptions.WindowScale(7)]).Build(),
            ParserCase.Ipv6TcpExtHeader => eth.Ipv6($"2001:db8:c::{i:x}", "2001:db8::100").DestinationOptions([1, 2, 0, 0])
                .Tcp(sport, 80, TcpFlags.Ack, options: TcpOptions.Timestamps(1, 2)).Build(),
            ParserCase.VlanIpv4Tcp => eth.Vlan(100).Ipv4(client, "192.0.2.100")
                .Tcp(sport, 80, TcpFlags.Ack, options: TcpOptions.Timestamps(1, 2)).Build(),
            _ => throw new ArgumentOutOfRangeException(nameof(c)),
        };
    }

    [Benchmark(OperationsPerInvoke = Frames)]
    public int Parse()
    {
        int ok = 0;
        MemoryPort port = _port;
        for (int i = 0; i < Frames; i++)
            ok += PacketParser.Parse(port.FrameData(i), port.FrameLength(i), ref _info) == DropReason.None ? 1 : 0;
        return ok;
    }
}
