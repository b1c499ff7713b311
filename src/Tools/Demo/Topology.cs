using System.Diagnostics;
using System.Net;

namespace Switchyard.Demo;

/// <summary>What to build. Prefix must be short and unique per run: every interface name is derived from it
/// and Linux limits interface names to 15 characters.</summary>
public sealed record TopologySpec
{
    public required string Prefix { get; init; }
    public int Clients { get; init; } = 1;
    public int Backends { get; init; } = 2;
    public bool IPv6 { get; init; } = true;
    public IPAddress VipV4 { get; init; } = IPAddress.Parse("198.18.0.100");
    public IPAddress VipV6 { get; init; } = IPAddress.Parse("2001:db8::100");
    public IPAddress ApplianceV4 { get; init; } = IPAddress.Parse("198.18.0.2");
    public IPAddress ApplianceV6 { get; init; } = IPAddress.Parse("2001:db8::2");

    /// <summary>Give every client a second address on its veth (198.18.1.1i/24, and 2001:db8:1::1i/64 with IPv6), and
    /// every backend an on-link route back to those subnets, so an MPTCP client can open a second subflow from it
    /// (see <see cref="Topology.ConfigureMptcpClient"/>). Off by default: the plain topology is unchanged.</summary>
    public bool ClientSecondAddress { get; init; }

    /// <summary>Set net.mptcp.enabled=1 in every host namespace (clients, backends). A new namespace already starts
    /// with the defaults (enabled=1, path_manager=kernel, limits subflows 2 add_addr_accepted 0); this makes it explicit.</summary>
    public bool Mptcp { get; init; }

    /// <summary>Backends built like the others (namespace, VIP on lo, MPTCP settings) but listed in
    /// <see cref="Topology.SpareBackends"/>, not <see cref="Topology.Backends"/>: hosts a test can add to a running
    /// appliance (`switchyard ctl backend add`). Numbered after the regular ones (b4 after three backends).</summary>
    public int SpareBackends { get; init; }

    /// <summary>Add a management leg to the appliance's namespace: a second veth (PREFIX-lbm) into the bridge with kernel
    /// addresses <see cref="ManagementV4"/> (and <see cref="ManagementV6"/> with IPv6), the path the management side
    /// (health checks) uses to reach backends, since the DPDK interface carries no kernel address. Off by default.</summary>
    public bool ManagementLeg { get; init; }
    public IPAddress ManagementV4 { get; init; } = IPAddress.Parse("198.18.0.3");
    public IPAddress ManagementV6 { get; init; } = IPAddress.Parse("2001:db8::3");

    /// <summary>A fresh prefix such as "sy3fa1": short enough for every derived name, random so parallel runs don't collide.</summary>
    public static string RandomPrefix() => "sy" + Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()).AsSpan(0, 2));
}

/// <summary>One host of the topology: its namespace, its interface there, and the bridge port on the LAN side.</summary>
public sealed record Endpoint(string Role, int Index, string Namespace, string Interface, string Mac, string BridgePort,
    IPAddress? V4, IPAddress? V6)
{
    /// <summary>The client's second IPv4 address (same veth) when <see cref="TopologySpec.ClientSecondAddress"/> is set.</summary>
    public IPAddress? SecondV4 { get; init; }
    /// <summary>The client's second IPv6 address (same veth) when <see cref="TopologySpec.ClientSecondAddress"/> and IPv6 are set.</summary>
    public IPAddress? SecondV6 { get; init; }

    /// <summary>One line for logs and failure messages. Mac is "02:53:59:..", the form the appliance configuration uses.</summary>
    public override string ToString() => $"{Role}{Index} ns={Namespace} if={Interface} mac={Mac} v4={V4} v6={V6}";
}

