using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

namespace Switchyard.Demo;

/// <summary>What to build (issue 12). Every global name carries <see cref="Prefix"/>.</summary>
public sealed record ClusterSpec
{
    /// <summary>Namespace prefix, at most 8 characters (e.g. "cl" + 4 hex digits).</summary>
    public required string Prefix { get; init; }
    public int Appliances { get; init; } = 3;
    public int Backends { get; init; } = 3;
    public uint RouterAs { get; init; } = 65000;
    public uint ApplianceAs { get; init; } = 65010;
    /// <summary>BGP hold time on both sides: how fast a SIGKILLed appliance is noticed.</summary>
    public int HoldTimeSeconds { get; init; } = 3;
    /// <summary>Worker idle back-off of every appliance (several appliances share 2 cores).</summary>
    public int IdleBackoffMicroseconds { get; init; } = 50;
    /// <summary>Core the appliances' workers are pinned to (they share it, with the idle back-off).</summary>
    public int WorkerCore { get; init; } = Environment.ProcessorCount > 1 ? 1 : 0;
    public int ServicePort { get; init; } = 8080;
    public int StreamPort { get; init; } = 8081;
    public int DrainHoldDownSeconds { get; init; } = 2;
    /// <summary>STEM + 4 random hex digits; STEM is "cl", or SWITCHYARD_CLUSTER_PREFIX (2..4 letters or digits) so that
    /// several people testing on one host can tell their namespaces apart.</summary>
    public static string RandomPrefix(string? stem = null)
    {
        stem ??= Environment.GetEnvironmentVariable("SWITCHYARD_CLUSTER_PREFIX") is { Length: >= 2 and <= 4 } s && s.All(char.IsAsciiLetterOrDigit) ? s : "cl";
        return stem + Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()).AsSpan(0, 2));
    }
}

/// <summary>
/// The scale-out topology in network namespaces (issue 12), built and torn down here, shared by the tests
/// (tests/Switchyard.Tests/Cluster) and `switchyard demo --cluster`:
/// <code>
///   client ns (2 IPv4 + 2 IPv6 addresses)          backend ns b0..bN (VIPs on lo, L2 DSR, default via router)
///        |  10.78.1.0/24, fd78:1::/64                        |
///   router ns: BIRD 2 (BGP AS 65000, ECMP with "merge paths", fib_multipath_hash_policy=1) + bridge br0
///        |  fabric 10.77.0.0/24, fd77::/64 (router .1, appliances .11.., backends .101..)
///   appliance ns a0..aN: switchyard on net_af_packet (dp0), exception-path tap "sytap" with the appliance's
///                        address, gobgpd (managed by switchyard) announcing the VIPs to the router
/// </code>
/// Names: namespaces PREFIX-r, PREFIX-c, PREFIX-aI, PREFIX-bJ; DPDK file prefixes PREFIX-aI. Dispose kills every
/// process it started or that runs in its namespaces, deletes the namespaces and the DPDK runtime folders.
/// </summary>
public sealed class ClusterTopology : IDisposable
{
    public ClusterSpec Spec { get; }
    public string Dir { get; }
    public string RouterNs => $"{Spec.Prefix}-r";
    public string ClientNs => $"{Spec.Prefix}-c";
    public string ApplianceNs(int i) => $"{Spec.Prefix}-a{i}";
    public string BackendNs(int j) => $"{Spec.Prefix}-b{j}";
    public string FilePrefix(int i) => $"{Spec.Prefix}-a{i}";
    public string ControlSocket(int i) => Path.Combine(Dir, $"a{i}.sock");

