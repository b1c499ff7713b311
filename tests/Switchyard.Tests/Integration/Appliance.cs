using System.Text.Json;
using System.Text.Json.Nodes;
using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Integration;

/// <summary>Integration tests start a DPDK process each: run them one at a time (two pinned busy-polling
/// workers on a 2-core machine would only slow each other down).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ApplianceCollection { public const string Name = "Appliance process"; }

/// <summary>What one appliance run left behind: exit code and output, the frames it sent, its final counters.</summary>
public sealed class ApplianceRun : IDisposable
{
    public required string Dir { get; init; }
    public required string InputPcap { get; init; }
    public required string OutputPcap { get; init; }
    public required string CountersFile { get; init; }
    public required ProcessResult Process { get; init; }

    /// <summary>The frames the appliance transmitted, in order.</summary>
    public List<PcapPacket> Output => _output ??= File.Exists(OutputPcap)
        ? PcapReader.ReadAll(OutputPcap)
        : throw new Xunit.Sdk.XunitException($"the appliance wrote no {OutputPcap}\n{Describe()}");
    List<PcapPacket>? _output;

    /// <summary>The final counters JSON (Run.CountersFile, written at exit with "final": true).</summary>
    public JsonElement Counters
    {
        get
        {
            if (_counters is { } c) return c;
            if (!File.Exists(CountersFile)) throw new Xunit.Sdk.XunitException($"no counters file {CountersFile}\n{Describe()}");
            var root = JsonDocument.Parse(File.ReadAllText(CountersFile)).RootElement.Clone();
            Assert.True(root.GetProperty("final").GetBoolean(), "the counters file is not the final one");
            _counters = root;
            return root;
        }
    }
    JsonElement? _counters;

    public JsonElement Totals => Counters.GetProperty("totals");
    public long Total(string name) => Totals.GetProperty(name).GetInt64();
    public long Drop(string reason) => Totals.GetProperty("drops").GetProperty(reason).GetInt64();

    public string Describe() => Process.Describe("switchyard");

    public void AssertCleanExit() => Assert.True(Process.ExitCode == 0 && !Process.TimedOut, Describe());

    public void Dispose()
    {
        // SWITCHYARD_KEEP_PCAP=1 keeps the directory (config, pcaps, counters) for a look in Wireshark.
        if (Environment.GetEnvironmentVariable("SWITCHYARD_KEEP_PCAP") == "1") return;
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// Runs the real appliance (switchyard.dll, copied next to the tests by the project reference) as a child
/// process on DPDK's pcap virtual device: frames in from a pcap the test wrote, frames out to a pcap, final
/// counters to a JSON file. rte_eal_init can run once per process, hence the child process.
/// </summary>
public static class Appliance
{
    static int _runs;

    /// <summary>switchyard.dll next to the test assembly (whatever the build configuration). Fails when missing.</summary>
    public static string DllPath
    {
        get
        {
            var p = Path.Combine(AppContext.BaseDirectory, "switchyard.dll");
            return File.Exists(p) ? p : throw new Xunit.Sdk.XunitException(
                $"switchyard.dll not found next to the tests ({p}): build the solution (dotnet build Switchyard.slnx)");
        }
    }

    /// <summary>The native shim must be there too (the tests fail, never skip, without it).</summary>
    public static void RequireShim()
    {
        var p = Path.Combine(AppContext.BaseDirectory, "libswitchyard_shim.so");
        if (!File.Exists(p))
            throw new Xunit.Sdk.XunitException($"libswitchyard_shim.so not found next to the tests ({p}): run `make -C native` before building");
    }

    /// <summary>The worker core: 1 on any machine with two cores or more (EAL's main lcore takes core 0).</summary>
    public static int WorkerCore => Environment.ProcessorCount > 1 ? 1 : 0;

    public static string NewDir(string name) => Directory.CreateTempSubdirectory($"switchyard-it-{name}-").FullName;

    /// <summary>A unique EAL --file-prefix for this run, so concurrent DPDK processes never share runtime files.</summary>
    public static string FilePrefix(string name) => $"syit-{Environment.ProcessId}-{Interlocked.Increment(ref _runs)}-{name}";

    /// <summary>
    /// The minimal runnable configuration: --no-huge EAL, one net_pcap port reading inPcap and writing outPcap,
    /// one worker, stop after 500 ms without packets (a 30 s safety limit), counters to countersFile.
    /// </summary>
    public static JsonObject BaseConfig(string name, string inPcap, string outPcap, string countersFile) => new()
    {
        ["Eal"] = new JsonObject
        {
            ["Args"] = new JsonArray("--no-pci"),
            ["Vdevs"] = new JsonArray($"net_pcap0,rx_pcap={inPcap},tx_pcap={outPcap}"),
            ["FilePrefix"] = FilePrefix(name),
            ["Hugepages"] = "off",
            ["MemoryMb"] = 512,
        },
        ["Ports"] = new JsonArray(new JsonObject
        {
            ["Name"] = "wire",
            ["Device"] = "net_pcap0",
            ["RxQueues"] = 1,
            ["Mtu"] = 1500,
        }),
        ["Workers"] = new JsonArray(new JsonObject
        {
            ["Core"] = WorkerCore,
            ["Queues"] = new JsonArray(new JsonObject { ["Port"] = "wire", ["Queue"] = 0 }),
        }),
        ["Dataplane"] = new JsonObject { ["FlowTableEntries"] = 65536, ["MempoolMbufs"] = 8191 },
        ["Run"] = new JsonObject
        {
            ["DurationSeconds"] = 30,
            ["StopAfterIdleMilliseconds"] = 500,
            ["CountersFile"] = countersFile,
        },
    };

    /// <summary>Writes the frames to a pcap, the configuration (base + edit) to a file, runs the appliance on them.</summary>
    public static ApplianceRun Run(string name, IEnumerable<byte[]> frames, Action<JsonObject>? edit = null)
    {
        Tshark.Executable.ToString(); // fail early and clearly when the dissector is missing
        RequireShim();
        string dir = NewDir(name);
        string input = Path.Combine(dir, "in.pcap"), output = Path.Combine(dir, "out.pcap"), counters = Path.Combine(dir, "counters.json");
        PcapWriter.WriteAll(input, frames);
        var config = BaseConfig(name, input, output, counters);
        edit?.Invoke(config);
        string configPath = Path.Combine(dir, "appliance.json");
        File.WriteAllText(configPath, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var r = RunProcess(configPath);
        return new ApplianceRun { Dir = dir, InputPcap = input, OutputPcap = output, CountersFile = counters, Process = r };
    }

    /// <summary>Runs `dotnet switchyard.dll --config FILE ARGS...` with a hard timeout. The test's own SWITCHYARD_*
    /// variables (e.g. SWITCHYARD_KEEP_PCAP) are removed from the child's environment: the appliance reads every
    /// SWITCHYARD_* variable as a configuration override and rejects unknown keys.</summary>
    public static ProcessResult RunProcess(string configPath, params string[] args)
    {
        var env = Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Where(k => k.StartsWith("SWITCHYARD_", StringComparison.OrdinalIgnoreCase))
            .ToDictionary(k => k, _ => (string?)null);
        return ProcessRunner.Run(PeerProcess.Dotnet, [DllPath, "--config", configPath, .. args], TimeSpan.FromSeconds(90), environment: env);
    }
}
