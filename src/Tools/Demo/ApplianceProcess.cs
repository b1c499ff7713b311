using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Switchyard.Demo;

/// <summary>
/// The appliance run as a child process inside a topology namespace (rte_eal_init can run once per
/// process, so the demo and the tests always start a fresh one). Started with a configuration file,
/// ready once it logs "running:", stopped with SIGTERM; its final counters JSON is read from stdout.
/// </summary>
public sealed class ApplianceProcess : IDisposable
{
    readonly Process _p;
    readonly StringBuilder _out = new();
    readonly StringBuilder _err = new();
    readonly ManualResetEventSlim _ready = new();
    readonly Action<string>? _echo;
    readonly string? _filePrefix;

    ApplianceProcess(Process p, Action<string>? echo, string? filePrefix)
    {
        _p = p;
        _echo = echo;
        _filePrefix = filePrefix;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_out) _out.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_err) _err.AppendLine(e.Data);
            _echo?.Invoke(e.Data);
            if (e.Data.Contains("switchyard: running:", StringComparison.Ordinal)) _ready.Set();
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
    }

    /// <summary>switchyard.dll next to the running assembly (the demo, and the tests via their project reference).</summary>
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "switchyard.dll");

    public static string Dotnet => Environment.ProcessPath is { } pp && Path.GetFileNameWithoutExtension(pp) == "dotnet" ? pp : "dotnet";

    /// <summary>Starts the appliance in <paramref name="ns"/> and waits until its workers run.</summary>
    public static ApplianceProcess Start(string ns, string configPath, IEnumerable<string> extraArgs, Action<string>? echo = null,
        TimeSpan? readyTimeout = null)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "netns", "exec", ns, Dotnet, DllPath, "--config", configPath }.Concat(extraArgs)) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start the appliance");
        var ap = new ApplianceProcess(p, echo, FilePrefixOf(configPath, extraArgs));
        var until = DateTime.UtcNow + (readyTimeout ?? TimeSpan.FromSeconds(60));
        while (!ap._ready.Wait(100))
        {
            if (p.HasExited || DateTime.UtcNow > until)
            {
                // Read what is needed before Dispose: a disposed Process answers nothing.
                string why = p.HasExited ? $"exited with code {p.ExitCode}" : $"not ready within {(readyTimeout ?? TimeSpan.FromSeconds(60)).TotalSeconds:0} s";
                ap.Dispose();
                throw new InvalidOperationException($"the appliance did not come up ({why}):\n{ap.StdErr}");
            }
        }
        return ap;
    }

    /// <summary>The DPDK file prefix the appliance runs with (a --Eal:FilePrefix= argument, else the configuration
    /// file's Eal.FilePrefix), or null: Dispose removes its /var/run/dpdk folder when the process had to be killed.</summary>
    static string? FilePrefixOf(string configPath, IEnumerable<string> extraArgs)
    {
        foreach (var a in extraArgs)
            if (a.StartsWith("--Eal:FilePrefix=", StringComparison.Ordinal)) return a["--Eal:FilePrefix=".Length..];
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(configPath));
            return doc.RootElement.TryGetProperty("Eal", out var eal) && eal.TryGetProperty("FilePrefix", out var fp)
                && fp.ValueKind == JsonValueKind.String ? fp.GetString() : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { return null; }
    }

    public string StdErr { get { lock (_err) return _err.ToString(); } }
    public string StdOut { get { lock (_out) return _out.ToString(); } }
    public bool HasExited => _p.HasExited;

    /// <summary>SIGTERM, wait for a clean exit, return the final counters JSON. Throws if it does not stop cleanly.</summary>
    public JsonElement Stop(TimeSpan? timeout = null)
    {
        if (!_p.HasExited) kill(_p.Id, 15);
        if (!_p.WaitForExit((int)(timeout ?? TimeSpan.FromSeconds(20)).TotalMilliseconds))
            throw new InvalidOperationException($"the appliance did not stop after SIGTERM:\n{StdErr}");
        _p.WaitForExit(); // drains the redirected streams
        if (_p.ExitCode != 0) throw new InvalidOperationException($"the appliance exited with code {_p.ExitCode}:\n{StdErr}");
        var text = StdOut;
        int start = text.IndexOf('{');
        if (start < 0) throw new InvalidOperationException($"no counters JSON on the appliance's stdout:\n{text}\n{StdErr}");
        return JsonDocument.Parse(text[start..]).RootElement.Clone();
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);

    /// <summary>Sends SIGTERM without waiting (the caller watches what happens meanwhile, e.g. the BGP withdrawal).</summary>
    public void Terminate() { if (!_p.HasExited) kill(_p.Id, 15); }

    /// <summary>SIGKILL: no clean-up at all (issue 12's crash case).</summary>
    public void Kill() { if (!_p.HasExited) { kill(_p.Id, 9); _p.WaitForExit(5000); } }

    public int? ExitCode => _p.HasExited ? _p.ExitCode : null;

    public bool WaitForExit(TimeSpan timeout) => _p.WaitForExit((int)timeout.TotalMilliseconds);

    public void Dispose()
    {
        try { if (!_p.HasExited) _p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        bool gone = _p.WaitForExit(5000);
        _p.Dispose();
        // An appliance that exits in order removes its DPDK runtime folder; a killed one (a failed start, a test
        // that failed before Stop) leaves it behind.
        if (gone && !string.IsNullOrEmpty(_filePrefix) && !_filePrefix.Contains('/'))
        {
            var d = Path.Combine("/var/run/dpdk", _filePrefix);
            try { if (Directory.Exists(d)) Directory.Delete(d, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