    public static readonly IPAddress VipV4 = IPAddress.Parse("203.0.113.10");
    public static readonly IPAddress VipV6 = IPAddress.Parse("2001:db8:77::10");
    public static readonly IPAddress RouterV4 = IPAddress.Parse("10.77.0.1");
    public static readonly IPAddress RouterV6 = IPAddress.Parse("fd77::1");
    public static IPAddress ApplianceV4(int i) => IPAddress.Parse($"10.77.0.{11 + i}");
    public static IPAddress ApplianceV6(int i) => IPAddress.Parse($"fd77::{11 + i:x}");
    public static string ApplianceMac(int i) => $"02:77:00:00:0a:{i:x2}";
    public static IPAddress BackendV4(int j) => IPAddress.Parse($"10.77.0.{101 + j}");
    public static IPAddress BackendV6(int j) => IPAddress.Parse($"fd77::{101 + j:x}");
    public static string BackendMac(int j) => $"02:77:00:00:0b:{j:x2}";
    /// <summary>The client's addresses: several, so that its subflows hash to different appliances.</summary>
    public static readonly IPAddress[] ClientV4 = [IPAddress.Parse("10.78.1.2"), IPAddress.Parse("10.78.1.3")];
    public static readonly IPAddress[] ClientV6 = [IPAddress.Parse("fd78:1::2"), IPAddress.Parse("fd78:1::3")];

    readonly List<string> _namespaces = new();
    readonly List<Process> _processes = new();
    readonly ApplianceProcess?[] _appliances;
    readonly Action<string> _log;
    readonly object _lock = new();
    Process? _bird;
    bool _disposed;

    ClusterTopology(ClusterSpec spec, string dir, Action<string>? log)
    {
        Spec = spec; Dir = dir; _log = log ?? (_ => { });
        _appliances = new ApplianceProcess?[spec.Appliances];
    }

    public static ClusterTopology Create(ClusterSpec spec, Action<string>? log = null)
    {
        if (spec.Prefix.Length is 0 or > 8) throw new ArgumentException("Prefix must be 1..8 characters");
        if (spec.Appliances is < 1 or > 8 || spec.Backends is < 1 or > 8) throw new ArgumentException("1..8 appliances and backends");
        var dir = Directory.CreateTempSubdirectory($"switchyard-cluster-{spec.Prefix}-").FullName;
        var t = new ClusterTopology(spec, dir, log);
        try { t.Build(); return t; }
        catch { t.Dispose(); throw; }
    }

    void AddNs(string ns)
    {
        Shell.Run("ip", "netns", "add", ns);
        lock (_lock) _namespaces.Add(ns);
        Ip(ns, "link", "set", "lo", "up");
    }

    static void Ip(string ns, params string[] args) => Shell.Run("ip", ["-n", ns, .. args]);
    public string Exec(string ns, params string[] args) => Shell.Run("ip", ["netns", "exec", ns, .. args]);
    public Shell.Result TryExec(string ns, IEnumerable<string> args, int timeoutMs = 30_000) => Shell.Try("ip", ["netns", "exec", ns, .. args], timeoutMs);
    void Sysctl(string ns, string kv) => Exec(ns, "sysctl", "-qw", kv);
    void TxOff(string ns, string ifn) => Exec(ns, "ethtool", "-K", ifn, "tx", "off");

