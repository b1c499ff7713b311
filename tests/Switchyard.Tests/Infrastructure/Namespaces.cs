using Switchyard.Demo;

namespace Switchyard.Tests.Infrastructure;

/// <summary>Guards for tests that need root and network namespaces. They fail (never skip) with a message that
/// says what is missing, so a CI run without privileges is red instead of silently green.</summary>
public static class Namespaces
{
    public static bool IsRoot => OperatingSystem.IsLinux() && geteuid() == 0;

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = false)]
    static extern uint geteuid();

    public static void RequireRoot()
    {
        if (!OperatingSystem.IsLinux())
            throw new InvalidOperationException("end-to-end tests need Linux network namespaces (Category=EndToEnd)");
        if (geteuid() != 0)
            throw new InvalidOperationException(
                "end-to-end tests need root (ip netns, veth, bridge); run the test suite as root, or exclude them with --filter \"Category!=EndToEnd\"");
        foreach (var tool in new[] { "ip", "ethtool", "ping", "sysctl" })
            if (ProcessRunner.Which(tool) is null)
                throw new InvalidOperationException($"end-to-end tests need '{tool}' on PATH (Debian: iproute2, ethtool, iputils-ping, procps)");
    }

    /// <summary>A fresh, unique topology prefix for one test run.</summary>
    public static string NewPrefix() => TopologySpec.RandomPrefix();

    /// <summary>All namespace names currently present.</summary>
    public static IReadOnlyList<string> List() =>
        ProcessRunner.Check("ip", "netns", "list").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[0]).ToList();

    public static void AssertNoneWithPrefix(string prefix)
    {
        var left = List().Where(n => n.StartsWith(prefix + "-", StringComparison.Ordinal)).ToList();
        if (left.Count > 0) throw new Xunit.Sdk.XunitException($"namespaces left behind: {string.Join(", ", left)}");
    }

    /// <summary>Builds a topology for a test after checking privileges; the caller disposes it (using).</summary>
    public static Topology CreateTopology(int clients = 1, int backends = 2, bool ipv6 = true)
    {
        RequireRoot();
        return Topology.Create(new TopologySpec { Prefix = NewPrefix(), Clients = clients, Backends = backends, IPv6 = ipv6 });
    }
}
