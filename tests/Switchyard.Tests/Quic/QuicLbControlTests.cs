using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Quic;
using Switchyard.Management.Control;
using Switchyard.Management.Options;
using Switchyard.Minting;
using Switchyard.Tests.Control;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Pipeline;

namespace Switchyard.Tests.Quic;

/// <summary>
/// <c>switchyard ctl quic ...</c> through the control protocol: a new configuration is added under an
/// unused codepoint while the old one keeps routing, the old one is removed, a bad one is refused with
/// its JSON path and the running configuration stays; packets through the real processor show each step.
/// </summary>
public sealed class QuicLbControlTests
{
    const string Key1 = "8f95f09245765f80256934e50c66207f", Key2 = "fdf726a9893ec05c0632d3956680baf0";

    static byte[] Short(int client, ushort sport, byte[] cid) =>
        FrameBuilder.Ethernet(PipelineHarness.ClientMac, PipelineHarness.OutsideMac).Ipv4(ControlHarness.Client(client), ControlHarness.Vip)
            .Udp(sport, 443).Payload([0x40, .. cid, .. new byte[24]]).Build();

    [Fact]
    public void Quic_configurations_rotate_live_through_the_control_protocol()
    {
        using var h = new ControlHarness(o =>
        {
            o.QuicLb.Configs = [new QuicLbConfigOptions { ConfigId = 0, ServerIdLength = 2, NonceLength = 8, Key = Key1 }];
            var web = o.Pools.Single(p => p.Name == "web");
            for (int i = 0; i < web.Backends.Length; i++) web.Backends[i].QuicServerId = $"c00{i + 1}";
            o.Vips = [.. o.Vips, new VipOptions { Name = "quic", Address = ControlHarness.Vip, Port = 443, Protocol = "udp", Pool = "web", QuicLb = true }];
        });
        var ctl = new ControlCommands(h.Control);
        var old = new QuicLbMinter(new QuicLbConfig(0, 2, 8, Convert.FromHexString(Key1)), Convert.FromHexString("c002"));
        var next = new QuicLbMinter(new QuicLbConfig(3, 2, 8, Convert.FromHexString(Key2)), Convert.FromHexString("c002"));

        Assert.Equal("w2", h.BackendOf(h.Send(Short(1, 1000, old.Mint()))));
        Assert.Contains("\"ok\":true", ctl.Handle($"{{\"args\":[\"quic\",\"set\",\"3\",\"2\",\"8\",\"{Key2}\"]}}"));
        Assert.Equal("w2", h.BackendOf(h.Send(Short(2, 1001, old.Mint()))));
        Assert.Equal("w2", h.BackendOf(h.Send(Short(3, 1002, next.Mint()))));
        var list = ctl.Handle("{\"args\":[\"quic\",\"list\"]}");
        Assert.Contains("\"configId\":3", list);
        Assert.DoesNotContain(Key2, list); // key material never leaves the process

        // Refused: JSON path, and the running configuration stays.
        var bad = ctl.Handle("{\"args\":[\"quic\",\"set\",\"4\",\"2\",\"18\",\"plain\"]}");
        Assert.Contains("\"ok\":false", bad);
        Assert.Contains("QuicLb.Configs[2].NonceLength", bad);
        Assert.Equal(2, h.Control.Running.QuicLb.Configs.Length);
        Assert.Contains("\"usage\":true", ctl.Handle("{\"args\":[\"quic\",\"set\",\"7\",\"2\",\"8\",\"plain\"]}"));

        Assert.Contains("\"ok\":true", ctl.Handle("{\"args\":[\"quic\",\"remove\",\"0\"]}"));
        h.Send(Short(4, 1003, old.Mint()));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicUnknownConfig));
        Assert.Equal("w2", h.BackendOf(h.Send(Short(5, 1004, next.Mint()))));
        Assert.Contains("\"ok\":false", ctl.Handle("{\"args\":[\"quic\",\"remove\",\"0\"]}"));
        Assert.Equal(4, h.Counters.Get(GlobalCounter.QuicRoutedByCid));

        // Length self-description switched on live: the minter's CIDs still route, one with other low bits falls back.
        Assert.Contains("\"usage\":true", ctl.Handle($"{{\"args\":[\"quic\",\"set\",\"3\",\"2\",\"8\",\"{Key2}\",\"selflength\"]}}"));
        Assert.Contains("\"ok\":true", ctl.Handle($"{{\"args\":[\"quic\",\"set\",\"3\",\"2\",\"8\",\"{Key2}\",\"self-length\"]}}"));
        Assert.Contains("\"selfEncodedLength\":true", ctl.Handle("{\"args\":[\"quic\",\"list\"]}"));
        Assert.Equal("w2", h.BackendOf(h.Send(Short(6, 1005, next.Mint()))));
        var foreign = next.Mint();
        foreign[0] ^= 0x01;
        h.Send(Short(7, 1006, foreign));
        Assert.Equal(1, h.Counters.Get(GlobalCounter.QuicCidLengthMismatch));
        Assert.Equal(5, h.Counters.Get(GlobalCounter.QuicRoutedByCid));
    }
}
