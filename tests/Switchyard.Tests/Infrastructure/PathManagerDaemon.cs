using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Switchyard.Demo;

namespace Switchyard.Tests.Infrastructure;

/// <summary>
/// The real mptcpd with the Switchyard path-manager plugin (native/mptcpd-plugin, built by `make -C native`) in a
/// backend namespace, started through the same script operators use (switchyard-pm-run: sets
/// net.mptcp.path_manager=userspace and allow_join_initial_addr_port=0 in that namespace, runs
/// /usr/libexec/mptcpd --load-plugins=switchyard_pm). Dispose stops it (SIGTERM, then kill) and deletes the config;
/// the topology kills whatever is left in its namespaces too.
/// </summary>
public sealed class PathManagerDaemon : IDisposable
{
    public sealed record Vip(string Name, IPAddress Address, int Port, string Mode, IPAddress? Announce = null, int AnnouncePort = 0);

    readonly BackgroundProcess _bp;
    readonly string _configDir;
    public string Namespace { get; }

    PathManagerDaemon(BackgroundProcess bp, string ns, string configDir) { _bp = bp; Namespace = ns; _configDir = configDir; }

    /// <summary>native/ of this checkout (found upwards from the test binaries), or $SWITCHYARD_NATIVE_DIR.</summary>
    public static string NativeDir
    {
        get
        {
            if (Environment.GetEnvironmentVariable("SWITCHYARD_NATIVE_DIR") is { Length: > 0 } env) return env;
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "native", "mptcpd-plugin", "switchyard-pm-run")))
                    return Path.Combine(d.FullName, "native");
            throw new InvalidOperationException($"native/mptcpd-plugin not found above {AppContext.BaseDirectory} (set SWITCHYARD_NATIVE_DIR)");
        }
    }

    public static string RunScript => Path.Combine(NativeDir, "mptcpd-plugin", "switchyard-pm-run");
    public static string PluginDir => Path.Combine(NativeDir, "build", "mptcpd-plugin");

    /// <summary>The configuration file text for these VIPs (the documented format).</summary>
    public static string ConfigJson(IEnumerable<Vip> vips) => JsonSerializer.Serialize(new
    {
        PathManager = new
        {
            Vips = vips.Select(v =>
            {
                var d = new Dictionary<string, object> { ["Name"] = v.Name, ["Address"] = v.Address.ToString(), ["Port"] = v.Port, ["Mode"] = v.Mode };
                if (v.Announce is not null) d["Announce"] = v.Announce.ToString();
                if (v.AnnouncePort != 0) d["AnnouncePort"] = v.AnnouncePort;
                return d;
            }).ToArray(),
        },
    }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Starts mptcpd + plugin in ns and waits until the plugin reports mptcpd ready.</summary>
    public static PathManagerDaemon Start(Topology t, string ns, IEnumerable<Vip> vips, TimeSpan? timeout = null)
    {
        if (!File.Exists("/usr/libexec/mptcpd"))
            throw new InvalidOperationException("mptcpd is not installed (Debian: apt-get install -y mptcpd libmptcpd3-dev)");
        if (!File.Exists(Path.Combine(PluginDir, "switchyard_pm.so")))
            throw new InvalidOperationException($"{PluginDir}/switchyard_pm.so missing: build it with make -C native");
        var dir = Directory.CreateTempSubdirectory("sy-pm-").FullName;
        var config = Path.Combine(dir, "path-manager.json");
        File.WriteAllText(config, ConfigJson(vips));
        var bp = new BackgroundProcess(t.StartProcess(ns, RunScript, "--config", config, "--plugin-dir", PluginDir));
        var d = new PathManagerDaemon(bp, ns, dir);
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (!d.Log.Contains("switchyard_pm info: ready", StringComparison.Ordinal))
        {
            if (bp.Process.HasExited || DateTime.UtcNow > until)
            {
                if (bp.Process.HasExited) bp.Process.WaitForExit(); // drains stderr
                var log = d.Log;
                d.Dispose();
                throw new InvalidOperationException($"mptcpd with switchyard_pm in {ns} did not become ready:\n{log}");
            }
            Thread.Sleep(50);
        }
        return d;
    }

    /// <summary>Everything mptcpd and the plugin logged so far (stderr; stdout is empty).</summary>
    public string Log => _bp.StdErr + _bp.StdOut;

    public bool HasExited => _bp.Process.HasExited;

    /// <summary>Lines of the plugin's log that mention a token ("token 3cf8b0d1").</summary>
    public IReadOnlyList<string> LinesFor(string tokenHex) =>
        Log.Split('\n').Where(l => l.StartsWith("switchyard_pm", StringComparison.Ordinal) && l.Contains($"token {tokenHex}")).ToList();

    public void Dispose()
    {
        var p = _bp.Process;
        try
        {
            if (!p.HasExited)
            {
                kill(p.Id, 15);
                if (!p.WaitForExit(5000)) p.Kill(entireProcessTree: true);
                p.WaitForExit(5000);
            }
            // WaitForExit(timeout) returns at exit, possibly before the asynchronous readers have delivered the
            // last lines (the plugin's "stopped"); the parameterless form also waits for end of output. Bounded, in
            // case something else still holds the pipe.
            if (p.HasExited) Task.Run(p.WaitForExit).Wait(TimeSpan.FromSeconds(5));
        }
        catch (InvalidOperationException) { }
        try { Directory.Delete(_configDir, recursive: true); } catch (IOException) { }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);
}
