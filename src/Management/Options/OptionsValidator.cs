using System.Numerics;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering;

namespace Switchyard.Management.Options;

/// <summary>
/// Checks bound options and returns every error found, each with its JSON path; never throws. Run at
/// start and on every reload, before compiling: an invalid configuration never reaches the dataplane.
/// (A hand-written validator rather than the Options source generator: the rules are mostly
/// cross-references between sections, which attributes cannot express.)
/// </summary>
public static partial class OptionsValidator
{
    // Port index 255 means "every port" in LocalAddressSet, and BackendEntry.EgressPort is a byte.
    public const int MaxPorts = 254;
    // sched_setaffinity's default cpu_set_t holds 1024 CPUs.
    public const int MaxCore = 1023;
    // Idle timeouts become 32-bit millisecond ticks.
    public const int MaxIdleTimeoutSeconds = int.MaxValue / 1000;
    public const int MaxMaglevSize = 16_777_259; // a prime just above 2^24: 64 MiB of int per pool is plenty

    public static IReadOnlyList<ConfigurationError> Validate(ApplianceOptions o)
    {
        var e = new List<ConfigurationError>();
        void Add(string path, string reason) => e.Add(new(path, reason));

        // ---- Control
        if (o.Control.Socket is { Length: > 0 } sock && (!sock.StartsWith('/') || System.Text.Encoding.UTF8.GetByteCount(sock) > 107))
            Add("Control.Socket", $"'{sock}' must be an absolute path of at most 107 bytes (sun_path), or \"\" for no control socket");
        if (o.Control.ChangeTimeoutMilliseconds is < 10 or > 60_000)
            Add("Control.ChangeTimeoutMilliseconds", $"{o.Control.ChangeTimeoutMilliseconds} must be 10..60000");

        // ---- Eal
        if (o.Eal.Hugepages?.ToLowerInvariant() is not ("auto" or "require" or "off"))
            Add("Eal.Hugepages", $"'{o.Eal.Hugepages}' must be \"auto\", \"require\" or \"off\"");
        if (o.Eal.MemoryMb <= 0) Add("Eal.MemoryMb", $"{o.Eal.MemoryMb} must be a positive number of MiB");
        for (int i = 0; i < o.Eal.Vdevs.Length; i++)
        {
            var v = o.Eal.Vdevs[i];
            if (string.IsNullOrWhiteSpace(v)) Add($"Eal.Vdevs[{i}]", "empty device spec");
            else if (v.StartsWith('-')) Add($"Eal.Vdevs[{i}]", $"give the spec only (e.g. \"net_af_packet0,iface=eth0\"); --vdev= is added for you");
        }
        for (int i = 0; i < o.Eal.Allow.Length; i++)
            if (!ValueParsers.IsPciAddress(o.Eal.Allow[i]))
                Add($"Eal.Allow[{i}]", $"'{o.Eal.Allow[i]}' is not a PCI address (DDDD:BB:DD.F or BB:DD.F, optionally followed by ,devargs)");
        if (o.Eal.FilePrefix is { } fp && (fp.Length == 0 || fp.Any(c => c == '/' || char.IsWhiteSpace(c))))
            Add("Eal.FilePrefix", $"'{fp}' must be a non-empty name without '/' or spaces");
        if (o.Eal.Lcores is { } lc && (lc.Length == 0 || lc.Any(c => !(char.IsAsciiDigit(c) || c is ',' or '-' or '@' or '(' or ')'))))
            Add("Eal.Lcores", $"'{lc}' is not an EAL core list (e.g. \"0-3\" or \"0,2,4\")");

        // ---- Ports
        var portIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var ownAddresses = new Dictionary<Addr128, string>();
        int workerCount = WorkerLayout.WorkerCount(o);
        if (o.Ports.Length == 0) Add("Ports", "no ports: at least one is needed");
        if (o.Ports.Length > MaxPorts) Add("Ports", $"{o.Ports.Length} ports; at most {MaxPorts} are supported");
        var devices = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < o.Ports.Length; i++)
        {
            var p = o.Ports[i];
            string at = $"Ports[{i}]";
            if (string.IsNullOrWhiteSpace(p.Name)) Add($"{at}.Name", "required");
            else if (!portIndex.TryAdd(p.Name, i)) Add($"{at}.Name", $"duplicate port name '{p.Name}' (also Ports[{portIndex[p.Name]}])");
            if (string.IsNullOrWhiteSpace(p.Device)) Add($"{at}.Device", "required: a DPDK device name (\"net_af_packet0\") or PCI address (\"0000:03:00.0\")");
            else if (!devices.TryAdd(p.Device, i)) Add($"{at}.Device", $"device '{p.Device}' is already Ports[{devices[p.Device]}]");
            if (p.RxQueues is int rq && rq is < 1 or > ushort.MaxValue) Add($"{at}.RxQueues", $"{rq} must be 1..65535");
            if (p.TxQueues is int tq && tq is < 1 or > ushort.MaxValue) Add($"{at}.TxQueues", $"{tq} must be 1..65535");
            else if (workerCount > 0 && WorkerLayout.TxQueues(o, p) < workerCount)
                Add($"{at}.TxQueues", $"{p.TxQueues} is fewer than the {workerCount} workers; each worker transmits on a queue of its own");
            CheckDescriptors($"{at}.RxDescriptors", p.RxDescriptors);
            CheckDescriptors($"{at}.TxDescriptors", p.TxDescriptors);
            if (p.Mtu is < 68 or > 16128) Add($"{at}.Mtu", $"{p.Mtu} must be 68..16128");
            if (p.Mac is not null)
            {
                if (!ValueParsers.TryParseMac(p.Mac, out var mac)) Add($"{at}.Mac", $"'{p.Mac}' is not a MAC address (aa:bb:cc:dd:ee:ff)");
                else if (mac == 0 || ValueParsers.IsMulticastMac(mac)) Add($"{at}.Mac", $"'{p.Mac}' cannot be a port's own address (zero or multicast)");
            }
            if (p.GatewayMac is not null)
            {
                if (!ValueParsers.TryParseMac(p.GatewayMac, out var gw)) Add($"{at}.GatewayMac", $"'{p.GatewayMac}' is not a MAC address (aa:bb:cc:dd:ee:ff)");
                else if (gw == 0 || ValueParsers.IsMulticastMac(gw)) Add($"{at}.GatewayMac", $"'{p.GatewayMac}' must be a unicast address");
            }
            bool anyV6 = false;
            for (int j = 0; j < p.Addresses.Length; j++)
            {
                if (!ValueParsers.TryParseAddress(p.Addresses[j], out var a, out bool v4))
                    Add($"{at}.Addresses[{j}]", $"'{p.Addresses[j]}' is not an IPv4 or IPv6 address");
                else if (!ownAddresses.TryAdd(a, $"{at}.Addresses[{j}]"))
                    Add($"{at}.Addresses[{j}]", $"{p.Addresses[j]} is already {ownAddresses[a]}");
                else anyV6 |= !v4;
            }
            if (anyV6 && p.Mtu < 1280) Add($"{at}.Mtu", $"{p.Mtu} is below IPv6's minimum of 1280 and the port has an IPv6 address");
        }

