using System.Diagnostics;
using System.Net.Http;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Switchyard.Dataplane.Native;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Integration;

namespace Switchyard.Tests.Observability;

/// <summary>Tests that attach DPDK's multi-process tools (dpdk-telemetry.py, dpdk-dumpcap) to a running appliance,
/// some with hugepages reserved for the run: one at a time, never beside another test class's appliance.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MultiProcessToolsCollection { public const string Name = "DPDK multi-process tools (hugepages)"; }

/// <summary>
/// Makes at least <c>pages</c> 2 MiB hugepages free and a hugetlbfs mounted, for one test, and undoes exactly
/// what it did on Dispose (also after a failure): unmounts what it mounted, removes the directory it made, puts
/// nr_hugepages back if nobody changed it meanwhile, and deletes the hugepage and runtime files of the
/// DPDK file prefixes it was told about. If the pages cannot be had, it throws with the reason (never skips).
/// </summary>
public sealed class HugepageReservation : IDisposable
{
    const string NrPath = "/proc/sys/vm/nr_hugepages";
    long _original = -1, _set = -1;
    bool _mounted, _madeDir;
    readonly List<string> _prefixes = [];
    public string MountPoint { get; private set; } = "";
    public string Log { get; private set; } = "";

    public static HugepageReservation Ensure(int pages)
    {
        var r = new HugepageReservation();
        try { r.Reserve(pages); return r; }
        catch { r.Dispose(); throw; }
    }

