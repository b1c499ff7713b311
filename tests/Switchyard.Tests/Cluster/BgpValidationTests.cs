using Switchyard.Management.Options;
using static Switchyard.Tests.Config.ConfigFixtures;

namespace Switchyard.Tests.Cluster;

/// <summary>The Bgp, ExceptionPath and idle back-off settings (issue 12): every mistake refused at its JSON path.</summary>
public class BgpValidationTests
{
    static readonly string[] ValidBgp =
    [
        "--Bgp:Enabled=true", "--Bgp:LocalAs=65010", "--Bgp:RouterId=192.0.2.1",
        "--Bgp:Neighbors:0:Address=192.0.2.254", "--Bgp:Neighbors:0:As=65000",
    ];

    [Fact]
    public void A_valid_bgp_section_loads_with_its_defaults()
    {
        var o = Load(ValidJson, ValidBgp).Options;
        Assert.True(o.Bgp.Enabled);
        Assert.Equal(65010, o.Bgp.LocalAs);
        Assert.Equal(179, o.Bgp.Neighbors[0].Port);
        Assert.Equal(9, o.Bgp.HoldTimeSeconds);
        // The next hop defaults to the first port's address of the VIP's family: the data-plane address.
        Assert.Equal("192.0.2.1", OptionsValidator.NextHop(o, System.Net.Sockets.AddressFamily.InterNetwork)!.ToString());
        Assert.Equal("2001:db8::1", OptionsValidator.NextHop(o, System.Net.Sockets.AddressFamily.InterNetworkV6)!.ToString());
    }

    [Theory]
    [InlineData("Bgp:LocalAs=0", "Bgp.LocalAs", "1..4294967295")]
    [InlineData("Bgp:LocalAs=4294967296", "Bgp.LocalAs", "1..4294967295")]
    [InlineData("Bgp:RouterId=2001:db8::1", "Bgp.RouterId", "IPv4 address")]
    [InlineData("Bgp:Neighbors:0:Address=router", "Bgp.Neighbors[0].Address", "not an IPv4 or IPv6 address")]
    [InlineData("Bgp:Neighbors:0:As=-1", "Bgp.Neighbors[0].As", "AS number")]
    [InlineData("Bgp:Neighbors:0:Port=0", "Bgp.Neighbors[0].Port", "1..65535")]
    [InlineData("Bgp:HoldTimeSeconds=2", "Bgp.HoldTimeSeconds", "0 or 3..65535")]
    [InlineData("Bgp:DrainHoldDownSeconds=-1", "Bgp.DrainHoldDownSeconds", "0..3600")]
    [InlineData("Bgp:StallMilliseconds=10", "Bgp.StallMilliseconds", "50..600000")]
    [InlineData("Bgp:GrpcAddress=localhost", "Bgp.GrpcAddress", "HOST:PORT")]
    [InlineData("Bgp:NextHopV4=198.51.100.1", "Bgp.NextHopV4", "not one of the ports' Addresses")]
    [InlineData("Bgp:NextHopV6=192.0.2.1", "Bgp.NextHopV6", "not an IPv6 address")]
    [InlineData("Bgp:MinHealthyBackends=-1", "Bgp.MinHealthyBackends", "0 or more")]
    [InlineData("Pools:0:MinHealthyBackends=-2", "Pools[0].MinHealthyBackends", "0 or more")]
    [InlineData("Vips:1:MinHealthyBackends=-3", "Vips[1].MinHealthyBackends", "0 or more")]
    [InlineData("Bgp:Bfd:Enabled=true", "Bgp.Bfd.Enabled", "gobgpd 3.10")]
    [InlineData("Bgp:Daemon:Manage=yes", "Bgp.Daemon.Manage", "true or false")]
    [InlineData("Bgp:Neighbours:0:Address=192.0.2.254", "Bgp.Neighbours", "unknown setting")]
    public void Each_bgp_mistake_is_reported_at_its_exact_path(string setting, string path, string reason)
    {
        var errors = Errors(ValidJson, [.. ValidBgp, $"--{setting}"]);
        var e = Assert.Single(errors);
        Assert.Equal(path, e.Path);
        Assert.Contains(reason, e.Reason);
    }

    [Fact]
    public void Bgp_without_neighbours_is_refused()
    {
        var errors = Errors(ValidJson, ["--Bgp:Enabled=true", "--Bgp:LocalAs=65010", "--Bgp:RouterId=192.0.2.1"]);
        Assert.Contains(errors, e => e.Path == "Bgp.Neighbors" && e.Reason.Contains("at least one router"));
    }

    [Fact]
    public void Bfd_is_refused_even_with_bgp_off_and_says_why()
    {
        var e = Assert.Single(Errors(ValidJson, ["--Bgp:Bfd:Enabled=true"]));
        Assert.Equal("Bgp.Bfd.Enabled", e.Path);
        Assert.Contains("GoBGP added it in 4.x", e.Reason);
    }

    [Theory]
    [InlineData("ExceptionPath:Port=nowhere", "ExceptionPath.Port", "unknown port")]
    [InlineData("ExceptionPath:Interface=a-name-longer-than-15", "ExceptionPath.Interface", "1..15")]
    [InlineData("ExceptionPath:Addresses:0=192.0.2.1", "ExceptionPath.Addresses[0]", "ADDRESS/PREFIXLENGTH")]
    [InlineData("ExceptionPath:Addresses:0=198.51.100.7/24", "ExceptionPath.Addresses[0]", "not one of Ports[0].Addresses")]
    [InlineData("ExceptionPath:RatePerSecond=-1", "ExceptionPath.RatePerSecond", "0 (no limit)")]
    [InlineData("ExceptionPath:RingSize=1000", "ExceptionPath.RingSize", "power of two")]
    [InlineData("Dataplane:IdleBackoffMicroseconds=-5", "Dataplane.IdleBackoffMicroseconds", "0 (busy polling)")]
    [InlineData("Dataplane:IdleBackoffPolls=0", "Dataplane.IdleBackoffPolls", "1..16777216")]
    public void Each_exception_path_and_backoff_mistake_is_reported_at_its_exact_path(string setting, string path, string reason)
    {
        var errors = Errors(ValidJson, ["--ExceptionPath:Enabled=true", $"--{setting}"]);
        var e = Assert.Single(errors);
        Assert.Equal(path, e.Path);
        Assert.Contains(reason, e.Reason);
    }

    [Fact]
    public void MinHealthyBackends_resolves_vip_then_pool_then_bgp()
    {
        var o = Load(ValidJson, [.. ValidBgp, "--Bgp:MinHealthyBackends=2", "--Pools:0:MinHealthyBackends=3", "--Vips:2:MinHealthyBackends=4"]).Options;
        Assert.Equal(3, OptionsValidator.MinHealthyBackends(o, o.Vips[0])); // pool web
        Assert.Equal(2, OptionsValidator.MinHealthyBackends(o, o.Vips[1])); // pool dns: Bgp's default
        Assert.Equal(4, OptionsValidator.MinHealthyBackends(o, o.Vips[2])); // its own
    }
}