/// <summary>
/// The one-arm L2 DSR demo and test topology:
/// <code>
///   PREFIX-c1 .. cN (clients)   PREFIX-b1 .. bN (backends, VIP on lo)   PREFIX-lb (appliance, DPDK af_packet on PREFIX-lb0)
///         \                          |                                       /
///          +------------------- bridge br0 in PREFIX-lan -------------------+
/// </code>
/// Clients 198.18.0.1i / 2001:db8::1i, backends 198.18.0.2i / 2001:db8::2i, appliance 198.18.0.2 / ::2 (answered by the
/// appliance itself; the kernel interface holds no address), VIP 198.18.0.100 / ::100 answered by the appliance's ARP/NDP.
/// With <see cref="TopologySpec.ManagementLeg"/>, the appliance's namespace also has PREFIX-lbm on the bridge with kernel
/// addresses 198.18.0.3 / 2001:db8::3 (the management side's path to the backends, e.g. for health checks).
/// </summary>
public sealed class Topology : IDisposable
{
    public TopologySpec Spec { get; }
    public string Prefix => Spec.Prefix;
    public string LanNamespace => $"{Prefix}-lan";
    public string Bridge => "br0"; // lives inside the LAN namespace, so it cannot collide with other runs
    public IReadOnlyList<Endpoint> Clients => _clients;
    public IReadOnlyList<Endpoint> Backends => _backends;
    /// <summary>Backend hosts not meant for the initial configuration (<see cref="TopologySpec.SpareBackends"/>).</summary>
    public IReadOnlyList<Endpoint> SpareBackends => _spareBackends;
    /// <summary>The appliance's veth end: Interface is what DPDK's net_af_packet attaches to (iface=...), inside Namespace.</summary>
    public Endpoint Appliance { get; private set; } = null!;
    public IPAddress VipV4 => Spec.VipV4;
    public IPAddress? VipV6 => Spec.IPv6 ? Spec.VipV6 : null;
    public string ApplianceNamespace => Appliance.Namespace;
    /// <summary>The management leg (in the appliance's namespace) when <see cref="TopologySpec.ManagementLeg"/> is set, else null.</summary>
    public Endpoint? Management { get; private set; }

    readonly List<Endpoint> _clients = new();
    readonly List<Endpoint> _backends = new();
    readonly List<Endpoint> _spareBackends = new();
    readonly List<string> _namespaces = new();      // in creation order, so Dispose removes exactly what exists
    readonly List<Process> _processes = new();
    readonly object _lock = new();
    bool _disposed;

    Topology(TopologySpec spec) => Spec = spec;

    public static string MacFor(int role, int index) => $"02:53:59:{role:x2}:{(index >> 8) & 0xff:x2}:{index & 0xff:x2}";
    const int RoleClient = 1, RoleBackend = 2, RoleAppliance = 3, RoleManagement = 4, BridgePortFlag = 0x80;

    public static Topology Create(TopologySpec spec)
    {
        Validate(spec);
        var t = new Topology(spec);
        try
        {
            t.Build();
            return t;
        }
        catch
        {
            // Half-built: remove what exists before reporting, so a failed Create never leaks namespaces.
            t.Dispose();
            throw;
        }
    }

    static void Validate(TopologySpec s)
    {
        if (string.IsNullOrEmpty(s.Prefix) || s.Prefix.Length > 8 || !s.Prefix.All(c => char.IsAsciiLetterOrDigit(c)))
            throw new ArgumentException($"prefix '{s.Prefix}' must be 1-8 ASCII letters/digits (interface names are limited to 15 characters)");
        if (s.Clients is < 1 or > 9) throw new ArgumentException("clients must be 1..9 (addresses 198.18.0.11-19)");
        if (s.Backends is < 1 or > 9) throw new ArgumentException("backends must be 1..9 (addresses 198.18.0.21-29)");
        if (s.SpareBackends < 0 || s.Backends + s.SpareBackends > 9)
            throw new ArgumentException("backends + spare backends must be at most 9 (addresses 198.18.0.21-29)");
    }