        void CheckDescriptors(string path, int n)
        {
            if (n is < 32 or > 32768 || !BitOperations.IsPow2(n)) Add(path, $"{n} must be a power of two, 32..32768");
        }

        // ---- Workers
        if (o.Workers.Length > 0 && o.Cores.Length > 0) Add("Cores", "set either Workers (explicit queues) or Cores (automatic), not both");
        if (o.Workers.Length == 0 && o.Cores.Length == 0) Add("Workers", "no workers: set Workers, or Cores for automatic queue assignment");
        var cores = new Dictionary<int, string>();
        void CheckCore(string path, int core)
        {
            if (core is < 0 or > MaxCore) Add(path, $"{core} must be a CPU id 0..{MaxCore}");
            else if (!cores.TryAdd(core, path)) Add(path, $"core {core} already runs {cores[core]}; one worker per core");
        }
        for (int i = 0; i < o.Cores.Length; i++) CheckCore($"Cores[{i}]", o.Cores[i]);
        var owner = new Dictionary<(string, int), string>();
        for (int i = 0; i < o.Workers.Length; i++)
        {
            var w = o.Workers[i];
            CheckCore($"Workers[{i}].Core", w.Core);
            if (w.Queues.Length == 0) Add($"Workers[{i}].Queues", "the worker owns no receive queue");
            for (int j = 0; j < w.Queues.Length; j++)
            {
                var q = w.Queues[j];
                string at = $"Workers[{i}].Queues[{j}]";
                if (!portIndex.TryGetValue(q.Port ?? "", out int pi)) { Add($"{at}.Port", UnknownRef("port", q.Port, portIndex.Keys)); continue; }
                int rx = WorkerLayout.RxQueues(o, o.Ports[pi]);
                if (q.Queue < 0 || q.Queue >= rx) Add($"{at}.Queue", $"{q.Queue} is not a receive queue of port '{q.Port}' (it has {rx}: 0..{rx - 1})");
                else if (!owner.TryAdd((q.Port!, q.Queue), at)) Add(at, $"queue {q.Queue} of port '{q.Port}' is already owned by {owner[(q.Port!, q.Queue)]}; each queue has exactly one worker");
            }
        }
        for (int i = 0; i < o.Ports.Length; i++)
        {
            var p = o.Ports[i];
            int rx = WorkerLayout.RxQueues(o, p);
            if (workerCount > 0 && rx == 0) Add($"Ports[{i}]", $"no worker receives from port '{p.Name}'; add it to a worker's Queues");
            // Only explicit layouts can leave a queue out; the automatic one deals every queue.
            if (o.Workers.Length > 0)
                for (int q = 0; q < rx; q++)
                    if (!owner.ContainsKey((p.Name, q)))
                    {
                        Add($"Ports[{i}].RxQueues", $"queue {q} of port '{p.Name}' is owned by no worker (packets RSS puts there would never be read)");
                        break;
                    }
        }

