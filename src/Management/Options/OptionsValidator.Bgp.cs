using System.Net;
using System.Net.Sockets;

namespace Switchyard.Management.Options;

public static partial class OptionsValidator
{
    public const int MaxDrainHoldDownSeconds = 3600;

    static void ValidateBgp(ApplianceOptions o, Action<string, string> add)
    {
        var b = o.Bgp;
        // MinHealthyBackends is checked whether or not BGP is on: a typo should not wait for the day BGP is switched on.
        if (b.MinHealthyBackends < 0) add("Bgp.MinHealthyBackends", $"{b.MinHealthyBackends} must be 0 or more");
        for (int i = 0; i < o.Pools.Length; i++)
            if (o.Pools[i].MinHealthyBackends is int m && m < 0) add($"Pools[{i}].MinHealthyBackends", $"{m} must be 0 or more");
        for (int i = 0; i < o.Vips.Length; i++)
            if (o.Vips[i].MinHealthyBackends is int m && m < 0) add($"Vips[{i}].MinHealthyBackends", $"{m} must be 0 or more");
        if (b.Bfd.Enabled)
            add("Bgp.Bfd.Enabled", "BFD is not supported: the BGP speaker is gobgpd 3.10 (Debian 12), which has no BFD (GoBGP added it in 4.x); " +
                "use a short Bgp.HoldTimeSeconds (3) for failure detection, or leave Bfd out");
        if (!b.Enabled) return;

        if (b.LocalAs is < 1 or > uint.MaxValue) add("Bgp.LocalAs", $"{b.LocalAs} must be an AS number 1..4294967295");
        if (!IPAddress.TryParse(b.RouterId, out var rid) || rid.AddressFamily != AddressFamily.InterNetwork || b.RouterId.Count(c => c == '.') != 3)
            add("Bgp.RouterId", $"'{b.RouterId}' must be an IPv4 address (dotted quad), unique among the routers' peers");
        if (b.Neighbors.Length == 0) add("Bgp.Neighbors", "no neighbours: add at least one router ({\"Address\": ..., \"As\": ...})");
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < b.Neighbors.Length; i++)
        {
            var n = b.Neighbors[i];
            string at = $"Bgp.Neighbors[{i}]";
            if (!IPAddress.TryParse(n.Address, out var na)) add($"{at}.Address", $"'{n.Address}' is not an IPv4 or IPv6 address");
            else if (!seen.TryAdd(na.ToString(), i)) add($"{at}.Address", $"{n.Address} is already Bgp.Neighbors[{seen[na.ToString()]}]");
            if (n.As is < 1 or > uint.MaxValue) add($"{at}.As", $"{n.As} must be an AS number 1..4294967295");
            if (n.Port is < 1 or > ushort.MaxValue) add($"{at}.Port", $"{n.Port} must be 1..65535");
        }
        if (b.HoldTimeSeconds is not 0 and (< 3 or > ushort.MaxValue)) add("Bgp.HoldTimeSeconds", $"{b.HoldTimeSeconds} must be 0 or 3..65535 (RFC 4271)");
        if (b.ConnectRetrySeconds is < 1 or > 3600) add("Bgp.ConnectRetrySeconds", $"{b.ConnectRetrySeconds} must be 1..3600");
        if (b.DrainHoldDownSeconds is < 0 or > MaxDrainHoldDownSeconds) add("Bgp.DrainHoldDownSeconds", $"{b.DrainHoldDownSeconds} must be 0..{MaxDrainHoldDownSeconds}");
        if (b.StallMilliseconds is < 50 or > 600_000) add("Bgp.StallMilliseconds", $"{b.StallMilliseconds} must be 50..600000");
        if (!TryParseHostPort(b.GrpcAddress, out _, out _)) add("Bgp.GrpcAddress", $"'{b.GrpcAddress}' must be HOST:PORT (e.g. \"127.0.0.1:50051\")");
        if (b.Daemon.Manage && string.IsNullOrWhiteSpace(b.Daemon.Path)) add("Bgp.Daemon.Path", "required when Bgp.Daemon.Manage is true");

        // The next hops are the appliance's own data-plane addresses: the routers send VIP traffic there.
        var own = o.Ports.SelectMany(p => p.Addresses).Where(a => IPAddress.TryParse(a, out _)).Select(a => IPAddress.Parse(a)).ToList();
        bool anyV4Vip = o.Vips.Any(v => IPAddress.TryParse(v.Address, out var a) && a.AddressFamily == AddressFamily.InterNetwork);
        bool anyV6Vip = o.Vips.Any(v => IPAddress.TryParse(v.Address, out var a) && a.AddressFamily == AddressFamily.InterNetworkV6);
        CheckNextHop("Bgp.NextHopV4", b.NextHopV4, AddressFamily.InterNetwork, anyV4Vip);
        CheckNextHop("Bgp.NextHopV6", b.NextHopV6, AddressFamily.InterNetworkV6, anyV6Vip);

