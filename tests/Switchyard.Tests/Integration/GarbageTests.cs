using System.Buffers.Binary;
using Switchyard.Tests.Infrastructure;
using static Switchyard.Tests.Integration.TestNetwork;

namespace Switchyard.Tests.Integration;

/// <summary>
/// A few thousand random and mutated frames (deterministic seed): the appliance must not crash, must count
/// every frame exactly once, and whatever it sends must still be well formed where it vouches for it.
/// </summary>
[Collection(ApplianceCollection.Name)]
[Trait("Category", "Integration")]
public sealed class GarbageTests
{
    static List<byte[]> Templates()
    {
        var t = new List<byte[]>();
        ushort sp = 30000;
        foreach (var v in Vips)
        {
            t.Add(Syn(v, sp++));
            t.Add(Syn(v, sp++, vlan: 7));
            if (v.Protocol == "tcp") t.Add(Data(v, sp++, "garbage-template"));
            if (!v.V6) t.Add(Syn(v, sp++, ipOptions: [1, 1, 0x94, 4, 0, 0]));
        }
        t.Add(Ip(Eth(), Client4, Udp4.Address).Udp(sp++, 53).Payload("query").Build());
        t.Add(Ip(Eth(), Client6, Udp6.Address).Udp(sp++, 53).Payload("query").Build());
        t.AddRange(FrameBuilder.Ethernet(ClientMac, PortMac).Ipv4(Client4, Udp4.Address, dontFragment: false, id: 9)
            .Udp(sp++, 53).Payload(new byte[1200]).BuildFragments(500));
        t.AddRange(FrameBuilder.Ethernet(ClientMac, PortMac).Ipv6(Client6, Dsr6.Address).HopByHop().DestinationOptions()
            .Tcp(sp++, 80, TcpFlags.Ack).Payload(new byte[1200]).BuildFragments(500));
        var quoted = IpPacket(FrameBuilder.Ethernet(PortMac, ClientMac).Ipv4(Dsr4.Address, Client4).Tcp(80, 30000, TcpFlags.Ack));
        t.Add(FrameBuilder.Ethernet(RouterMac, PortMac).Ipv4(Router4, Dsr4.Address).Icmp(3, 4, rest: 1400).Payload(quoted).Build());
        var quoted6 = IpPacket(FrameBuilder.Ethernet(PortMac, ClientMac).Ipv6(IpipV6.Address, Client6).Tcp(80, 30000, TcpFlags.Ack));
        t.Add(FrameBuilder.Ethernet(RouterMac, PortMac).Ipv6(Router6, IpipV6.Address).Icmpv6(2, 0, rest: 1280).Payload(quoted6).Build());
        t.Add(FrameBuilder.ArpRequest(ClientMac, Client4, Dsr4.Address));
        t.Add(FrameBuilder.NeighborSolicitation(ClientMac, Client6, Dsr6.Address));
        var big = Ip(Eth(), Client4, IpipV4.Address).Tcp(sp++, 80, TcpFlags.Ack).Payload(new byte[1460]).Build();
        t.Add(big);
        t.Add(Ip(Eth(), Client6, IpipV6.Address).Tcp(sp++, 80, TcpFlags.Ack).Payload(new byte[1440]).Build());
        return t;
    }

