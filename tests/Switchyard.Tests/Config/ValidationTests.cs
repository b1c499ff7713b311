using Switchyard.Management.Options;
using static Switchyard.Tests.Config.ConfigFixtures;

namespace Switchyard.Tests.Config;

public class ValidationTests
{
    [Theory]
    [InlineData("Vips:0:Address=192.0.2.999", "Vips[0].Address", "not an IPv4 or IPv6")]
    [InlineData("Pools:0:Backends:0:Address=backend.example", "Pools[0].Backends[0].Address", "not an IPv4 or IPv6")]
    [InlineData("Pools:0:MaglevSize=65536", "Pools[0].MaglevSize", "prime")]
    [InlineData("Pools:1:Name=web", "Pools[1].Name", "duplicate pool name", "Vips:1:Pool=web")]
    [InlineData("Vips:1:Name=http", "Vips[1].Name", "duplicate VIP name")]
    [InlineData("Pools:0:Backends:1:Name=w1", "Pools[0].Backends[1].Name", "duplicate backend name")]
    [InlineData("Vips:0:Pool=nope", "Vips[0].Pool", "unknown pool 'nope'")]
    [InlineData("Pools:1:Backends:0:Port=nope", "Pools[1].Backends[0].Port", "unknown port 'nope'")]
    [InlineData("Pools:0:Backends:0:Weight=65536", "Pools[0].Backends[0].Weight", "0..65535")]
    [InlineData("Pools:0:Backends:0:Weight=-1", "Pools[0].Backends[0].Weight", "0..65535")]
    [InlineData("Pools:0:Backends:0:Mac=02:00:00:00:11", "Pools[0].Backends[0].Mac", "not a MAC")]
    [InlineData("Ports:1:GatewayMac=zz:00:00:00:00:fe", "Ports[1].GatewayMac", "not a MAC")]
    [InlineData("Vips:2:Port=80", "Vips[2].Port", "\"any\"")]
    [InlineData("Vips:0:Port=65536", "Vips[0].Port", "0..65535")]
    [InlineData("Vips:0:Protocol=sctp", "Vips[0].Protocol", "\"tcp\", \"udp\" or \"any\"")]
    [InlineData("Vips:1:Address=192.0.2.100", "Vips[1]", "", "Vips:1:Port=80", "Vips:1:Protocol=tcp")]
    [InlineData("Pools:1:EncapSourceV4=198.18.200.1/24", "Pools[1].EncapSourceV4", "host bits")]
    [InlineData("Pools:1:EncapSourceV4=198.18.200.0/33", "Pools[1].EncapSourceV4", "0..32")]
    [InlineData("Pools:1:EncapSourceV4=2001:db8::/64", "Pools[1].EncapSourceV4", "IPv6 prefix")]
    [InlineData("Pools:1:EncapSourceV6=2001:db8::/64x", "Pools[1].EncapSourceV6", "prefix length")]
    [InlineData("Pools:1:Forwarding=vxlan", "Pools[1].Forwarding", "\"l2dsr\"")]
    [InlineData("Pools:1:Fragments=keep", "Pools[1].Fragments", "\"hash\" or \"drop\"")]
    [InlineData("Pools:1:TcpIdleTimeoutSeconds=-5", "Pools[1].TcpIdleTimeoutSeconds", "seconds")]
    [InlineData("Pools:1:UdpIdleTimeoutSeconds=0", "Pools[1].UdpIdleTimeoutSeconds", "seconds")]
    [InlineData("Pools:1:GuePort=70000", "Pools[1].GuePort", "1..65535")]
    [InlineData("Eal:Hugepages=maybe", "Eal.Hugepages", "\"auto\", \"require\" or \"off\"")]
    [InlineData("Eal:Allow:0=03:00", "Eal.Allow[0]", "PCI")]
    [InlineData("Ports:0:Mtu=9999999", "Ports[0].Mtu", "68..")]
    [InlineData("Ports:0:RxDescriptors=1000", "Ports[0].RxDescriptors", "power of two")]
    [InlineData("Ports:0:TxQueues=1", "Ports[0].TxQueues", "fewer than the 2 workers")]
    [InlineData("Ports:0:Addresses:0=10.0.0.1", "Ports[1].Addresses[0]", "already Ports[0].Addresses[0]")]
    [InlineData("Cores:1=1", "Cores[1]", "core 1 already runs Cores[0]")]
    [InlineData("Dataplane:FlowTableEntries=1000", "Dataplane.FlowTableEntries", "power of two")]
    [InlineData("Dataplane:MaxBackends=3", "Dataplane.MaxBackends", "fewer than the 6")]
    [InlineData("Dataplane:MbufCacheSize=600", "Dataplane.MbufCacheSize", "0..512")]
    [InlineData("Run:DurationSeconds=-1", "Run.DurationSeconds", "0")]
    [InlineData("Run:StopAfterIdleMilliseconds=-1", "Run.StopAfterIdleMilliseconds", "0")]
    [InlineData("Demo:Prefix=much-too-long", "Demo.Prefix", "1..6")]
    [InlineData("Demo:Clients=0", "Demo.Clients", "1..250")]
    public void Each_mistake_is_reported_at_its_exact_path(string setting, string path, string reason, params string[] more)
    {
        var errors = ErrorsWith([$"--{setting}", .. more.Select(m => $"--{m}")]);
        var e = Assert.Single(errors);
        Assert.Equal(path, e.Path);
        Assert.Contains(reason, e.Reason);
    }