        void CheckNextHop(string path, string? value, AddressFamily family, bool needed)
        {
            string fam = family == AddressFamily.InterNetwork ? "IPv4" : "IPv6";
            if (value is null)
            {
                if (needed && NextHop(o, family) is null)
                    add(path, $"required: there are {fam} VIPs and no port has an {fam} address to announce as their next hop");
                return;
            }
            if (!IPAddress.TryParse(value, out var a) || a.AddressFamily != family) add(path, $"'{value}' is not an {fam} address");
            else if (!own.Contains(a)) add(path, $"{value} is not one of the ports' Addresses; the next hop must be the appliance's own data-plane address");
        }
    }

    static void ValidateExceptionPath(ApplianceOptions o, Action<string, string> add)
    {
        var x = o.ExceptionPath;
        if (!x.Enabled) return;
        int port = 0;
        if (x.Port is not null)
        {
            port = Array.FindIndex(o.Ports, p => p.Name == x.Port);
            if (port < 0) add("ExceptionPath.Port", UnknownRef("port", x.Port, o.Ports.Select(p => p.Name)));
        }
        if (string.IsNullOrEmpty(x.Interface) || x.Interface.Length > 15 || !x.Interface.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            add("ExceptionPath.Interface", $"'{x.Interface}' must be 1..15 letters, digits, '-', '_' or '.' (a Linux interface name)");
        if (x.RatePerSecond < 0) add("ExceptionPath.RatePerSecond", $"{x.RatePerSecond} must be 0 (no limit) or more");
        if (x.Burst is < 1 or > 1 << 20) add("ExceptionPath.Burst", $"{x.Burst} must be 1..1048576");
        if (x.RingSize is < 64 or > 1 << 20 || !System.Numerics.BitOperations.IsPow2(x.RingSize)) add("ExceptionPath.RingSize", $"{x.RingSize} must be a power of two, 64..1048576");
        if (port >= 0 && port < o.Ports.Length)
        {
            var own = o.Ports[port].Addresses.Where(a => IPAddress.TryParse(a, out _)).Select(IPAddress.Parse).ToList();
            if (own.Count == 0) add("ExceptionPath.Port", $"port '{o.Ports[port].Name}' has no Addresses: the exception path serves the port's own addresses");
            for (int i = 0; i < x.Addresses.Length; i++)
            {
                var s = x.Addresses[i];
                int slash = s.IndexOf('/');
                if (slash < 0 || !IPAddress.TryParse(s[..slash], out var a) || !int.TryParse(s[(slash + 1)..], out int len)
                    || len < 0 || len > (a.AddressFamily == AddressFamily.InterNetwork ? 32 : 128))
                    add($"ExceptionPath.Addresses[{i}]", $"'{s}' must be ADDRESS/PREFIXLENGTH (e.g. \"10.0.0.11/24\")");
                else if (!own.Contains(a)) add($"ExceptionPath.Addresses[{i}]", $"{a} is not one of Ports[{port}].Addresses");
            }
        }
    }

    /// <summary>The announced next hop of a family: Bgp.NextHopV4/V6, else the first address of that family of the
    /// exception path's port (or of the first port, then of any port).</summary>
    public static IPAddress? NextHop(ApplianceOptions o, AddressFamily family)
    {
        string? configured = family == AddressFamily.InterNetwork ? o.Bgp.NextHopV4 : o.Bgp.NextHopV6;
        if (configured is not null) return IPAddress.TryParse(configured, out var c) ? c : null;
        var ports = o.Ports.OrderBy(p => p.Name == o.ExceptionPath.Port ? 0 : 1);
        foreach (var p in ports)
            foreach (var a in p.Addresses)
                if (IPAddress.TryParse(a, out var ip) && ip.AddressFamily == family) return ip;
        return null;
    }

    /// <summary>The MinHealthyBackends in force for a VIP: its own, else its pool's, else Bgp's.</summary>
    public static int MinHealthyBackends(ApplianceOptions o, VipOptions v) =>
        v.MinHealthyBackends ?? o.Pools.FirstOrDefault(p => p.Name == v.Pool)?.MinHealthyBackends ?? o.Bgp.MinHealthyBackends;

    public static bool TryParseHostPort(string? s, out string host, out int port)
    {
        host = ""; port = 0;
        if (string.IsNullOrEmpty(s)) return false;
        int colon = s.LastIndexOf(':');
        if (colon <= 0) return false;
        host = s[..colon].Trim('[', ']');
        return int.TryParse(s[(colon + 1)..], out port) && port is > 0 and <= ushort.MaxValue && host.Length > 0;
    }
}

public static partial class OptionsValidator
{
    static void ValidateIdleBackoff(ApplianceOptions o, Action<string, string> add)
    {
        if (o.Dataplane.IdleBackoffMicroseconds is < 0 or > 100_000)
            add("Dataplane.IdleBackoffMicroseconds", $"{o.Dataplane.IdleBackoffMicroseconds} must be 0 (busy polling) .. 100000");
        if (o.Dataplane.IdleBackoffPolls is < 1 or > 1 << 24)
            add("Dataplane.IdleBackoffPolls", $"{o.Dataplane.IdleBackoffPolls} must be 1..16777216");
    }
}
