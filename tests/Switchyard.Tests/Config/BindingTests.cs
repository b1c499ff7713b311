using System.Collections;
using Switchyard.Management.Options;
using static Switchyard.Tests.Config.ConfigFixtures;

namespace Switchyard.Tests.Config;

public class BindingTests
{
    [Fact]
    public void A_valid_file_with_comments_and_trailing_commas_binds()
    {
        var o = Load(ValidJson).Options;
        Assert.Equal(2, o.Ports.Length);
        Assert.Equal("02:00:00:00:00:fe", o.Ports[1].GatewayMac);
        Assert.Equal(2, o.Pools[0].Backends[1].Weight);
        Assert.False(o.Pools[0].Backends[2].Enabled);
        Assert.Equal(6080, o.Pools[1].GuePort);
        Assert.Equal(1500, o.Ports[0].Mtu);
        Assert.Equal(DataplaneOptions.DefaultFlowHashSeed, o.Dataplane.FlowHashSeed);
    }

    [Fact]
    public void A_json_null_or_empty_override_leaves_an_optional_setting_absent()
    {
        var o = Load(ValidJson.Replace("\"Device\": \"net_null0\",", "\"Device\": \"net_null0\", \"Mac\": null, \"RxQueues\": null,"),
                     ["--Ports:1:TxQueues="]).Options;
        Assert.Null(o.Ports[0].Mac);
        Assert.Null(o.Ports[0].RxQueues);
        Assert.Null(o.Ports[1].TxQueues);
    }

    [Fact]
    public void Environment_variables_override_the_file_and_the_command_line_overrides_both()
    {
        var env = new Hashtable
        {
            ["SWITCHYARD_Vips__0__Port"] = "8080",
            ["SWITCHYARD_Dataplane__FlowHashSeed"] = "7",
            ["OTHER_Vips__0__Port"] = "1",
        };
        var o = Load(ValidJson, ["--Dataplane:FlowHashSeed=9", "--Pools:0:Backends:1:Weight", "5"], env).Options;
        Assert.Equal(8080, o.Vips[0].Port);
        Assert.Equal(9u, o.Dataplane.FlowHashSeed);
        Assert.Equal(5, o.Pools[0].Backends[1].Weight);
        // The override touched one key of the item; the rest still comes from the file.
        Assert.Equal("http", o.Vips[0].Name);
    }

    [Fact]
    public void Switchyard_variables_without_a_section_are_not_settings()
    {
        // SWITCHYARD_NATIVE_DIR tells the shim loader where the library is; it must not be read as
        // an (unknown, hence refused) configuration key.
        var env = new Hashtable { ["SWITCHYARD_NATIVE_DIR"] = "/opt/switchyard", ["SWITCHYARD_KEEP_PCAP"] = "1" };
        var o = Load(ValidJson, [], env).Options;
        Assert.Equal("http", o.Vips[0].Name);
    }

    [Fact]
    public void A_string_where_a_number_belongs_is_reported_with_its_path_and_no_exception_escapes()
    {
        var errors = Errors(ValidJson.Replace("\"Weight\": 2", "\"Weight\": \"heavy\""));
        var e = Assert.Single(errors);
        Assert.Equal("Pools[0].Backends[1].Weight", e.Path);
        Assert.Contains("'heavy'", e.Reason);
    }

    [Fact]
    public void A_type_error_from_the_command_line_is_reported_with_its_path()
    {
        var e = Assert.Single(ErrorsWith("--Ports:0:Promiscuous=maybe"));
        Assert.Equal("Ports[0].Promiscuous", e.Path);
    }

    [Fact]
    public void An_unknown_key_is_reported_as_a_probable_typo()
    {
        var e = Assert.Single(Errors(ValidJson.Replace("\"MaglevSize\": 251", "\"MaglevSise\": 251")));
        Assert.Equal("Pools[0].MaglevSise", e.Path);
        Assert.Contains("unknown setting", e.Reason);
    }

    [Fact]
    public void An_array_override_past_the_end_with_a_gap_is_reported()
    {
        var errors = ErrorsWith("--Vips:7:Port=1");
        Assert.Contains(errors, e => e.Path == "Vips[7]" && e.Reason.Contains("gap"));
    }

    [Fact]
    public void An_object_where_a_value_belongs_is_reported()
    {
        var e = Assert.Single(Errors(ValidJson.Replace("\"Weight\": 2", "\"Weight\": { \"x\": 1 }")));
        Assert.Equal("Pools[0].Backends[1].Weight", e.Path);
    }

    [Fact]
    public void Malformed_json_is_reported_against_the_file_with_its_position()
    {
        var ex = Assert.Throws<ConfigurationException>(() => Load("{ \"Ports\": [ }"));
        Assert.Contains("JSON syntax error at line 1, column 14: '}' is an invalid start of a value", ex.Message);
        Assert.DoesNotContain("LineNumber", ex.Message);
    }

    [Fact]
    public void A_missing_file_is_a_configuration_error()
    {
        var ex = Assert.Throws<ConfigurationException>(() => ApplianceConfiguration.Load("/nonexistent/appliance.json", [], new Hashtable()));
        Assert.Equal("/nonexistent/appliance.json", ex.Errors[0].Path);
    }

    [Fact]
    public void A_standalone_config_switch_is_taken_out_before_the_command_line_provider_sees_it()
    {
        string path = "appliance.json";
        var rest = ApplianceConfiguration.TakeConfigPath(["--config", "other.json", "--Run:DurationSeconds=5"], ref path);
        Assert.Equal("other.json", path);
        Assert.Equal(["--Run:DurationSeconds=5"], rest);
    }

    [Fact]
    public void Several_errors_are_reported_together_and_the_message_lists_each_path()
    {
        var json = ValidJson
            .Replace("\"192.0.2.11\"", "\"192.0.2.300\"")
            .Replace("\"MaglevSize\": 251", "\"MaglevSize\": 250")
            .Replace("\"Pool\": \"dns\"", "\"Pool\": \"dnz\"");
        var ex = Assert.Throws<ConfigurationException>(() => Load(json));
        var paths = ex.Errors.Select(e => e.Path).ToHashSet();
        Assert.Equal(["Pools[0].Backends[0].Address", "Pools[0].MaglevSize", "Vips[1].Pool"], paths.Order());
        foreach (var p in paths) Assert.Contains(p + ": ", ex.Message);
    }

    [Fact]
    public void Automatic_worker_layout_gives_each_worker_its_own_queue_on_every_port()
    {
        var o = Load(ValidJson).Options;
        var plans = WorkerLayout.Resolve(o);
        Assert.Equal(2, plans.Count);
        Assert.Equal([("outside", 0), ("inside", 0)], plans[0].Queues);
        Assert.Equal([("outside", 1), ("inside", 1)], plans[1].Queues);
        Assert.Equal(2, plans[1].Core);
        Assert.Equal(2, WorkerLayout.TxQueues(o, o.Ports[0]));
    }
}