    [Fact]
    public void A_duplicate_port_name_is_reported_and_references_to_the_lost_name_too()
    {
        var errors = ErrorsWith("--Ports:1:Name=outside");
        Assert.Equal("Ports[1].Name", errors[0].Path);
        Assert.Contains("duplicate port name 'outside' (also Ports[0])", errors[0].Reason);
        Assert.Contains(errors, e => e.Path == "Pools[1].Backends[0].Port" && e.Reason.Contains("unknown port 'inside'"));
    }

    [Fact]
    public void An_l2dsr_backend_without_a_mac_is_reported()
    {
        var e = Assert.Single(Errors(ValidJson.Replace(", \"Mac\": \"02:00:00:00:00:12\"", "")));
        Assert.Equal("Pools[0].Backends[1].Mac", e.Path);
        Assert.Contains("l2dsr", e.Reason);
    }

    [Fact]
    public void An_encapsulated_backend_needs_a_mac_when_its_port_has_no_gateway()
    {
        var errors = Errors(ValidJson.Replace("\"GatewayMac\": \"02:00:00:00:00:fe\", ", ""));
        Assert.Equal(["Pools[1].Backends[0].Mac", "Pools[1].Backends[1].Mac"], errors.Select(e => e.Path));
    }

    [Fact]
    public void An_encapsulating_pool_with_a_backend_of_the_other_family_than_its_vip_is_reported()
    {
        var errors = ErrorsWith("--Pools:1:Backends:1:Address=2001:db8::53", "--Pools:1:EncapSourceV6=2001:db8:200::/64");
        var e = Assert.Single(errors);
        Assert.Equal("Pools[1].Backends[1].Address", e.Path);
        Assert.Contains("4in4", e.Reason);
    }

    [Fact]
    public void An_l2dsr_pool_may_mix_families()
    {
        Assert.Empty(ErrorsWith("--Pools:0:Backends:1:Address=2001:db8::12"));
    }

    [Fact]
    public void An_encapsulating_pool_needs_a_source_prefix_of_its_backends_family()
    {
        var errors = Errors(ValidJson.Replace("\"EncapSourceV4\": \"198.18.200.0/24\", ", ""));
        Assert.Equal("Pools[1].EncapSourceV4", Assert.Single(errors).Path);
    }

    [Fact]
    public void No_ports_and_no_workers_are_both_reported()
    {
        var errors = Errors("""{ "Ports": [], "Pools": [], "Vips": [] }""");
        Assert.Contains(errors, e => e.Path == "Ports" && e.Reason.Contains("no ports"));
        Assert.Contains(errors, e => e.Path == "Workers" && e.Reason.Contains("no workers"));
    }

    const string Explicit = """
      "Workers": [
        { "Core": 1, "Queues": [ { "Port": "outside", "Queue": 0 }, { "Port": "inside", "Queue": 0 } ] },
        { "Core": 2, "Queues": [ { "Port": "outside", "Queue": 1 }, { "Port": "inside", "Queue": 1 } ] }
      ],
    """;

    [Fact]
    public void An_explicit_worker_layout_that_owns_every_queue_once_is_valid()
    {
        var o = Load(ValidJson.Replace("\"Cores\": [ 1, 2 ],", Explicit)).Options;
        Assert.Equal(2, WorkerLayout.RxQueues(o, o.Ports[0]));
        Assert.Equal([("outside", 1), ("inside", 1)], WorkerLayout.Resolve(o)[1].Queues);
    }

    [Fact]
    public void A_queue_owned_twice_is_reported()
    {
        var json = ValidJson.Replace("\"Cores\": [ 1, 2 ],", Explicit.Replace("\"Port\": \"inside\", \"Queue\": 1", "\"Port\": \"inside\", \"Queue\": 0"));
        var e = Assert.Single(Errors(json));
        Assert.Equal("Workers[1].Queues[1]", e.Path);
        Assert.Contains("already owned by Workers[0].Queues[1]", e.Reason);
    }

    [Fact]
    public void A_receive_queue_no_worker_owns_is_reported()
    {
        var json = ValidJson.Replace("\"Cores\": [ 1, 2 ],", Explicit).Replace("\"Name\": \"inside\",", "\"Name\": \"inside\", \"RxQueues\": 3,");
        var e = Assert.Single(Errors(json));
        Assert.Equal("Ports[1].RxQueues", e.Path);
        Assert.Contains("queue 2 of port 'inside' is owned by no worker", e.Reason);
    }

    [Fact]
    public void A_queue_beyond_the_ports_receive_queues_is_reported()
    {
        var json = ValidJson.Replace("\"Cores\": [ 1, 2 ],", Explicit).Replace("\"Name\": \"inside\",", "\"Name\": \"inside\", \"RxQueues\": 1,");
        var e = Assert.Single(Errors(json));
        Assert.Equal("Workers[1].Queues[1].Queue", e.Path);
    }

    [Fact]
    public void Workers_and_cores_together_are_reported()
    {
        var e = Assert.Single(Errors(ValidJson.Replace("\"Cores\": [ 1, 2 ],", Explicit + "\"Cores\": [ 3 ],")));
        Assert.Equal("Cores", e.Path);
    }
}