        // ---- Pools
        var poolIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        int totalBackends = 0;
        var backendFamilies = new List<(int Pool, int Backend, bool V4)>();
        for (int i = 0; i < o.Pools.Length; i++)
        {
            var pool = o.Pools[i];
            string at = $"Pools[{i}]";
            if (string.IsNullOrWhiteSpace(pool.Name)) Add($"{at}.Name", "required");
            else if (!poolIndex.TryAdd(pool.Name, i)) Add($"{at}.Name", $"duplicate pool name '{pool.Name}' (also Pools[{poolIndex[pool.Name]}])");
            var mode = pool.Forwarding;
            bool encap = mode != ForwardingMode.L2Dsr;
            if (pool.GuePort is < 1 or > ushort.MaxValue) Add($"{at}.GuePort", $"{pool.GuePort} must be 1..65535");
            if (pool.MaglevSize > MaxMaglevSize || !Maglev.IsPrime(pool.MaglevSize))
                Add($"{at}.MaglevSize", $"{pool.MaglevSize} must be a prime number up to {MaxMaglevSize} (e.g. 65537, 131071, 262147)");
            else if (pool.MaglevSize < pool.Backends.Length)
                Add($"{at}.MaglevSize", $"{pool.MaglevSize} is smaller than the pool's {pool.Backends.Length} backends (use at least 100x as many slots)");
            if (pool.TcpIdleTimeoutSeconds is < 1 or > MaxIdleTimeoutSeconds) Add($"{at}.TcpIdleTimeoutSeconds", $"{pool.TcpIdleTimeoutSeconds} must be 1..{MaxIdleTimeoutSeconds} seconds");
            if (pool.UdpIdleTimeoutSeconds is < 1 or > MaxIdleTimeoutSeconds) Add($"{at}.UdpIdleTimeoutSeconds", $"{pool.UdpIdleTimeoutSeconds} must be 1..{MaxIdleTimeoutSeconds} seconds");
            // Above TcpIdleTimeoutSeconds it is capped at it (SnapshotCompiler): a pool with short idle timeouts need not lower it too.
            if (pool.HandshakeTimeoutSeconds is < 1 or > MaxIdleTimeoutSeconds)
                Add($"{at}.HandshakeTimeoutSeconds", $"{pool.HandshakeTimeoutSeconds} must be 1..{MaxIdleTimeoutSeconds} seconds");
            bool srcV4Bad = false, srcV6Bad = false;
            if (pool.EncapSourceV4 is not null)
            {
                if (!ValueParsers.TryParseCidr(pool.EncapSourceV4, out _, out _, out bool v4, out _, out var why)) { Add($"{at}.EncapSourceV4", why); srcV4Bad = true; }
                else if (!v4) { Add($"{at}.EncapSourceV4", $"'{pool.EncapSourceV4}' is an IPv6 prefix; use EncapSourceV6"); srcV4Bad = true; }
            }
            if (pool.EncapSourceV6 is not null)
            {
                if (!ValueParsers.TryParseCidr(pool.EncapSourceV6, out _, out _, out bool v4, out _, out var why)) { Add($"{at}.EncapSourceV6", why); srcV6Bad = true; }
                else if (v4) { Add($"{at}.EncapSourceV6", $"'{pool.EncapSourceV6}' is an IPv4 prefix; use EncapSourceV4"); srcV6Bad = true; }
            }

            var names = new Dictionary<string, int>(StringComparer.Ordinal);
            var addresses = new Dictionary<Addr128, int>();
            bool needV4 = false, needV6 = false;
            for (int j = 0; j < pool.Backends.Length; j++)
            {
                var b = pool.Backends[j];
                string bat = $"{at}.Backends[{j}]";
                totalBackends++;
                if (string.IsNullOrWhiteSpace(b.Name)) Add($"{bat}.Name", "required (it fixes the backend's place in the Maglev table)");
                else if (!names.TryAdd(b.Name, j)) Add($"{bat}.Name", $"duplicate backend name '{b.Name}' in pool '{pool.Name}' (also Backends[{names[b.Name]}])");
                if (!ValueParsers.TryParseAddress(b.Address, out var baddr, out bool v4))
                    Add($"{bat}.Address", $"'{b.Address}' is not an IPv4 or IPv6 address");
                else
                {
                    // Two entries for one server would give it two Maglev shares under two names: say Weight instead.
                    if (!addresses.TryAdd(baddr, j))
                        Add($"{bat}.Address", $"{b.Address} is already the address of Backends[{addresses[baddr]}] ('{pool.Backends[addresses[baddr]].Name}') in pool '{pool.Name}'; one entry per server (a larger share is its Weight)");
                    backendFamilies.Add((i, j, v4));
                    needV4 |= v4; needV6 |= !v4;
                }
                int egress = -1;   // -1: unknown, so no check below depends on it
                if (b.Port is null) { if (o.Ports.Length > 0) egress = 0; }
                else if (portIndex.TryGetValue(b.Port, out int found)) egress = found;
                else Add($"{bat}.Port", UnknownRef("port", b.Port, portIndex.Keys));
                if (b.Mac is not null)
                {
                    if (!ValueParsers.TryParseMac(b.Mac, out var mac)) Add($"{bat}.Mac", $"'{b.Mac}' is not a MAC address (aa:bb:cc:dd:ee:ff)");
                    else if (mac == 0 || ValueParsers.IsMulticastMac(mac)) Add($"{bat}.Mac", $"'{b.Mac}' must be a unicast address");
                }
                else if (mode == ForwardingMode.L2Dsr)
                    Add($"{bat}.Mac", "required for l2dsr forwarding: the frame goes straight to the backend's MAC");
                else if (encap && egress >= 0 && o.Ports[egress].GatewayMac is null)
                    Add($"{bat}.Mac", $"required: the egress port '{o.Ports[egress].Name}' has no GatewayMac to send encapsulated packets to");
                if (b.Weight is < 0 or > ushort.MaxValue) Add($"{bat}.Weight", $"{b.Weight} must be 0..65535 (0 = drain: no new flows)");
            }
            if (encap && needV4 && pool.EncapSourceV4 is null && !srcV4Bad)
                Add($"{at}.EncapSourceV4", "required: the pool encapsulates to IPv4 backends (e.g. \"198.18.200.0/24\")");
            if (encap && needV6 && pool.EncapSourceV6 is null && !srcV6Bad)
                Add($"{at}.EncapSourceV6", "required: the pool encapsulates to IPv6 backends (e.g. \"2001:db8:200::/64\")");
        }