    void Reserve(int pages)
    {
        var s = Hugepages.Detect();
        if (s.Free < pages)
        {
            _original = long.Parse(File.ReadAllText(NrPath).Trim());
            long target = _original + (pages - s.Free);
            try { File.WriteAllText(NrPath, target.ToString()); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            { throw new Xunit.Sdk.XunitException($"cannot reserve hugepages (echo {target} > {NrPath}): {e.Message}; run the tests as root"); }
            _set = long.Parse(File.ReadAllText(NrPath).Trim());
            s = Hugepages.Detect();
            Log += $"nr_hugepages {_original} -> {_set}; ";
            if (s.Free < pages)
                throw new Xunit.Sdk.XunitException($"asked for {target} hugepages, the kernel gave {_set} with {s.Free} free ({pages} needed): memory is too fragmented or too small");
        }
        if (s.MountPoint is null)
        {
            MountPoint = "/dev/hugepages";
            if (!Directory.Exists(MountPoint)) { Directory.CreateDirectory(MountPoint); _madeDir = true; }
            var m = ProcessRunner.Run("mount", "-t", "hugetlbfs", "nodev", MountPoint);
            if (m.ExitCode != 0) throw new Xunit.Sdk.XunitException("cannot mount hugetlbfs: " + m.Describe("mount"));
            _mounted = true;
            Log += $"mounted hugetlbfs on {MountPoint}; ";
        }
        else MountPoint = s.MountPoint;
        Log += $"{Hugepages.Detect().Free} free 2 MiB pages";
    }

    /// <summary>Files of this DPDK --file-prefix are removed on Dispose (DPDK keeps a primary's hugepage files after it exits).</summary>
    public void Track(string filePrefix) => _prefixes.Add(filePrefix);

    public void Dispose()
    {
        foreach (var p in _prefixes)
        {
            if (MountPoint.Length > 0 && Directory.Exists(MountPoint))
                foreach (var f in Directory.EnumerateFiles(MountPoint, p + "map_*")) try { File.Delete(f); } catch (IOException) { }
            try { Directory.Delete(Path.Combine("/var/run/dpdk", p), recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        if (_mounted) ProcessRunner.Run("umount", MountPoint);
        if (_madeDir) try { Directory.Delete(MountPoint); } catch (IOException) { }
        if (_set >= 0 && long.TryParse(File.ReadAllText(NrPath).Trim(), out long now) && now == _set)
            File.WriteAllText(NrPath, _original.ToString());
    }
}

/// <summary>The appliance running in the background (until Stop or Dispose), with its metrics endpoint found from its log.</summary>
public sealed partial class RunningAppliance : IDisposable
{
    public required BackgroundProcess Process { get; init; }
    public required string Dir { get; init; }
    public required string FilePrefix { get; init; }
    public int MetricsPort { get; private set; }
    static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(20) };

    [GeneratedRegex(@"metrics: serving http://127\.0\.0\.1:(\d+)/metrics")]
    private static partial Regex ServingLine();

    public string Output => $"--- stdout ---\n{Process.StdOut}\n--- stderr ---\n{Process.StdErr}";

    /// <summary>Writes the frames and the configuration (base + edit: no idle stop, metrics on a free loopback port) and starts it.</summary>
    public static RunningAppliance Start(string name, IEnumerable<byte[]> frames, Action<JsonObject, string> edit)
    {
        Appliance.RequireShim();
        string dir = Appliance.NewDir(name);
        string input = Path.Combine(dir, "in.pcap");
        PcapWriter.WriteAll(input, frames);
        var config = Appliance.BaseConfig(name, input, Path.Combine(dir, "out.pcap"), Path.Combine(dir, "counters.json"));
        ((JsonObject)config["Run"]!)["StopAfterIdleMilliseconds"] = 0;
        ((JsonObject)config["Run"]!)["DurationSeconds"] = 120;
        config["Observability"] = new JsonObject { ["PrometheusListen"] = "127.0.0.1:0" };
        edit(config, dir);
        string path = Path.Combine(dir, "appliance.json");
        File.WriteAllText(path, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var psi = new ProcessStartInfo(PeerProcess.Dotnet)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { Appliance.DllPath, "--config", path }) psi.ArgumentList.Add(a);
        foreach (var k in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("SWITCHYARD_", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(k);
        var bp = new BackgroundProcess(System.Diagnostics.Process.Start(psi)!);
        var r = new RunningAppliance { Process = bp, Dir = dir, FilePrefix = config["Eal"]!["FilePrefix"]!.GetValue<string>() };
        try { r.WaitForEndpoint(TimeSpan.FromSeconds(60)); }
        catch { r.Dispose(); throw; }
        return r;
    }

    void WaitForEndpoint(TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            var m = ServingLine().Match(Process.StdErr + Process.StdOut);
            if (m.Success) { MetricsPort = int.Parse(m.Groups[1].Value); return; }
            if (Process.Process.HasExited) throw new Xunit.Sdk.XunitException($"the appliance exited ({Process.Process.ExitCode}) before serving metrics\n{Output}");
            Thread.Sleep(100);
        }
        throw new Xunit.Sdk.XunitException($"no metrics endpoint within {timeout.TotalSeconds} s\n{Output}");
    }

    public string Get(string path) => Http.GetStringAsync($"http://127.0.0.1:{MetricsPort}{path}").GetAwaiter().GetResult();

    public JsonElement Counters() => JsonDocument.Parse(Get("/counters")).RootElement.Clone();

    /// <summary>Polls /counters until the workers have received n frames (and the count no longer moves).</summary>
    public JsonElement WaitForRx(long n, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        JsonElement c = default;
        while (sw.Elapsed < timeout)
        {
            c = Counters();
            if (c.GetProperty("totals").GetProperty("rxPackets").GetInt64() >= n) return c;
            Thread.Sleep(100);
        }
        throw new Xunit.Sdk.XunitException($"rxPackets did not reach {n} in {timeout.TotalSeconds} s: {c}\n{Output}");
    }

    /// <summary>SIGTERM, then waits for a clean exit.</summary>
    public int Stop()
    {
        ProcessRunner.Run("kill", "-TERM", Process.Process.Id.ToString());
        if (!Process.Process.WaitForExit(30000)) throw new Xunit.Sdk.XunitException($"the appliance did not stop within 30 s of SIGTERM\n{Output}");
        Process.Process.WaitForExit();
        return Process.Process.ExitCode;
    }

    public void Dispose()
    {
        Process.Dispose();
        if (Environment.GetEnvironmentVariable("SWITCHYARD_KEEP_PCAP") == "1") return;
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Runs /usr/bin/dpdk-telemetry.py non-interactively: one command per stdin line, one JSON reply per output line.</summary>
public static class TelemetryTool
{
    public static string Executable => ProcessRunner.Which("dpdk-telemetry.py")
        ?? throw new Xunit.Sdk.XunitException("dpdk-telemetry.py not found: apt-get install -y dpdk");

    /// <summary>Replies[i] is the value of the reply to commands[i] (the reply is {"/cmd": value}).</summary>
    public sealed record Result(string Command, string Output, List<JsonNode?> Replies);

    public static Result Query(string filePrefix, params string[] commands)
    {
        string stdin = string.Join('\n', commands) + "\n";
        var r = ProcessRunner.Run("python3", [Executable, "-f", filePrefix], TimeSpan.FromSeconds(30), stdin: stdin);
        string shown = $"{Executable} -f {filePrefix}  (stdin: {string.Join(" ; ", commands)})";
        if (r.ExitCode != 0) throw new Xunit.Sdk.XunitException(r.Describe(shown));
        var replies = new List<JsonNode?>();
        foreach (var line in r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            JsonNode? node;
            try { node = JsonNode.Parse(line); }
            catch (JsonException) { throw new Xunit.Sdk.XunitException($"not a JSON reply: '{line}'\n{r.Describe(shown)}"); }
            var obj = node!.AsObject();
            if (obj.Count != 1) throw new Xunit.Sdk.XunitException($"a reply with {obj.Count} keys: '{line}'");
            replies.Add(obj.First().Value?.DeepClone());
        }
        if (replies.Count != commands.Length)
            throw new Xunit.Sdk.XunitException($"{commands.Length} commands but {replies.Count} replies\n{r.Describe(shown)}");
        return new Result(shown, r.StdOut, replies);
    }
}
