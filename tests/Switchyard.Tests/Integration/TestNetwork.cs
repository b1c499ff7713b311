using System.Net;
using System.Text.Json.Nodes;
using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Integration;

/// <summary>
/// The configuration the packet tests run against: one port with addresses, a gateway MAC, and a pool per
/// forwarding mode and fragment policy, with IPv4 and IPv6, TCP, UDP and whole-address VIPs.
/// The same objects drive the config JSON and the checks, so they cannot disagree.
/// </summary>
public static class TestNetwork
{
    public const string PortMac = "02:5e:00:00:00:01", GatewayMac = "02:5e:00:00:00:fe";
    public const string ClientMac = "02:c1:00:00:00:01", RouterMac = "02:c1:00:00:00:fe";
    public const string PortV4 = "198.51.100.2", PortV6 = "2001:db8:100::2";
    public const string Client4 = "198.51.100.77", Client4b = "198.51.100.78", Router4 = "198.51.100.254";
    public const string Client6 = "2001:db8:100::77", Client6b = "2001:db8:100::78", Router6 = "2001:db8:100::fe";
    public const string EncapPrefixV4 = "192.0.2.0/24", EncapPrefixV6 = "2001:db8:ee::/64";
    /// <summary>GUE variant 1 carries no inner-version field tshark can use, so each family gets its own port.</summary>
    public const int GuePort = 6080, GuePortV6 = 6081, Mtu = 1500;

    public enum Mode { L2Dsr, Ipip, Gue, Gre }

    public sealed record Backend(string Name, string Address, string? Mac);
    public sealed record Pool(string Name, Mode Mode, string Fragments, Backend[] Backends, int GuePort = GuePort);
    public sealed record Vip(string Name, string Address, int Port, string Protocol, Pool Pool)
    {
        public bool V6 => Address.Contains(':');
    }

    static Backend[] Backends(string prefix, string baseAddress, int n, string? macPrefix) =>
        Enumerable.Range(1, n).Select(i => new Backend($"{prefix}-{i}",
            baseAddress.Contains(':') ? $"{baseAddress}{i}" : $"{baseAddress}{i}",
            macPrefix is null ? null : $"{macPrefix}:{i:x2}")).ToArray();

    public static readonly Pool Dsr = new("dsr", Mode.L2Dsr, "hash", Backends("dsr", "10.1.0.", 3, "02:be:01:00:00"));
    public static readonly Pool Ipip4 = new("ipip4", Mode.Ipip, "hash", Backends("ipip4", "10.2.0.", 3, null)); // via the gateway
    public static readonly Pool Ipip6 = new("ipip6", Mode.Ipip, "hash", Backends("ipip6", "2001:db8:2::", 3, "02:be:02:00:00"));
    public static readonly Pool Gue4 = new("gue4", Mode.Gue, "hash", Backends("gue4", "10.3.0.", 2, "02:be:03:00:00"));
    public static readonly Pool Gue6 = new("gue6", Mode.Gue, "hash", Backends("gue6", "2001:db8:3::", 2, null), GuePortV6);
    public static readonly Pool Gre4 = new("gre4", Mode.Gre, "hash", Backends("gre4", "10.4.0.", 2, null));
    public static readonly Pool Gre6 = new("gre6", Mode.Gre, "hash", Backends("gre6", "2001:db8:4::", 2, "02:be:04:00:00"));
    public static readonly Pool FragDrop = new("fragdrop", Mode.L2Dsr, "drop", Backends("fdrop", "10.5.0.", 2, "02:be:05:00:00"));
    public static readonly Pool[] Pools = [Dsr, Ipip4, Ipip6, Gue4, Gue6, Gre4, Gre6, FragDrop];

    public static readonly Vip Dsr4 = new("dsr4", "203.0.113.10", 80, "tcp", Dsr);
    public static readonly Vip Dsr6 = new("dsr6", "2001:db8:10::10", 80, "tcp", Dsr);
    public static readonly Vip IpipV4 = new("ipip4", "203.0.113.11", 80, "tcp", Ipip4);
    public static readonly Vip IpipV6 = new("ipip6", "2001:db8:10::11", 80, "tcp", Ipip6);
    public static readonly Vip GueV4 = new("gue4", "203.0.113.12", 80, "tcp", Gue4);
    public static readonly Vip GueV6 = new("gue6", "2001:db8:10::12", 80, "tcp", Gue6);
    public static readonly Vip GreV4 = new("gre4", "203.0.113.13", 80, "tcp", Gre4);
    public static readonly Vip GreV6 = new("gre6", "2001:db8:10::13", 80, "tcp", Gre6);
    public static readonly Vip Udp4 = new("udp4", "203.0.113.20", 53, "udp", Dsr);
    public static readonly Vip Udp6 = new("udp6", "2001:db8:10::20", 53, "udp", Dsr);
    public static readonly Vip Any4 = new("any4", "203.0.113.30", 0, "any", Dsr);
    public static readonly Vip Any6 = new("any6", "2001:db8:10::30", 0, "any", Dsr);
    public static readonly Vip FragDrop4 = new("fdrop4", "203.0.113.40", 80, "tcp", FragDrop);
    public static readonly Vip FragDrop6 = new("fdrop6", "2001:db8:10::40", 80, "tcp", FragDrop);
    public static readonly Vip[] Vips = [Dsr4, Dsr6, IpipV4, IpipV6, GueV4, GueV6, GreV4, GreV6, Udp4, Udp6, Any4, Any6, FragDrop4, FragDrop6];