        // ---- Vips
        var vipNames = new Dictionary<string, int>(StringComparer.Ordinal);
        var services = new Dictionary<(Addr128, int, byte), int>();
        var vipFamilies = new List<(int Vip, int Pool, bool V4)>();
        for (int i = 0; i < o.Vips.Length; i++)
        {
            var v = o.Vips[i];
            string at = $"Vips[{i}]";
            if (string.IsNullOrWhiteSpace(v.Name)) Add($"{at}.Name", "required");
            else if (!vipNames.TryAdd(v.Name, i)) Add($"{at}.Name", $"duplicate VIP name '{v.Name}' (also Vips[{vipNames[v.Name]}])");
            bool addrOk = ValueParsers.TryParseAddress(v.Address, out var addr, out bool v4);
            if (!addrOk) Add($"{at}.Address", $"'{v.Address}' is not an IPv4 or IPv6 address");
            bool portOk = v.Port is >= 0 and <= ushort.MaxValue;
            if (!portOk) Add($"{at}.Port", $"{v.Port} must be 0..65535 (0 = every port)");
            bool protoOk = ValueParsers.TryParseProtocol(v.Protocol, out byte proto);
            if (!protoOk) Add($"{at}.Protocol", $"'{v.Protocol}' must be \"tcp\", \"udp\" or \"any\"");
            else if (proto == 0 && v.Port != 0) Add($"{at}.Port", $"{v.Port} must be 0 when Protocol is \"any\" (a port belongs to TCP or UDP)");
            if (!poolIndex.TryGetValue(v.Pool ?? "", out int pi)) Add($"{at}.Pool", UnknownRef("pool", v.Pool, poolIndex.Keys));
            else if (addrOk) vipFamilies.Add((i, pi, v4));
            if (addrOk && portOk && protoOk && !services.TryAdd((addr, v.Port, proto), i))
                Add(at, $"same address, port and protocol as Vips[{services[(addr, v.Port, proto)]}]");
        }

