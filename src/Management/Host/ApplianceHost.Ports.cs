using Switchyard.Dataplane.Native;
using Switchyard.Management.Observability;
using Switchyard.Management.Options;

namespace Switchyard.Management.Host;

public sealed partial class ApplianceHost
{
    /// <summary>The started ports: our name -> DPDK port id (== snapshot port index) and -> MAC.</summary>
    sealed record StartedPorts(Dictionary<string, int> Indexes, Dictionary<string, ulong> Macs);

    /// <summary>Configures and starts every port; its DPDK port id must be its index in the configuration's set.</summary>
    StartedPorts StartPorts()
    {
        var indexes = new Dictionary<string, int>();
        var macs = new Dictionary<string, ulong>();
        foreach (var p in _o.Ports) indexes[p.Name] = Dpdk.PortByName(p.Device);
        if (indexes.Values.Order().Select((v, i) => v == i).Any(ok => !ok) || Dpdk.PortCount != _o.Ports.Length + (_scaleOut?.ExtraPorts ?? 0))
            throw new ConfigurationException([new ConfigurationError("Ports",
                $"DPDK probed {Dpdk.PortCount} port(s) but {_o.Ports.Length} are configured; configure every probed device " +
                "(or restrict probing with Eal.Allow / --no-pci) so port ids are 0..n-1")]);

        foreach (var p in _o.Ports)
        {
            ushort id = (ushort)indexes[p.Name];
            int socket = Math.Max(0, Dpdk.PortSocket(id));
            nint pool = Dpdk.PoolForSocket(socket, (uint)_o.Dataplane.MempoolMbufs, (uint)_o.Dataplane.MbufCacheSize);
            var setup = new PortSetup(
                RxQueues: (ushort)WorkerLayout.RxQueues(_o, p),
                TxQueues: (ushort)WorkerLayout.TxQueues(_o, p),
                RxDescriptors: (ushort)p.RxDescriptors,
                TxDescriptors: (ushort)p.TxDescriptors,
                Mtu: (ushort)p.Mtu,
                EnableRss: true,
                Promiscuous: p.Promiscuous);
            Dpdk.SetupPort(id, setup, pool);
            Dpdk.StartPort(id);
            ulong mac = p.Mac is not null && ValueParsers.TryParseMac(p.Mac, out var m) ? m : Dpdk.PortMac48(id);
            macs[p.Name] = mac;
            Log($"port {id} '{p.Name}' ({p.Device}): {setup.RxQueues} rx / {setup.TxQueues} tx queues, MTU {p.Mtu}, MAC {FormatMac(mac)}");
        }
        return new StartedPorts(indexes, macs);
    }

    IReadOnlyList<PortStatsView> PortStats(StartedPorts ports)
    {
        var list = new List<PortStatsView>();
        foreach (var (name, id) in ports.Indexes.OrderBy(kv => kv.Value))
        {
            try
            {
                var s = Dpdk.Stats((ushort)id);
                list.Add(new PortStatsView(name, s.IPackets, s.OPackets, s.IBytes, s.OBytes, s.IMissed, s.IErrors, s.OErrors, s.RxNoMbuf));
            }
            catch (DpdkException e) { Log($"port stats: {e.Message}"); }
        }
        return list;
    }

    public static string FormatMac(ulong mac) => string.Join(':', Enumerable.Range(0, 6).Select(i => ((mac >> (40 - 8 * i)) & 0xFF).ToString("x2")));
}