    /// <summary>Adds the port's addresses and MACs, the pools and the VIPs to a base configuration.</summary>
    public static void Apply(JsonObject config)
    {
        var port = (JsonObject)config["Ports"]![0]!;
        port["Mac"] = PortMac;
        port["GatewayMac"] = GatewayMac;
        port["Addresses"] = new JsonArray(PortV4, PortV6);
        port["Mtu"] = Mtu;
        var pools = new JsonArray();
        foreach (var p in Pools)
        {
            var backends = new JsonArray();
            foreach (var b in p.Backends)
            {
                var o = new JsonObject { ["Name"] = b.Name, ["Address"] = b.Address, ["Weight"] = 1 };
                if (b.Mac is not null) o["Mac"] = b.Mac;
                backends.Add(o);
            }
            var pool = new JsonObject
            {
                ["Name"] = p.Name,
                ["Forwarding"] = p.Mode.ToString().ToLowerInvariant(),
                ["Fragments"] = p.Fragments,
                ["MaglevSize"] = 1021,
                ["Backends"] = backends,
            };
            if (p.Mode != Mode.L2Dsr)
            {
                if (p.Backends.Any(b => !b.Address.Contains(':'))) pool["EncapSourceV4"] = EncapPrefixV4;
                if (p.Backends.Any(b => b.Address.Contains(':'))) pool["EncapSourceV6"] = EncapPrefixV6;
            }
            if (p.Mode == Mode.Gue) pool["GuePort"] = p.GuePort;
            pools.Add(pool);
        }
        config["Pools"] = pools;
        var vips = new JsonArray();
        foreach (var v in Vips)
            vips.Add(new JsonObject { ["Name"] = v.Name, ["Address"] = v.Address, ["Port"] = v.Port, ["Protocol"] = v.Protocol, ["Pool"] = v.Pool.Name });
        config["Vips"] = vips;
    }

    /// <summary>tshark arguments that make it dissect GUE (variant 1: IP right after the UDP header).</summary>
    public static readonly string[] DecodeAs = ["-d", $"udp.port=={GuePort},ip", "-d", $"udp.port=={GuePortV6},ipv6"];

    // ---- frame helpers (always from the client's MAC to the port's MAC) ----

    public static FrameBuilder Eth(ushort? vlan = null)
    {
        var b = FrameBuilder.Ethernet(ClientMac, PortMac);
        return vlan is { } v ? b.Vlan(v) : b;
    }

    public static FrameBuilder Ip(FrameBuilder b, string src, string dst, bool df = true, byte[]? options = null, ushort id = 1) =>
        dst.Contains(':') ? b.Ipv6(src, dst) : b.Ipv4(src, dst, dontFragment: df, options: options, id: id);

    public static string ClientFor(Vip v, bool second = false) => v.V6 ? (second ? Client6b : Client6) : (second ? Client4b : Client4);

    public static byte[] Syn(Vip v, ushort sport, ushort? vlan = null, byte[]? ipOptions = null, ushort? dport = null, string? src = null) =>
        Ip(Eth(vlan), src ?? ClientFor(v), v.Address, options: ipOptions)
            .Tcp(sport, dport ?? (ushort)v.Port, TcpFlags.Syn, seq: 1000, options: [.. TcpOptions.Mss(1460), .. TcpOptions.SackPermitted()]).Build();

    public static byte[] Data(Vip v, ushort sport, string tag, ushort? vlan = null, string? src = null) =>
        Ip(Eth(vlan), src ?? ClientFor(v), v.Address)
            .Tcp(sport, (ushort)v.Port, TcpFlags.Ack | TcpFlags.Psh, seq: 1001, ack: 5001, options: TcpOptions.Timestamps(7, 9)).Payload(tag).Build();

    /// <summary>The IP packet of a frame (its Ethernet header cut off).</summary>
    public static byte[] IpPacket(FrameBuilder b) => b.Build()[14..];

    public static byte[] MacBytes(string mac) => FrameBuilder.Mac(mac);
    public static bool SameAddress(string? a, string b) => a is not null && IPAddress.Parse(a).Equals(IPAddress.Parse(b));
}