        // Encapsulation keeps the inner packet's family (4in4, 6in6), so an encapsulating pool's backends
        // must have the family of every VIP that uses the pool. L2 DSR forwards the frame as it is.
        foreach (var (pool, backend, bv4) in backendFamilies)
        {
            if (o.Pools[pool].Forwarding == ForwardingMode.L2Dsr) continue;
            foreach (var (vip, vpool, vv4) in vipFamilies)
                if (vpool == pool && vv4 != bv4)
                {
                    Add($"Pools[{pool}].Backends[{backend}].Address",
                        $"an IPv{(bv4 ? 4 : 6)} backend cannot serve IPv{(vv4 ? 4 : 6)} VIP '{o.Vips[vip].Name}' (Vips[{vip}]) with {OptionNames.Forwarding.Name(o.Pools[pool].Forwarding)}: encapsulation keeps the family (4in4, 6in6); use l2dsr or a backend address of the VIP's family");
                    break;
                }
        }

        // ---- Dataplane
        var d = o.Dataplane;
        if (d.FlowTableEntries is < 1024 or > (1 << 28) || !BitOperations.IsPow2(d.FlowTableEntries))
            Add("Dataplane.FlowTableEntries", $"{d.FlowTableEntries} must be a power of two, 1024..268435456");
        if (d.MaxBackends is < 1 or > (1 << 24)) Add("Dataplane.MaxBackends", $"{d.MaxBackends} must be 1..16777216");
        else if (totalBackends > d.MaxBackends) Add("Dataplane.MaxBackends", $"{d.MaxBackends} is fewer than the {totalBackends} configured backends");
        if (d.MaxVips < 1) Add("Dataplane.MaxVips", $"{d.MaxVips} must be at least 1");
        else if (o.Vips.Length > d.MaxVips) Add("Vips", $"{o.Vips.Length} VIPs exceed Dataplane.MaxVips = {d.MaxVips}");
        if (d.MempoolMbufs < 1) Add("Dataplane.MempoolMbufs", $"{d.MempoolMbufs} must be positive");
        if (d.FloodGuardNewFlowsPerSecond < 0)
            Add("Dataplane.FloodGuardNewFlowsPerSecond", $"{d.FloodGuardNewFlowsPerSecond} must be 0 (off) or a positive rate");
        // DPDK's rte_mempool_create refuses a cache above RTE_MEMPOOL_CACHE_MAX_SIZE (512) or above n / 1.5.
        if (d.MbufCacheSize is < 0 or > 512) Add("Dataplane.MbufCacheSize", $"{d.MbufCacheSize} must be 0..512");
        else if (d.MempoolMbufs > 0 && d.MbufCacheSize * 3L > d.MempoolMbufs * 2L)
            Add("Dataplane.MbufCacheSize", $"{d.MbufCacheSize} exceeds MempoolMbufs / 1.5 = {d.MempoolMbufs * 2 / 3} (a DPDK limit)");

