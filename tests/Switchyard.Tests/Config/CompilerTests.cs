using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Management.Compile;
using Switchyard.Management.Options;
using static Switchyard.Tests.Config.ConfigFixtures;

namespace Switchyard.Tests.Config;

public class CompilerTests
{
    static Addr128 A(string s) => Addr128.Parse(s);

    [Fact]
    public void A_valid_configuration_compiles_to_ports_pools_backends_and_vips()
    {
        var o = Load(ValidJson).Options;
        var c = new SnapshotCompiler();
        var s = c.Compile(o, Macs);

        Assert.Equal(1, s.Generation);
        Assert.Equal(0x02_00_00_00_00_01UL, s.Ports[0].Mac);
        Assert.Equal(0x02_00_00_00_00_feUL, s.Ports[1].GatewayMac);
        Assert.Equal(2, s.Ports[0].RxQueues);
        Assert.Equal(2, s.Ports[0].TxQueues);
        Assert.Equal(DataplaneOptions.DefaultFlowHashSeed, s.FlowHashSeed);

        // Ids in configuration order on the first compile.
        Assert.Equal(["w1", "w2", "w3", "w4", "d1", "d2"], s.Backends.Select(b => b.Name));
        Assert.Equal(A("192.0.2.12"), s.Backends[1].Address);
        Assert.Equal(0x02_00_00_00_00_12UL, s.Backends[1].Mac);
        Assert.False(s.Backends[2].Usable);                  // Enabled = false
        Assert.True(s.Backends[3].Usable);                   // Weight 0 drains but keeps its flows
        Assert.Equal(0u, s.Backends[3].Weight);
        Assert.Equal((byte)1, s.Backends[4].EgressPort);
        Assert.Equal(0x02_00_00_00_00_feUL, s.Backends[4].Mac); // encapsulated: the port's gateway

        var web = s.Pools[0];
        Assert.Equal(ForwardingMode.L2Dsr, web.Mode);
        Assert.Equal(251, web.Maglev.Length);
        // Only usable backends with weight take slots, and weight 2 takes about twice weight 1's share.
        Assert.Equal([0, 1], web.Maglev.Distinct().Order());
        int w1 = web.Maglev.Count(id => id == 0), w2 = web.Maglev.Count(id => id == 1);
        Assert.InRange(w2 / (double)w1, 1.8, 2.2);
        Assert.Equal(300_000u, web.TcpIdleTicks);
        Assert.Equal(30_000u, web.UdpIdleTicks);

        var dns = s.Pools[1];
        Assert.Equal(ForwardingMode.Gue, dns.Mode);
        Assert.Equal(6080, dns.GuePort);
        Assert.Equal(A("198.18.200.0"), dns.EncapSourceV4);
        Assert.Equal(0xFFu, dns.EncapSourceV4HostMask);
        Assert.Equal([4, 5], dns.Maglev.Distinct().Order());

        Assert.Equal(0, s.VipTable.Lookup(A("192.0.2.100"), 80, 6));
        Assert.Equal(-1, s.VipTable.Lookup(A("192.0.2.100"), 443, 6));
        Assert.Equal(1, s.VipTable.Lookup(A("192.0.2.53"), 53, 17));
        Assert.Equal(-1, s.VipTable.Lookup(A("192.0.2.53"), 53, 6));
        // The whole-address VIP takes every port and protocol.
        Assert.Equal(2, s.VipTable.Lookup(A("192.0.2.200"), 22, 6));
        Assert.Equal(2, s.VipTable.Lookup(A("192.0.2.200"), 5000, 17));
        Assert.Equal(2, s.VipTable.Lookup(A("192.0.2.200"), 0, 1));
        Assert.Equal(1, s.Vips[1].Pool);
        Assert.Equal((byte)0, s.Vips[2].Protocol);
    }

    [Fact]
    public void Port_addresses_are_answered_on_their_port_and_vip_addresses_on_every_port()
    {
        var s = new SnapshotCompiler().Compile(Load(ValidJson).Options, Macs);
        Assert.True(s.LocalAddresses.Contains(A("192.0.2.1"), 0));
        Assert.True(s.LocalAddresses.Contains(A("2001:db8::1"), 0));
        Assert.False(s.LocalAddresses.Contains(A("192.0.2.1"), 1));
        Assert.True(s.LocalAddresses.Contains(A("10.0.0.1"), 1));
        Assert.True(s.LocalAddresses.Contains(A("192.0.2.100"), 0));
        Assert.True(s.LocalAddresses.Contains(A("192.0.2.100"), 1));
        Assert.False(s.LocalAddresses.Contains(A("192.0.2.11"), 0));
    }