    void Build()
    {
        string r = RouterNs;
        AddNs(r);
        Ip(r, "link", "add", "br0", "type", "bridge");
        Ip(r, "link", "set", "br0", "up");
        Ip(r, "addr", "add", "10.77.0.1/24", "dev", "br0");
        Ip(r, "addr", "add", "fd77::1/64", "dev", "br0", "nodad");
        foreach (var kv in new[] { "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
                     "net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1" })
            Sysctl(r, kv);

        // Client: one veth, two addresses per family (MPTCP subflows from both).
        AddNs(ClientNs);
        Ip(r, "link", "add", "cl0", "type", "veth", "peer", "name", "eth0", "netns", ClientNs);
        Ip(r, "addr", "add", "10.78.1.1/24", "dev", "cl0");
        Ip(r, "addr", "add", "fd78:1::1/64", "dev", "cl0", "nodad");
        Ip(r, "link", "set", "cl0", "up");
        TxOff(r, "cl0");
        foreach (var a in ClientV4) Ip(ClientNs, "addr", "add", $"{a}/24", "dev", "eth0");
        foreach (var a in ClientV6) Ip(ClientNs, "addr", "add", $"{a}/64", "dev", "eth0", "nodad");
        Ip(ClientNs, "link", "set", "eth0", "up");
        Ip(ClientNs, "route", "add", "default", "via", "10.78.1.1");
        Ip(ClientNs, "-6", "route", "add", "default", "via", "fd78:1::1");
        TxOff(ClientNs, "eth0");

        for (int j = 0; j < Spec.Backends; j++)
        {
            string ns = BackendNs(j);
            AddNs(ns);
            Attach(ns, $"b{j}", BackendMac(j));
            Ip(ns, "addr", "add", $"{BackendV4(j)}/24", "dev", "eth0");
            Ip(ns, "addr", "add", $"{BackendV6(j)}/64", "dev", "eth0", "nodad");
            Ip(ns, "route", "add", "default", "via", RouterV4.ToString());
            Ip(ns, "-6", "route", "add", "default", "via", RouterV6.ToString());
            // L2 DSR: the VIPs live on lo; never answer ARP/NDP for them.
            Ip(ns, "addr", "add", $"{VipV4}/32", "dev", "lo");
            Ip(ns, "addr", "add", $"{VipV6}/128", "dev", "lo", "nodad");
            Sysctl(ns, "net.ipv4.conf.all.arp_ignore=1");
            Sysctl(ns, "net.ipv4.conf.all.arp_announce=2");
        }
        for (int i = 0; i < Spec.Appliances; i++)
        {
            string ns = ApplianceNs(i);
            AddNs(ns);
            Attach(ns, $"a{i}", ApplianceMac(i), inner: "dp0");
            // DPDK owns dp0 through AF_PACKET, which only taps the frames: the namespace's kernel would still receive
            // them on dp0 and, the appliance's address being local (on the tap), answer pings and TCP itself, twice
            // with the exception path. A NIC bound to DPDK (vfio-pci) hides its traffic from the kernel; here a netdev
            // ingress drop does the same (AF_PACKET sees frames before the ingress hook, the stack after it).
            Sysctl(ns, "net.ipv6.conf.dp0.disable_ipv6=1");
            Exec(ns, "nft", "add table netdev sy_dpdk_owned");
            Exec(ns, "nft", "add chain netdev sy_dpdk_owned ingress { type filter hook ingress device dp0 priority 0; policy drop; }");
        }
        StartBird();
        _log($"cluster {Spec.Prefix}: router {RouterNs} (BIRD, AS {Spec.RouterAs}), {Spec.Appliances} appliance namespace(s), {Spec.Backends} backend(s), client {ClientNs}");
    }