    void Build()
    {
        AddNamespace(LanNamespace);
        Ip(LanNamespace, "link", "add", Bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0");
        Ip(LanNamespace, "link", "set", Bridge, "up");

        for (int i = 1; i <= Spec.Clients; i++)
        {
            var c = AddHost("c", RoleClient, i, IPAddress.Parse($"198.18.0.{10 + i}"), IPAddress.Parse($"2001:db8::{10 + i}"));
            if (Spec.ClientSecondAddress)
            {
                // Same veth, a second subnet: the source address alone tells the subflows apart, and the routes
                // below make every host answer it directly (DSR replies from a backend go straight to the client).
                var v4b = IPAddress.Parse($"198.18.1.{10 + i}");
                Ip(c.Namespace, "addr", "add", $"{v4b}/24", "dev", c.Interface);
                IPAddress? v6b = null;
                if (Spec.IPv6)
                {
                    v6b = IPAddress.Parse($"2001:db8:1::{10 + i}");
                    Ip(c.Namespace, "addr", "add", $"{v6b}/64", "dev", c.Interface, "nodad");
                }
                c = c with { SecondV4 = v4b, SecondV6 = v6b };
            }
            if (Spec.Mptcp) Sysctl(c.Namespace, "net.mptcp.enabled", "1");
            _clients.Add(c);
        }
        for (int i = 1; i <= Spec.Backends + Spec.SpareBackends; i++)
        {
            var b = AddHost("b", RoleBackend, i, IPAddress.Parse($"198.18.0.{20 + i}"), IPAddress.Parse($"2001:db8::{20 + i}"));
            // DSR: the backend accepts VIP traffic because the VIP is local (on lo), but must never answer ARP/NDP
            // for it, or clients would bypass the appliance.
            Sysctl(b.Namespace, "net.ipv4.conf.all.arp_ignore", "1");
            Sysctl(b.Namespace, "net.ipv4.conf.all.arp_announce", "2");
            Sysctl(b.Namespace, $"net.ipv4.conf.{b.Interface}.arp_ignore", "1");
            Sysctl(b.Namespace, $"net.ipv4.conf.{b.Interface}.arp_announce", "2");
            Ip(b.Namespace, "addr", "add", $"{Spec.VipV4}/32", "dev", "lo");
            // Linux answers NS only for addresses on the receiving interface, so a /128 on lo stays silent.
            if (Spec.IPv6) Ip(b.Namespace, "addr", "add", $"{Spec.VipV6}/128", "dev", "lo", "nodad");
            if (Spec.ClientSecondAddress)
            {
                // On-link: the backend resolves the clients' second addresses by ARP/NDP on its own veth.
                Ip(b.Namespace, "route", "add", ClientSecondSubnetV4, "dev", b.Interface);
                if (Spec.IPv6) Ip(b.Namespace, "-6", "route", "add", ClientSecondSubnetV6, "dev", b.Interface);
            }
            if (Spec.Mptcp) Sysctl(b.Namespace, "net.mptcp.enabled", "1");
            (i <= Spec.Backends ? _backends : _spareBackends).Add(b);
        }

        // The appliance's interface carries no kernel address: the DPDK process answers ARP/NDP itself,
        // and a kernel address would make Linux answer too (and send RSTs for VIP traffic).
        Appliance = AddHost("lb", RoleAppliance, 0, null, null, ifName: $"{Prefix}-lb0", v4Report: Spec.ApplianceV4,
            v6Report: Spec.IPv6 ? Spec.ApplianceV6 : null);
        Sysctl(Appliance.Namespace, $"net.ipv6.conf.{Appliance.Interface}.disable_ipv6", "1");
        if (Spec.ManagementLeg) Management = AddManagementLeg();
    }

    /// <summary>A second veth from the appliance's namespace into the bridge, with kernel addresses. The kernel must
    /// answer ARP for them on this leg only: on the DPDK leg the appliance answers for its own addresses and the VIP.</summary>
    Endpoint AddManagementLeg()
    {
        string ns = Appliance.Namespace, ifn = $"{Prefix}-lbm", port = $"{ifn}-br";
        if (port.Length > 15) throw new ArgumentException($"interface name '{port}' exceeds 15 characters");
        string mac = MacFor(RoleManagement, 0), portMac = MacFor(RoleManagement | BridgePortFlag, 0);
        Ip(LanNamespace, "link", "add", port, "address", portMac, "type", "veth", "peer", "name", ifn, "address", mac, "netns", ns);
        Ip(LanNamespace, "link", "set", port, "master", Bridge);
        Ip(LanNamespace, "link", "set", port, "up");
        Sysctl(ns, "net.ipv4.conf.all.arp_ignore", "1");
        Sysctl(ns, "net.ipv4.conf.all.arp_announce", "2");
        Ip(ns, "link", "set", ifn, "up");
        Ethtool(ns, ifn);
        Ethtool(LanNamespace, port);
        Ip(ns, "addr", "add", $"{Spec.ManagementV4}/24", "dev", ifn);
        if (Spec.IPv6) Ip(ns, "addr", "add", $"{Spec.ManagementV6}/64", "dev", ifn, "nodad");
        return new Endpoint("lbm", 0, ns, ifn, mac, port, Spec.ManagementV4, Spec.IPv6 ? Spec.ManagementV6 : null);
    }

    Endpoint AddHost(string role, int roleId, int index, IPAddress? v4, IPAddress? v6, string? ifName = null,
        IPAddress? v4Report = null, IPAddress? v6Report = null)
    {
        string ns = index == 0 ? $"{Prefix}-{role}" : $"{Prefix}-{role}{index}";
        string ifn = ifName ?? $"{Prefix}-{role}{index}";
        string port = $"{ifn}-br";
        if (port.Length > 15) throw new ArgumentException($"interface name '{port}' exceeds 15 characters");
        string mac = MacFor(roleId, index), portMac = MacFor(roleId | BridgePortFlag, index);
        AddNamespace(ns);
        // Created inside the namespaces directly, so no name ever exists in the root namespace.
        Ip(LanNamespace, "link", "add", port, "address", portMac, "type", "veth", "peer", "name", ifn, "address", mac, "netns", ns);
        Ip(LanNamespace, "link", "set", port, "master", Bridge);
        Ip(LanNamespace, "link", "set", port, "up");
        Ip(ns, "link", "set", ifn, "up");
        // Without this the veth hands TCP segments on with partial checksums, which an AF_PACKET receiver
        // (the appliance) forwards as-is and the backend then drops.
        Ethtool(ns, ifn);
        Ethtool(LanNamespace, port);
        if (v4 is not null) Ip(ns, "addr", "add", $"{v4}/24", "dev", ifn);
        if (v6 is not null && Spec.IPv6) Ip(ns, "addr", "add", $"{v6}/64", "dev", ifn, "nodad");
        return new Endpoint(role, index, ns, ifn, mac, port, v4 ?? v4Report, Spec.IPv6 ? (v6 ?? v6Report) : null);
    }

    void AddNamespace(string ns)
    {
        Shell.Run("ip", "netns", "add", ns);
        lock (_lock) _namespaces.Add(ns);
        Ip(ns, "link", "set", "lo", "up");
        // DAD would hold IPv6 addresses "tentative" for a second or more; tests need them at once.
        Sysctl(ns, "net.ipv6.conf.all.accept_dad", "0");
        Sysctl(ns, "net.ipv6.conf.default.accept_dad", "0");
        // Router solicitations and the like are noise in captures.
        Sysctl(ns, "net.ipv6.conf.default.accept_ra", "0");
    }

    static void Ip(string ns, params string[] args) => Shell.Run("ip", ["-n", ns, .. args]);
    static void Sysctl(string ns, string key, string value) => Shell.Run("ip", "netns", "exec", ns, "sysctl", "-qw", $"{key}={value}");
    static void Ethtool(string ns, string ifn) => Shell.Run("ip", "netns", "exec", ns, "ethtool", "-K", ifn, "tx", "off");

    /// <summary>Runs a command in a namespace to completion; throws with stderr when it fails.</summary>
    public string Exec(string ns, params string[] args) => Shell.Run("ip", ["netns", "exec", ns, .. args]);

    /// <summary>Runs a command in a namespace and returns its result without throwing.</summary>
    public Shell.Result TryExec(string ns, IEnumerable<string> args, int timeoutMs = 30_000) =>
        Shell.Try("ip", ["netns", "exec", ns, .. args], timeoutMs);

    /// <summary>Starts a long-running process in a namespace (stdout/stderr redirected); Dispose kills it.
    /// `ip netns exec` execs the program, so the Process is the program itself.</summary>
    public Process StartProcess(string ns, string fileName, params string[] args)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var psi = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])["netns", "exec", ns, fileName, .. args]) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName} in {ns}");
        lock (_lock) _processes.Add(p);
        return p;
    }

    /// <summary>Sanity check: does an ICMP echo from a namespace reach an address?</summary>
    public bool Ping(string fromNs, IPAddress to, int count = 1, int timeoutSeconds = 2) =>
        TryExec(fromNs, ["ping", "-n", "-q", "-c", count.ToString(), "-W", timeoutSeconds.ToString(), to.ToString()],
            (timeoutSeconds * count + 5) * 1000).ExitCode == 0;

    /// <summary>Throws unless every client reaches every backend's own address across the bridge (v4, and v6 if enabled).</summary>
    public void VerifyBridge()
    {
        foreach (var c in _clients)
            foreach (var b in _backends)
            {
                if (!Ping(c.Namespace, b.V4!)) throw new InvalidOperationException($"{c.Namespace} cannot ping {b.V4} ({b.Namespace})");
                if (Spec.IPv6 && !Ping(c.Namespace, b.V6!)) throw new InvalidOperationException($"{c.Namespace} cannot ping {b.V6} ({b.Namespace})");
            }
    }

    public const string ClientSecondSubnetV4 = "198.18.1.0/24";
    public const string ClientSecondSubnetV6 = "2001:db8:1::/64";

    // ---- MPTCP: in-kernel path manager, per namespace ----

    /// <summary>`ip mptcp limits set subflows S add_addr_accepted A` in ns (the in-kernel PM's per-connection limits:
    /// additional subflows, and ADD_ADDRs from the peer it will act on).</summary>
    public void MptcpLimits(string ns, int subflows, int addAddrAccepted) =>
        Ip(ns, "mptcp", "limits", "set", "subflows", subflows.ToString(), "add_addr_accepted", addAddrAccepted.ToString());

    /// <summary>`ip mptcp endpoint add ADDR [id N] [port P] [dev IF] FLAGS...` in ns. Flags: "signal" (announce it
    /// with ADD_ADDR; with a port the kernel opens a join-only listener there), "subflow" (open a subflow from it
    /// to the peer's initial address), "fullmesh" (from it to every address the peer has, announced ones too),
    /// "backup".</summary>
    public void MptcpEndpoint(string ns, IPAddress address, string? dev, int port, int id, params string[] flags)
    {
        var args = new List<string> { "mptcp", "endpoint", "add", address.ToString() };
        if (id > 0) { args.Add("id"); args.Add(id.ToString()); }
        if (port > 0) { args.Add("port"); args.Add(port.ToString()); }
        if (dev is not null) { args.Add("dev"); args.Add(dev); }
        args.AddRange(flags);
        Ip(ns, args.ToArray());
    }

    /// <summary>`ip mptcp endpoint flush` in ns.</summary>
    public void MptcpFlushEndpoints(string ns) => Ip(ns, "mptcp", "endpoint", "flush");

    /// <summary>`ip mptcp endpoint show` and `ip mptcp limits show` in ns, for logs.</summary>
    public string MptcpShow(string ns) =>
        Shell.Run("ip", "-n", ns, "mptcp", "endpoint", "show") + Shell.Run("ip", "-n", ns, "mptcp", "limits", "show");

    /// <summary>net.mptcp.allow_join_initial_addr_port in ns. false: the kernel sets the C flag in every MP_CAPABLE
    /// (the peer must not join the initial address/port) and refuses joins to it.</summary>
    public void MptcpAllowJoinInitialAddrPort(string ns, bool allow) =>
        Sysctl(ns, "net.mptcp.allow_join_initial_addr_port", allow ? "1" : "0");

    /// <summary>net.mptcp.path_manager in ns: "kernel" or "userspace".</summary>
    public void MptcpPathManager(string ns, string pm) => Sysctl(ns, "net.mptcp.path_manager", pm);

    /// <summary>Client side of the in-kernel PM: limits (subflows, add_addr_accepted), then one endpoint per second
    /// address of the client (v4, and v6 if present) on its veth: "subflow" (a join from that address to the server's
    /// initial address; ignored once the server sent the C flag) or, with fullmesh, "fullmesh" (joins from that address
    /// to every server address, announced ones included). Needs <see cref="TopologySpec.ClientSecondAddress"/> for
    /// the endpoints; without it only the limits are set (the client then joins announced addresses from its primary
    /// address).</summary>
    public void ConfigureMptcpClient(Endpoint client, int subflows = 2, int addAddrAccepted = 2, bool fullmesh = false)
    {
        MptcpLimits(client.Namespace, subflows, addAddrAccepted);
        string flag = fullmesh ? "fullmesh" : "subflow";
        if (client.SecondV4 is { } a4) MptcpEndpoint(client.Namespace, a4, client.Interface, 0, 0, flag);
        if (client.SecondV6 is { } a6) MptcpEndpoint(client.Namespace, a6, client.Interface, 0, 0, flag);
    }

    /// <summary>Backend side of the in-kernel PM: limits (a server needs no add_addr_accepted), the C flag when
    /// allowJoinInitialAddrPort is false, and optionally one announced endpoint: `ip mptcp endpoint add ANNOUNCE
    /// port P signal` (ANNOUNCE is the VIP for the announced-port steering, or the backend's own address).</summary>
    public void ConfigureMptcpBackend(Endpoint backend, int subflows = 2, int addAddrAccepted = 0,
        bool allowJoinInitialAddrPort = true, IPAddress? announce = null, int announcePort = 0)
    {
        MptcpLimits(backend.Namespace, subflows, addAddrAccepted);
        MptcpAllowJoinInitialAddrPort(backend.Namespace, allowJoinInitialAddrPort);
        if (announce is not null) MptcpEndpoint(backend.Namespace, announce, null, announcePort, 0, "signal");
    }

    /// <summary>Every namespace this topology created (and not yet removed).</summary>
    public IReadOnlyList<string> Namespaces { get { lock (_lock) return _namespaces.ToList(); } }

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
        var errors = new List<string>();
        foreach (var p in procs)
        {
            try { if (!p.HasExited) { p.Kill(entireProcessTree: true); p.WaitForExit(5000); } }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { }
            p.Dispose();
        }
        // Reverse order: hosts first, the LAN last. Deleting a namespace destroys its veth ends, and with them the peers.
        for (int i = nss.Count - 1; i >= 0; i--)
            if (DeleteNamespace(nss[i]) is { } err) errors.Add(err);
        if (errors.Count > 0)
            Console.Error.WriteLine($"topology {Prefix}: cleanup problems:\n  {string.Join("\n  ", errors)}");
    }

    /// <summary>Kills what still runs inside a namespace we created (a namespace with live processes would
    /// outlive `ip netns del` and keep its veths), then deletes it.</summary>
    static string? DeleteNamespace(string ns)
    {
        var pids = Shell.Try("ip", ["netns", "pids", ns]);
        if (pids.ExitCode == 0)
            foreach (var line in pids.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                if (int.TryParse(line.Trim(), out var pid))
                    try { using var p = Process.GetProcessById(pid); p.Kill(entireProcessTree: true); p.WaitForExit(5000); }
                    catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
        var r = Shell.Try("ip", ["netns", "del", ns]);
        return r.ExitCode == 0 || r.StdErr.Contains("No such file") ? null : $"ip netns del {ns}: {r.StdErr.Trim()}";
    }

    /// <summary>Lists namespaces named "PREFIX-..." (exactly this prefix and a dash).</summary>
    public static IReadOnlyList<string> ListNamespaces(string prefix) =>
        Shell.Run("ip", "netns", "list").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[0])
            .Where(n => n.StartsWith(prefix + "-", StringComparison.Ordinal))
            .ToList();

    /// <summary>Removes namespaces left by an earlier run that died with this exact prefix. Pass the full prefix
    /// of that run ("sy3fa1"), never a shared stem like "sy", or a parallel run's topology goes with it.</summary>
    public static int CleanupStale(string prefix)
    {
        if (string.IsNullOrEmpty(prefix)) throw new ArgumentException("prefix must not be empty");
        int n = 0;
        foreach (var ns in ListNamespaces(prefix).OrderByDescending(x => x.EndsWith("-lan") ? 0 : 1))
            if (DeleteNamespace(ns) is null) n++;
        return n;
    }
}