    [Fact]
    public void Port_indexes_given_by_the_host_order_the_ports_and_egress()
    {
        var idx = new Dictionary<string, int> { ["outside"] = 1, ["inside"] = 0 };
        var s = new SnapshotCompiler().Compile(Load(ValidJson).Options, Macs, idx);
        Assert.Equal("inside", s.Ports[0].Name);
        Assert.Equal((byte)0, s.Backends[4].EgressPort);
        Assert.Equal((byte)1, s.Backends[0].EgressPort);
    }

    [Fact]
    public void Recompiling_without_a_backend_keeps_the_other_ids_and_never_reuses_the_removed_one()
    {
        var c = new SnapshotCompiler();
        var first = c.Compile(Load(ValidJson).Options, Macs);
        var withoutW1 = ValidJson.Replace("""{ "Name": "w1", "Address": "192.0.2.11", "Mac": "02:00:00:00:00:11" },""", "")
            .Replace("""{ "Name": "d2", "Address": "10.0.1.2", "Port": "inside" }""",
                     """{ "Name": "d2", "Address": "10.0.1.2", "Port": "inside" }, { "Name": "d3", "Address": "10.0.1.3", "Port": "inside" }""");
        var second = c.Compile(Load(withoutW1).Options, Macs);

        Assert.Equal(2, second.Generation);
        Assert.False(second.Backends[0].Usable);             // w1's id stays retired
        Assert.Equal("w1", second.Backends[0].Name);
        for (int id = 1; id < 6; id++) Assert.Equal(first.Backends[id].Name, second.Backends[id].Name);
        Assert.Equal("d3", second.Backends[6].Name);          // a newcomer gets a fresh id
        Assert.DoesNotContain(0, second.Pools[0].Maglev);
        // Maglev moves few slots: w2's slots mostly stay w2's.
        int kept = 0, had = 0;
        for (int i = 0; i < first.Pools[0].Maglev.Length; i++)
            if (first.Pools[0].Maglev[i] == 1) { had++; if (second.Pools[0].Maglev[i] == 1) kept++; }
        Assert.True(kept >= had * 0.9, $"{kept} of {had} slots kept");
    }

    [Fact]
    public void An_invalid_configuration_never_produces_a_snapshot_and_changes_no_state()
    {
        var c = new SnapshotCompiler();
        var o = Load(ValidJson).Options;
        o.Pools[0].MaglevSize = 100;
        var ex = Assert.Throws<ConfigurationException>(() => c.Compile(o, Macs));
        Assert.Equal("Pools[0].MaglevSize", Assert.Single(ex.Errors).Path);
        Assert.Equal(0, c.Generation);
        Assert.Equal(0, c.Ids.Count);
    }

    [Fact]
    public void A_port_without_a_configured_or_reported_mac_is_an_error()
    {
        var c = new SnapshotCompiler();
        var ex = Assert.Throws<ConfigurationException>(() => c.Compile(Load(ValidJson).Options, new Dictionary<string, ulong> { ["inside"] = 2 }));
        Assert.Equal("Ports[0].Mac", Assert.Single(ex.Errors).Path);
        Assert.Equal(0, c.Ids.Count);
    }

    [Fact]
    public void Running_out_of_backend_ids_is_a_clear_error_and_allocates_nothing()
    {
        var c = new SnapshotCompiler();
        var o = Load(ValidJson, ["--Dataplane:MaxBackends=7"]).Options;
        c.Compile(o, Macs);
        o.Pools[1].Backends[0].Name = "d9";
        o.Pools[1].Backends[1].Name = "d8";
        var ex = Assert.Throws<ConfigurationException>(() => c.Compile(o, Macs));
        Assert.Equal("Dataplane.MaxBackends", ex.Errors[0].Path);
        Assert.Contains("never reused", ex.Errors[0].Reason);
        Assert.Equal(6, c.Ids.Count);
        Assert.Equal(1, c.Generation);
    }

    [Fact]
    public void Eal_arguments_follow_the_hugepage_policy_and_put_raw_args_last()
    {
        var eal = new EalOptions { Vdevs = ["net_null0"], Allow = ["0000:03:00.0"], FilePrefix = "sy", Args = ["--log-level=7"], MemoryMb = 256 };
        Assert.Equal(["switchyard", "--file-prefix=sy", "-a", "0000:03:00.0", "--vdev=net_null0", "--log-level=7"], EalArguments.Build(eal, freeHugepages: true));
        Assert.Equal(["switchyard", "--file-prefix=sy", "-a", "0000:03:00.0", "--vdev=net_null0", "--no-huge", "-m", "256", "--log-level=7"], EalArguments.Build(eal, freeHugepages: false));
        eal.Hugepages = "require";
        Assert.DoesNotContain("--no-huge", EalArguments.Build(eal, freeHugepages: false));
        eal.Hugepages = "off";
        Assert.Contains("--no-huge", EalArguments.Build(eal, freeHugepages: true));
    }
}