    /// <summary>A veth from the router's bridge into ns (inner name eth0 or dp0), both ends without tx offloads.</summary>
    void Attach(string ns, string outer, string mac, string inner = "eth0")
    {
        Ip(RouterNs, "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns);
        Ip(RouterNs, "link", "set", outer, "master", "br0", "up");
        Ip(ns, "link", "set", inner, "address", mac, "up");
        TxOff(RouterNs, outer);
        TxOff(ns, inner);
    }

    public string BirdSocket => Path.Combine(Dir, "bird.ctl");

    void StartBird()
    {
        var conf = new System.Text.StringBuilder();
        conf.Append(CultureInfo.InvariantCulture, $$"""
            log "{{Path.Combine(Dir, "bird.log")}}" all;
            router id {{RouterV4}};
            protocol device { scan time 1; }
            protocol kernel kern4 { ipv4 { import none; export all; }; merge paths on; }
            protocol kernel kern6 { ipv6 { import none; export all; }; merge paths on; }
            template bgp appliance {
              local {{RouterV4}} as {{Spec.RouterAs}};
              hold time {{Spec.HoldTimeSeconds}}; keepalive time 1; connect retry time 1; error wait time 1, 2;
              ipv4 { import all; export none; };
              ipv6 { import all; export none; };
            }

            """);
        for (int i = 0; i < Spec.Appliances; i++)
            conf.Append(CultureInfo.InvariantCulture, $"protocol bgp a{i} from appliance {{ neighbor {ApplianceV4(i)} as {Spec.ApplianceAs}; }}\n");
        var path = Path.Combine(Dir, "bird.conf");
        File.WriteAllText(path, conf.ToString());
        _bird = Start(RouterNs, "bird", "-f", "-c", path, "-s", BirdSocket, "-P", Path.Combine(Dir, "bird.pid"));
        var until = DateTime.UtcNow.AddSeconds(15);
        while (Shell.Try("birdc", ["-s", BirdSocket, "show", "status"]).ExitCode != 0)
        {
            if (_bird.HasExited) throw new InvalidOperationException($"bird exited: {_bird.StandardError.ReadToEnd()}");
            if (DateTime.UtcNow > until) throw new TimeoutException("bird did not open its control socket");
            Thread.Sleep(50);
        }
    }

    /// <summary>birdc in the router namespace (the socket is a file, reachable from anywhere).</summary>
    public string Birdc(params string[] args) => Shell.Try("birdc", ["-s", BirdSocket, .. args]).StdOut;

    /// <summary>The next hops the router's kernel uses for a VIP now (ECMP: several).</summary>
    public IReadOnlyList<IPAddress> NextHops(IPAddress vip)
    {
        var r = TryExec(RouterNs, ["ip", vip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "-6" : "-4", "route", "show", vip.ToString()]);
        var list = new List<IPAddress>();
        foreach (var w in r.StdOut.Split([' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries).Select((x, k) => (x, k)).ToList() is var words ? words : [])
            if (w.x == "via" && w.k + 1 < words.Count && IPAddress.TryParse(words[w.k + 1].x, out var a)) list.Add(a);
        return list.Distinct().OrderBy(a => a.ToString(), StringComparer.Ordinal).ToList();
    }

    /// <summary>Waits until the router's next hops for the VIP satisfy the condition; returns how long it took.</summary>
    public TimeSpan WaitForNextHops(IPAddress vip, Func<IReadOnlyList<IPAddress>, bool> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var hops = NextHops(vip);
            if (condition(hops)) return sw.Elapsed;
            if (sw.Elapsed > timeout)
                throw new TimeoutException($"router: {what} not reached within {timeout.TotalSeconds} s; next hops for {vip}: [{string.Join(", ", hops)}]\n" +
                    Birdc("show", "protocols") + "\n" + Birdc("show", "route", "all"));
            Thread.Sleep(10);
        }
    }

    /// <summary>The appliance configuration of appliance i (written to DIR/aI.json by <see cref="StartAppliance"/>).</summary>
    public JsonObject ApplianceConfig(int i)
    {
        var backends = new JsonArray();
        for (int j = 0; j < Spec.Backends; j++)
            backends.Add(new JsonObject { ["Name"] = $"b{j}", ["Address"] = BackendV4(j).ToString(), ["Mac"] = BackendMac(j) });
        return new JsonObject
        {
            ["Eal"] = new JsonObject
            {
                ["Vdevs"] = new JsonArray("net_af_packet0,iface=dp0"), ["FilePrefix"] = FilePrefix(i), ["Hugepages"] = "off", ["MemoryMb"] = 256,
            },
            ["Ports"] = new JsonArray(new JsonObject
            {
                ["Name"] = "fabric", ["Device"] = "net_af_packet0", ["Mac"] = ApplianceMac(i),
                ["Addresses"] = new JsonArray(ApplianceV4(i).ToString(), ApplianceV6(i).ToString()),
            }),
            ["Cores"] = new JsonArray(Spec.WorkerCore),
            ["Dataplane"] = new JsonObject
            {
                ["FlowTableEntries"] = 65536, ["MempoolMbufs"] = 4095, ["MbufCacheSize"] = 128, ["MaxBackends"] = 64,
                ["IdleBackoffMicroseconds"] = Spec.IdleBackoffMicroseconds,
            },
            ["Pools"] = new JsonArray(new JsonObject { ["Name"] = "web", ["Forwarding"] = "l2dsr", ["MaglevSize"] = 65537, ["Backends"] = backends }),
            ["Vips"] = new JsonArray(
                new JsonObject { ["Name"] = "web4", ["Address"] = VipV4.ToString(), ["Port"] = 0, ["Protocol"] = "tcp", ["Pool"] = "web" },
                new JsonObject { ["Name"] = "web6", ["Address"] = VipV6.ToString(), ["Port"] = 0, ["Protocol"] = "tcp", ["Pool"] = "web" }),
            ["Control"] = new JsonObject { ["Socket"] = ControlSocket(i), ["WatchConfigFile"] = false },
            ["Run"] = new JsonObject { ["CountersFile"] = Path.Combine(Dir, $"a{i}.counters.json") },
            ["Bgp"] = new JsonObject
            {
                ["Enabled"] = true, ["LocalAs"] = Spec.ApplianceAs, ["RouterId"] = ApplianceV4(i).ToString(),
                ["Neighbors"] = new JsonArray(new JsonObject { ["Address"] = RouterV4.ToString(), ["As"] = Spec.RouterAs }),
                ["HoldTimeSeconds"] = Spec.HoldTimeSeconds, ["ConnectRetrySeconds"] = 1, ["DrainHoldDownSeconds"] = Spec.DrainHoldDownSeconds,
                ["GrpcAddress"] = "127.0.0.1:50051", ["Daemon"] = new JsonObject { ["Manage"] = true },
            },
            ["ExceptionPath"] = new JsonObject
            {
                ["Enabled"] = true, ["Interface"] = "sytap",
                ["Addresses"] = new JsonArray($"{ApplianceV4(i)}/24", $"{ApplianceV6(i)}/64"),
            },
        };
    }

    public ApplianceProcess? Appliance(int i) => _appliances[i];

    /// <summary>Echo every appliance log line through the topology's log (demo --verbose, failing tests).</summary>
    public bool Verbose { get; set; }

    /// <summary>Starts appliance i in its namespace with <see cref="ApplianceConfig"/> (edited by <paramref name="edit"/>);
    /// returns once its workers run (not yet announced: see <see cref="WaitForNextHops"/>).</summary>
    public ApplianceProcess StartAppliance(int i, Action<JsonObject>? edit = null, IEnumerable<string>? extraArgs = null, Action<string>? echo = null)
    {
        if (_appliances[i] is { HasExited: false }) throw new InvalidOperationException($"appliance {i} already runs");
        _appliances[i]?.Dispose();
        var cfg = ApplianceConfig(i);
        edit?.Invoke(cfg);
        var path = Path.Combine(Dir, $"a{i}.json");
        File.WriteAllText(path, cfg.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        CleanDpdkRuntime(FilePrefix(i));
        // Generous: on a shared 2-core machine under heavy load an appliance has taken more than a minute to start.
        var a = ApplianceProcess.Start(ApplianceNs(i), path, extraArgs ?? [], echo ?? (Verbose ? line => _log($"[a{i}] {line}") : null),
            readyTimeout: TimeSpan.FromSeconds(240));
        _appliances[i] = a;
        return a;
    }

    /// <summary>SIGKILL: no withdrawal, the router notices when the BGP hold timer expires.</summary>
    public void KillAppliance(int i)
    {
        var a = _appliances[i] ?? throw new InvalidOperationException($"appliance {i} is not running");
        a.Kill();
        // gobgpd dies with it (parent-death signal); make sure nothing is left in the namespace either way.
        KillAll(ApplianceNs(i));
        CleanDpdkRuntime(FilePrefix(i));
    }

    /// <summary>Starts a process in a namespace with redirected output; Dispose kills it.</summary>
    public Process Start(string ns, string file, params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", ns, file, .. args]) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file} in {ns}");
        lock (_lock) _processes.Add(p);
        return p;
    }

    /// <summary>Starts switchyard-peer servers (plain and streaming port, IPv4 and IPv6, TCP or MPTCP) on every backend.</summary>
    public void StartServers(string peerDll, bool mptcp)
    {
        for (int j = 0; j < Spec.Backends; j++)
        {
            var args = new List<string> { peerDll, "server", "--listen", "0.0.0.0", "--listen", "::", "--port", Spec.ServicePort.ToString(CultureInfo.InvariantCulture),
                "--stream-port", Spec.StreamPort.ToString(CultureInfo.InvariantCulture), "--id", $"b{j}", "--max-seconds", "900" };
            if (mptcp) args.Add("--mptcp");
            var p = Start(BackendNs(j), ApplianceProcess.Dotnet, [.. args]);
            var seen = new System.Text.StringBuilder();
            int ready = 0;
            using var readyEvent = new CountdownEvent(2);
            p.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (seen) seen.AppendLine(e.Data);
                if (e.Data.StartsWith("READY", StringComparison.Ordinal) && Interlocked.Increment(ref ready) <= 2) readyEvent.Signal();
            };
            p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (seen) seen.AppendLine(e.Data); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var until = DateTime.UtcNow.AddSeconds(90);
            while (!readyEvent.Wait(50))
            {
                if (p.HasExited) { lock (seen) throw new InvalidOperationException($"peer server b{j} exited: {seen}"); }
                if (DateTime.UtcNow > until) { lock (seen) throw new TimeoutException($"peer server b{j} not ready: {seen}"); }
            }
        }
    }

    /// <summary>In-kernel MPTCP path manager: the client opens a second subflow from its second addresses.</summary>
    public void ConfigureMptcp()
    {
        foreach (var ns in Enumerable.Range(0, Spec.Backends).Select(BackendNs))
            Ip(ns, "mptcp", "limits", "set", "subflows", "4", "add_addr_accepted", "0");
        Ip(ClientNs, "mptcp", "limits", "set", "subflows", "4", "add_addr_accepted", "0");
        Ip(ClientNs, "mptcp", "endpoint", "add", ClientV4[1].ToString(), "dev", "eth0", "subflow");
        Ip(ClientNs, "mptcp", "endpoint", "add", ClientV6[1].ToString(), "dev", "eth0", "subflow");
    }

    static void KillAll(string ns)
    {
        var pids = Shell.Try("ip", ["netns", "pids", ns]);
        if (pids.ExitCode != 0) return;
        foreach (var line in pids.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            if (int.TryParse(line.Trim(), out var pid))
                try { using var p = Process.GetProcessById(pid); p.Kill(entireProcessTree: true); p.WaitForExit(5000); }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
    }

    static void CleanDpdkRuntime(string filePrefix)
    {
        var d = Path.Combine("/var/run/dpdk", filePrefix);
        try { if (Directory.Exists(d)) Directory.Delete(d, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public void Dispose()
    {
        List<Process> procs; List<string> nss;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            procs = _processes.ToList(); _processes.Clear();
            nss = _namespaces.ToList(); _namespaces.Clear();
        }
        foreach (var a in _appliances) a?.Dispose();
        foreach (var p in procs)
        {
            try { if (!p.HasExited) { p.Kill(entireProcessTree: true); p.WaitForExit(5000); } }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { }
            p.Dispose();
        }
        for (int i = nss.Count - 1; i >= 0; i--)
        {
            KillAll(nss[i]);
            var r = Shell.Try("ip", ["netns", "del", nss[i]]);
            if (r.ExitCode != 0 && !r.StdErr.Contains("No such file")) Console.Error.WriteLine($"cluster {Spec.Prefix}: ip netns del {nss[i]}: {r.StdErr.Trim()}");
        }
        for (int i = 0; i < Spec.Appliances; i++) CleanDpdkRuntime(FilePrefix(i));
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Namespaces named PREFIX-... that exist now (a test asserts none is left).</summary>
    public static IReadOnlyList<string> ListNamespaces(string prefix) =>
        Shell.Run("ip", "netns", "list").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[0]).Where(n => n.StartsWith(prefix + "-", StringComparison.Ordinal)).ToList();
}
