using Switchyard.Management.Options;
using Switchyard.Management.Health;
using static Switchyard.Tests.Config.ConfigFixtures;

namespace Switchyard.Tests.Health;

public class HealthValidationTests
{
    [Theory]
    [InlineData("Pools:0:HealthCheck:Type=ping", "Pools[0].HealthCheck.Type", "\"none\", \"tcp\", \"http\" or \"encap\"")]
    [InlineData("Pools:0:HealthCheck:Type=tcp", "Pools[0].HealthCheck.Port", "every port (Port 0)")]
    [InlineData("Pools:0:HealthCheck:Type=tcp", "Pools[0].HealthCheck.Port", "1..65535", "Pools:0:HealthCheck:Port=70000")]
    [InlineData("Pools:1:HealthCheck:Type=tcp", "Pools[1].HealthCheck.Rise", "1..100", "Pools:1:HealthCheck:Rise=0")]
    [InlineData("Pools:1:HealthCheck:Type=tcp", "Pools[1].HealthCheck.Fall", "1..100", "Pools:1:HealthCheck:Fall=101")]
    [InlineData("Pools:1:HealthCheck:Type=tcp", "Pools[1].HealthCheck.IntervalMs", "100..3600000", "Pools:1:HealthCheck:IntervalMs=50")]
    [InlineData("Pools:1:HealthCheck:Type=tcp", "Pools[1].HealthCheck.TimeoutMs", "at most IntervalMs", "Pools:1:HealthCheck:TimeoutMs=3000")]
    [InlineData("Pools:1:HealthCheck:Type=tcp", "Pools[1].HealthCheck.Initial", "\"up\" or \"down\"", "Pools:1:HealthCheck:Initial=maybe")]
    [InlineData("Pools:1:HealthCheck:Type=tcp", "Pools[1].HealthCheck.SourceAddress", "not an IPv4 or IPv6", "Pools:1:HealthCheck:SourceAddress=mgmt")]
    [InlineData("Pools:1:HealthCheck:Type=http", "Pools[1].HealthCheck.Path", "absolute path", "Pools:1:HealthCheck:Path=healthz")]
    [InlineData("Pools:1:HealthCheck:Type=http", "Pools[1].HealthCheck.ExpectStatus", "100..599", "Pools:1:HealthCheck:ExpectStatus=99")]
    [InlineData("Pools:1:HealthCheck:Type=http", "Pools[1].HealthCheck.Host", "printable ASCII", "Pools:1:HealthCheck:Host=a b")]
    [InlineData("Pools:0:HealthCheck:Type=encap", "Pools[0].HealthCheck.Type", "needs an encapsulating pool", "Pools:0:HealthCheck:Port=80")]
    [InlineData("Pools:0:AllDownPolicy=panic", "Pools[0].AllDownPolicy", "\"fail-open\" or \"fail-closed\"")]
    [InlineData("Pools:1:HealthCheck:IntervalMs=soon", "Pools[1].HealthCheck.IntervalMs", "whole number")]
    public void Each_health_mistake_is_reported_at_its_exact_path(string setting, string path, string reason, params string[] more)
    {
        var errors = ErrorsWith([$"--{setting}", .. more.Select(m => $"--{m}")]);
        var e = Assert.Single(errors);
        Assert.Equal(path, e.Path);
        Assert.Contains(reason, e.Reason);
    }

    [Fact]
    public void Encap_checks_need_a_VIP_of_the_backends_family()
    {
        var errors = ErrorsWith("--Pools:1:HealthCheck:Type=encap", "--Vips:1:Address=2001:db8::53", "--Pools:1:Backends:0:Address=2001:db8:1::1");
        // Backends[1] is IPv4 and no IPv4 VIP uses the pool; Backends[0]'s family mismatch with the VIP is the
        // forwarding rule's complaint, not the health check's.
        Assert.Contains(errors, e => e.Path == "Pools[1].HealthCheck.Type" && e.Reason.Contains("no IPv4 VIP uses pool 'dns'"));
    }

    [Fact]
    public void Valid_checks_load_and_defaults_keep_todays_behaviour()
    {
        Assert.Empty(ErrorsWith("--Pools:1:HealthCheck:Type=encap", "--Pools:0:HealthCheck:Type=http", "--Pools:0:HealthCheck:Port=8080",
            "--Pools:0:HealthCheck:Path=/healthz", "--Pools:0:AllDownPolicy=fail-closed", "--Pools:0:HealthCheck:SourceAddress=192.0.2.3"));
        var o = Load(ValidJson).Options;
        Assert.All(o.Pools, p => Assert.Equal(("none", AllDownPolicy.FailOpen), (p.HealthCheck.Type, p.AllDownPolicy)));
        var seen = new List<HealthTransition>();
        using var c = new HealthChecker(o, seen.Add, TextWriter.Null);
        c.Start();
        Assert.Empty(c.Backends());
        Assert.Empty(c.Pools());
        Assert.Empty(seen);
    }
}