        // ---- Run
        if (o.Run.DurationSeconds < 0) Add("Run.DurationSeconds", $"{o.Run.DurationSeconds} must be 0 (until stopped) or more");
        if (o.Run.StopAfterIdleMilliseconds < 0) Add("Run.StopAfterIdleMilliseconds", $"{o.Run.StopAfterIdleMilliseconds} must be 0 (never) or more");
        if (o.Run.CountersIntervalSeconds < 1) Add("Run.CountersIntervalSeconds", $"{o.Run.CountersIntervalSeconds} must be at least 1");
        if (o.Run.CountersFile is { } cf && string.IsNullOrWhiteSpace(cf)) Add("Run.CountersFile", "empty path; leave it out to write no counters file");
        if (o.Run.StageStampsFile is { } sf && string.IsNullOrWhiteSpace(sf)) Add("Run.StageStampsFile", "empty path; leave it out to take no stage stamps");
        if (o.Run.StageStampsEvery is < 1 or > 65536 || !BitOperations.IsPow2(o.Run.StageStampsEvery))
            Add("Run.StageStampsEvery", $"{o.Run.StageStampsEvery} must be a power of two, 1..65536");
        if (o.Run.ForwardOnlyPort is { } fwdPort && !o.Ports.Any(p => p.Name == fwdPort))
            Add("Run.ForwardOnlyPort", $"'{fwdPort}' is not a port name");

        // ---- Demo (bound and checked here, run elsewhere)
        var demo = o.Demo;
        // Interface names are at most 15 bytes (IFNAMSIZ - 1) and carry suffixes after the prefix.
        if (string.IsNullOrEmpty(demo.Prefix) || demo.Prefix.Length > 6 || !demo.Prefix.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            Add("Demo.Prefix", $"'{demo.Prefix}' must be 1..6 letters, digits or '-' (Linux interface names are short)");
        if (demo.Clients is < 1 or > 250) Add("Demo.Clients", $"{demo.Clients} must be 1..250");
        if (demo.Connections < 0) Add("Demo.Connections", $"{demo.Connections} must be 0 or more");
        if (demo.Concurrency < 1) Add("Demo.Concurrency", $"{demo.Concurrency} must be at least 1");
        if (demo.BytesPerConnection < 0) Add("Demo.BytesPerConnection", $"{demo.BytesPerConnection} must be 0 or more");

        ValidateMptcp(o, Add);
        ValidateQuic(o, Add); // QUIC-LB (OptionsValidator.Quic.cs)
        ValidateHealth(o, Add);
        ValidateObservability(o, Add);
        ValidateBgp(o, Add);            // issue 12
        ValidateExceptionPath(o, Add);  // issue 12
        ValidateIdleBackoff(o, Add);    // issue 12
        ValidateCluster(o, Add);        // issue 12, item 2
        return e;
    }

    static string UnknownRef(string kind, string? name, IEnumerable<string> known)
    {
        var list = string.Join(", ", known.Select(k => $"'{k}'"));
        return string.IsNullOrEmpty(name)
            ? $"required: the name of a {kind} ({(list.Length > 0 ? list : "none defined")})"
            : $"unknown {kind} '{name}' (defined: {(list.Length > 0 ? list : "none")})";
    }
}
