using Switchyard.Demo;
using Switchyard.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Switchyard.Tests.EndToEnd;

/// <summary>The README's run command (./build.sh run): switchyard-demo on the default appliance.json.</summary>
[Trait("Category", "EndToEnd")]
public sealed class DemoCommandTests(ITestOutputHelper output)
{
    static string RepoFile(string name)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, name)) && Directory.Exists(Path.Combine(d.FullName, "native")))
                return Path.Combine(d.FullName, name);
        throw new FileNotFoundException($"{name} not found above {AppContext.BaseDirectory}");
    }

    [Fact]
    public void The_default_configuration_runs_the_demo_drives_real_connections_and_cleans_up()
    {
        Namespaces.RequireRoot();
        // Only the names change, so a demo started by hand on this machine cannot collide with the test.
        string prefix = Namespaces.NewPrefix();
        var r = ProcessRunner.Run(ApplianceProcess.Dotnet,
            [Path.Combine(AppContext.BaseDirectory, "switchyard-demo.dll"), "--config", RepoFile("appliance.json"),
             $"--Demo:Prefix={prefix}", $"--Eal:Vdevs:0=net_af_packet0,iface={prefix}-lb0,qpairs=1,framecnt=2048",
             $"--Eal:FilePrefix=demo-{prefix}"],
            TimeSpan.FromMinutes(4));
        output.WriteLine(r.StdOut);
        output.WriteLine(r.StdErr);
        Assert.True(r.ExitCode == 0, r.Describe("switchyard demo"));
        Assert.Contains("150/150 connections ok, 0 failed", r.StdOut);
        foreach (var backend in new[] { "web-1", "web-2", "web-3" }) Assert.Contains(backend, r.StdOut);
        Assert.Contains("Drops by reason:", r.StdOut);
        Namespaces.AssertNoneWithPrefix(prefix);
        // The appliance removes DPDK's runtime directory of its file prefix when it stops.
        Assert.False(Directory.Exists($"/var/run/dpdk/demo-{prefix}"), $"/var/run/dpdk/demo-{prefix} left behind");
    }
}