    static List<byte[]> Garbage(int count, int seed)
    {
        var rnd = new Random(seed);
        var templates = Templates();
        var frames = new List<byte[]>(count);
        for (int i = 0; i < count; i++)
        {
            byte[] f;
            switch (rnd.Next(10))
            {
                case 0: // pure noise, any length up to a full frame (a few empty or runt)
                    f = new byte[rnd.Next(0, 1515)];
                    rnd.NextBytes(f);
                    break;
                case 1: // noise behind a plausible Ethernet header and EtherType
                {
                    f = new byte[rnd.Next(14, 200)];
                    rnd.NextBytes(f);
                    FrameBuilder.Mac(PortMac).CopyTo(f, 0);
                    ushort[] types = [0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8];
                    BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), types[rnd.Next(types.Length)]);
                    if (f.Length > 14 && f[13] == 0x00 && f[12] == 0x08) f[14] = (byte)(0x40 | rnd.Next(16)); // IPv4 version, random IHL
                    if (f.Length > 14 && f[12] == 0x86) f[14] = (byte)(0x60 | rnd.Next(16));
                    break;
                }
                case 2: // truncated template
                {
                    var t = templates[rnd.Next(templates.Count)];
                    f = t[..rnd.Next(0, t.Length)];
                    break;
                }
                case 3: // template with a random length field set to something random
                {
                    f = (byte[])templates[rnd.Next(templates.Count)].Clone();
                    int[] at = [16, 18, 38, 46, 54 + 4, 58, 66];   // IPv4 total, IPv6 payload, UDP/TCP fields at common offsets
                    int pos = at[rnd.Next(at.Length)];
                    if (pos + 1 < f.Length) BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(pos), (ushort)rnd.Next(65536));
                    break;
                }
                default: // template with 1..6 random bytes changed in the first 80 (the headers)
                {
                    f = (byte[])templates[rnd.Next(templates.Count)].Clone();
                    int n = rnd.Next(1, 7);
                    for (int k = 0; k < n && f.Length > 0; k++) f[rnd.Next(Math.Min(80, f.Length))] = (byte)rnd.Next(256);
                    break;
                }
            }
            frames.Add(f);
        }
        // Keep the unmodified templates in too: some valid traffic goes through among the garbage.
        frames.AddRange(templates);
        return frames;
    }

    [Fact]
    public void Thousands_of_random_and_mutated_frames_neither_crash_it_nor_break_the_counters()
    {
        var frames = Garbage(4000, seed: 20240601);
        using var run = Appliance.Run("garbage", frames, TestNetwork.Apply);
        run.AssertCleanExit();
        CountersInvariants.AssertHold(run.Counters);
        Assert.Equal(frames.Count, run.Total("rxPackets"));
        Assert.Equal(run.Output.Count, run.Total("txPackets"));
        Assert.True(run.Total("dropped") > frames.Count / 3, "most garbage must be dropped");
        Assert.True(run.Total("forwarded") > 0, "the valid templates must still be forwarded");
        var port = run.Counters.GetProperty("ports")[0];
        Assert.Equal(0, port.GetProperty("rxMissed").GetInt64() + port.GetProperty("rxErrors").GetInt64() + port.GetProperty("txErrors").GetInt64());

        // What the appliance vouches for in its output: the first (outer or only) IPv4 header checksum (the parser
        // drops bad ones, encapsulation computes a new one) and the checksums of the answers it builds itself.
        var problems = new List<string>();
        foreach (var p in Tshark.Fields(run.OutputPcap, ["eth.src", "icmp.type", "icmpv6.type", "ip.src", "ipv6.src", "arp.opcode"], extraArgs: DecodeAs))
        {
            if (p["eth.src"] != PortMac) problems.Add($"frame {p.Number}: eth.src {p["eth.src"]}");
            if (p.All("ip.checksum.status") is { Length: > 0 } ip && ip[0] != Tshark.StatusGood) problems.Add($"frame {p.Number}: outer IPv4 checksum {Tshark.Describe(ip[0])}");
            bool ourIcmp = p["icmp.type"] == "3" && SameAddress(p["ip.src"], PortV4);
            bool ourIcmp6 = (p["icmpv6.type"] == "2" && SameAddress(p["ipv6.src"], PortV6)) || p["icmpv6.type"] == "136";
            if (ourIcmp && p["icmp.checksum.status"] != Tshark.StatusGood) problems.Add($"frame {p.Number}: our ICMP checksum {p["icmp.checksum.status"]}");
            if (ourIcmp6 && p["icmpv6.checksum.status"] != Tshark.StatusGood) problems.Add($"frame {p.Number}: our ICMPv6 checksum {p["icmpv6.checksum.status"]}");
        }
        Assert.True(problems.Count == 0, $"(dir {run.Dir})\n  " + string.Join("\n  ", problems.Take(30)));
    }
}
