using System.Collections;
using System.Reflection;
using System.Text.Json;
using Switchyard.Dataplane.Control;
using Switchyard.Management.Options;
using static Switchyard.Tests.Config.ConfigFixtures;

namespace Switchyard.Tests.Config;

/// <summary>The typed options: deep copies the control plane can edit, names written back as the file spells them,
/// and the restart-only comparison.</summary>
public class OptionsCopyTests
{
    static ApplianceOptions Loaded() => Load(ValidJson, ["--Vips:0:Joins:0=learned-token", "--Pools:0:RemovedFlows=reset",
        "--Pools:1:Fragments=drop", "--Pools:0:AllDownPolicy=fail-closed", "--Mptcp:TokenKeys:0:Id=1",
        "--Mptcp:TokenKeys:0:Key=000102030405060708090a0b0c0d0e0f",
        "--QuicLb:Configs:0:ConfigId=1", "--Cluster:Peers:0=10.0.0.2:7946", "--QuicLb:Configs:0:Key=000102030405060708090a0b0c0d0e0f"]).Options;

    [Fact]
    public void Copy_shares_no_mutable_object_with_the_original_and_holds_the_same_settings()
    {
        var o = Loaded();
        var c = o.Copy();
        AssertNothingShared(o, c, "");
        var json = OptionNames.Json(indented: false);
        Assert.Equal(JsonSerializer.Serialize(o, json), JsonSerializer.Serialize(c, json));
    }

    /// <summary>Walks every public property of the options tree: no class instance or array may be the same object in both.</summary>
    static void AssertNothingShared(object a, object b, string path)
    {
        foreach (var p in a.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0) continue;
            object? x = p.GetValue(a), y = p.GetValue(b);
            if (x is null || x is string || x.GetType().IsValueType || x is Array { Length: 0 }) continue; // an empty array cannot be changed in place
            string at = $"{path}.{p.Name}";
            Assert.False(ReferenceEquals(x, y), $"{at} is shared between the original and its copy: copy it in its class's Copy()");
            if (x is IList xs)
            {
                var ys = (IList)y!;
                for (int i = 0; i < xs.Count; i++)
                    if (xs[i] is { } item && item is not string && !item.GetType().IsValueType) AssertNothingShared(item, ys[i]!, $"{at}[{i}]");
            }
            else AssertNothingShared(x, y!, at);
        }
    }

    [Fact]
    public void Enumerated_settings_bind_to_enums_and_are_written_back_with_their_file_names()
    {
        var o = Loaded();
        Assert.Equal([JoinMode.LearnedToken], o.Vips[0].Joins);
        Assert.Equal((ForwardingMode.L2Dsr, RemovedFlowPolicy.Reset, AllDownPolicy.FailClosed), (o.Pools[0].Forwarding, o.Pools[0].RemovedFlows, o.Pools[0].AllDownPolicy));
        Assert.Equal((ForwardingMode.Gue, FragmentPolicy.Drop), (o.Pools[1].Forwarding, o.Pools[1].Fragments));
        string json = JsonSerializer.Serialize(o, OptionNames.Json(indented: false));
        foreach (var name in new[] { "\"learned-token\"", "\"reset\"", "\"drop\"", "\"fail-closed\"", "\"gue\"", "\"l2dsr\"" })
            Assert.Contains(name, json);
        // What `ctl config` prints loads again as the same configuration.
        var again = JsonSerializer.Deserialize<ApplianceOptions>(json, OptionNames.Json(indented: false))!;
        Assert.Equal(json, JsonSerializer.Serialize(again, OptionNames.Json(indented: false)));
    }

    [Fact]
    public void An_unknown_name_is_refused_with_its_path_and_the_valid_names()
    {
        var e = Assert.Throws<ConfigurationException>(() => Load(ValidJson, ["--Pools:0:RemovedFlows=forget"]));
        var err = Assert.Single(e.Errors);
        Assert.Equal("Pools[0].RemovedFlows", err.Path);
        Assert.Contains("\"rehash\" or \"reset\"", err.Reason);
    }

    [Fact]
    public void Restart_settings_compare_by_content_not_by_identity()
    {
        var o = Loaded();
        Assert.Empty(RestartSettings.Differences(o, Loaded()));
        var c = o.Copy();
        c.Eal.Vdevs = [.. c.Eal.Vdevs, "net_null2"];
        c.Ports[1].Addresses = ["10.0.0.2"];
        c.Dataplane.FlowTableEntries *= 2;
        c.Pools[0].Backends[0].Weight = 7; // live setting: not a restart
        Assert.Equal(["Eal", "Ports", "Dataplane"], RestartSettings.Differences(o, c));
    }
}
