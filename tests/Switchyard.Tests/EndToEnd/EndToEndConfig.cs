using System.Text.Json;
using Switchyard.Demo;

namespace Switchyard.Tests.EndToEnd;

/// <summary>Writes an appliance configuration for a test topology: one af_packet port on the
/// appliance's veth, one worker, one L2 DSR pool holding every backend of the topology.</summary>
public static class EndToEndConfig
{
    /// <param name="joins">MPTCP join modes of the TCP VIPs (empty: MPTCP-unaware).</param>
    /// <param name="announcedPorts">Per backend, the VIP port it announces (announced-port mode).</param>
    public static string Write(Topology t, IReadOnlyList<int> weights, string dir, int tcpPort = 80, int udpPort = 0,
        string[]? joins = null, IReadOnlyList<int>? announcedPorts = null)
    {
        var backends = t.Backends.Select((b, i) =>
        {
            var d = new Dictionary<string, object> { ["Name"] = $"b{i + 1}", ["Address"] = b.V4!.ToString(), ["Mac"] = b.Mac, ["Weight"] = weights[i] };
            if (announcedPorts is not null) d["AnnouncedPort"] = announcedPorts[i];
            return d;
        }).ToArray();
        joins ??= [];
        var vips = new List<object>
        {
            new { Name = "tcp-v4", Address = t.VipV4.ToString(), Port = tcpPort, Protocol = "tcp", Pool = "p", Joins = joins },
        };
        if (t.VipV6 is not null) vips.Add(new { Name = "tcp-v6", Address = t.VipV6.ToString(), Port = tcpPort, Protocol = "tcp", Pool = "p", Joins = joins });
        if (udpPort != 0) vips.Add(new { Name = "udp-v4", Address = t.VipV4.ToString(), Port = udpPort, Protocol = "udp", Pool = "p" });
        var config = new
        {
            Eal = Eal(t),
            Ports = LanPort(t),
            Workers = OneWorker(),
            Pools = new[] { new { Name = "p", Forwarding = "l2dsr", Backends = backends } },
            Vips = vips,
            Dataplane = new { FlowTableEntries = 65536 },
        };
        var path = Path.Combine(dir, "appliance.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    /// <summary>The Eal section of every end-to-end configuration: af_packet on the appliance's veth, 4 KiB pages,
    /// a file prefix of the topology's own.</summary>
    public static object Eal(Topology t) => new
    {
        Args = new[] { "--no-pci" },
        Vdevs = new[] { $"net_af_packet0,iface={t.Appliance.Interface},qpairs=1,framecnt=2048" },
        FilePrefix = $"e2e-{t.Prefix}",
        Hugepages = "off",
        MemoryMb = 512,
    };

    /// <summary>The one port, "lan", with the appliance's addresses.</summary>
    public static object[] LanPort(Topology t) =>
    [
        new
        {
            Name = "lan", Device = "net_af_packet0", Mtu = 1500,
            Addresses = new[] { t.Appliance.V4!.ToString() }.Concat(t.Appliance.V6 is { } v6 ? [v6.ToString()] : []).ToArray(),
        },
    ];

    /// <summary>One worker on core 1 (core 0 on a 1-core machine) polling lan queue 0.</summary>
    public static object[] OneWorker() =>
        [new { Core = Math.Min(1, Environment.ProcessorCount - 1), Queues = new[] { new { Port = "lan", Queue = 0 } } }];
}
