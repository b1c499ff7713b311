using System.Text.Json;
using System.Text.Json.Nodes;
using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Integration;

/// <summary>
/// The process's error contract, end to end: an invalid configuration exits 2 with every JSON path and reason
/// on stderr (and starts no DPDK); a DPDK failure exits 1 with DPDK's own error text. Never a stack trace.
/// </summary>
[Collection(ApplianceCollection.Name)]
[Trait("Category", "Integration")]
public sealed class ErrorPathTests
{
    static (ProcessResult Result, string Dir) RunWith(string name, Action<JsonObject> edit, params string[] args)
    {
        Appliance.RequireShim();
        string dir = Appliance.NewDir(name);
        string input = Path.Combine(dir, "in.pcap");
        PcapWriter.WriteAll(input, [TestNetwork.Syn(TestNetwork.Dsr4, 40000)]);
        var config = Appliance.BaseConfig(name, input, Path.Combine(dir, "out.pcap"), Path.Combine(dir, "counters.json"));
        TestNetwork.Apply(config);
        edit(config);
        string path = Path.Combine(dir, "appliance.json");
        File.WriteAllText(path, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return (Appliance.RunProcess(path, args), dir);
    }

    static void NoStackTrace(ProcessResult r) =>
        Assert.False(r.StdErr.Contains("   at ") || r.StdErr.Contains("Unhandled exception"), "stack trace on stderr:\n" + r.StdErr);

    [Fact]
    public void Invalid_configuration_exits_2_with_each_json_path_and_reason()
    {
        var (r, dir) = RunWith("badcfg", c =>
        {
            c["Vips"]![1]!["Pool"] = "nosuch";
            c["Ports"]![0]!["Mtu"] = 20;
            c["Pools"]![0]!["Backends"]![1]!["Mac"] = "not-a-mac";
        });
        try
        {
            Assert.True(r.ExitCode == 2, r.Describe("switchyard"));
            Assert.Contains("invalid configuration (4 errors)", r.StdErr);
            Assert.Contains("Vips[1].Pool: unknown pool 'nosuch'", r.StdErr);
            Assert.Contains("Ports[0].Mtu: 20 must be 68..16128", r.StdErr);
            Assert.Contains("Ports[0].Mtu: 20 is below IPv6's minimum of 1280", r.StdErr);
            Assert.Contains("Pools[0].Backends[1].Mac: 'not-a-mac' is not a MAC address", r.StdErr);
            Assert.DoesNotContain("EAL:", r.StdErr);   // nothing reached DPDK
            NoStackTrace(r);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Unknown_key_and_wrong_type_exit_2_with_their_paths_from_file_and_command_line()
    {
        var (r, dir) = RunWith("badshape", c => c["Run"]!["Duration"] = 5, "--Dataplane:FlowTableEntries=lots");
        try
        {
            Assert.True(r.ExitCode == 2, r.Describe("switchyard"));
            Assert.Contains("Run.Duration: unknown setting", r.StdErr);
            Assert.Contains("Dataplane.FlowTableEntries: 'lots' is not a whole number", r.StdErr);
            NoStackTrace(r);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Device_that_does_not_exist_exits_1_with_dpdk_error_text()
    {
        var (r, dir) = RunWith("nodev", c => c["Ports"]![0]!["Device"] = "net_pcap9");
        try
        {
            Assert.True(r.ExitCode == 1, r.Describe("switchyard"));
            Assert.Contains("DPDK error: rte_eth_dev_get_port_by_name('net_pcap9'): No such device", r.StdErr);
            NoStackTrace(r);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Vdev_that_fails_to_probe_exits_1_with_the_drivers_own_message()
    {
        var (r, dir) = RunWith("noprobe", c => c["Eal"]!["Vdevs"]![0] = "net_pcap0,rx_pcap=/nonexistent/switchyard-in.pcap,tx_pcap=/dev/null");
        try
        {
            Assert.True(r.ExitCode == 1, r.Describe("switchyard"));
            // libpcap's text through DPDK's pcap driver, then our summary pointing at it.
            Assert.Contains("Couldn't open /nonexistent/switchyard-in.pcap", r.StdErr);
            Assert.Contains("DPDK error:", r.StdErr);
            Assert.Contains("see the EAL log above", r.StdErr);
            NoStackTrace(r);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Issue 16, as a new user meets them through the executable: a missing default file names the directory,
    /// an empty file is named as empty, `ctl` without an appliance says so and an unknown ctl command is a usage error.</summary>
    [Fact]
    public void First_use_mistakes_are_told_in_words_by_the_executable()
    {
        string dir = Directory.CreateTempSubdirectory("pk-firstuse-").FullName;
        try
        {
            ProcessResult Run(params string[] args) => ProcessRunner.Run(PeerProcess.Dotnet, [Appliance.DllPath, .. args], TimeSpan.FromSeconds(90),
                workingDirectory: dir, environment: new Dictionary<string, string?> { ["SWITCHYARD_KEEP_PCAP"] = null });

            var missing = Run("--check");
            Assert.True(missing.ExitCode == 2, missing.Describe("switchyard --check, no file"));
            Assert.Contains($"appliance.json: configuration file not found: no appliance.json in {dir} (the current directory;", missing.StdErr);
            NoStackTrace(missing);

            File.WriteAllText(Path.Combine(dir, "empty.json"), "");
            var empty = Run("--check", "empty.json");
            Assert.True(empty.ExitCode == 2, empty.Describe("switchyard --check empty.json"));
            Assert.Contains("empty.json: the file is empty", empty.StdErr);

            string sock = Path.Combine(dir, "none.sock");
            var ctl = Run("ctl", "--socket", sock, "list");
            Assert.True(ctl.ExitCode == 1, ctl.Describe("switchyard ctl list, no appliance"));
            Assert.Contains($"no appliance is listening on {sock} (socket file missing)", ctl.StdErr);
            var unknown = Run("ctl", "--socket", sock, "lst");
            Assert.True(unknown.ExitCode == 2, unknown.Describe("switchyard ctl lst"));
            Assert.Contains("unknown command 'lst'", unknown.StdErr);
            NoStackTrace(unknown);
        }
        finally { Directory.Delete(dir, true); }
    }
}
