using System.Text;
using System.Text.Json;
using Switchyard.Demo;

namespace Switchyard.Tests.Infrastructure;

/// <summary>
/// `switchyard ctl --socket PATH ...` as an operator would run it (the real CLI, a separate process; the control
/// socket is a path, so it is reachable from the root namespace whatever namespace the appliance runs in).
/// Every call and its output is kept in <see cref="Transcript"/> for failure messages.
/// </summary>
public sealed class SwitchyardCtl(string socket, Action<string>? log = null)
{
    readonly StringBuilder _transcript = new();
    public string Socket => socket;
    public string Transcript { get { lock (_transcript) return _transcript.ToString(); } }

    /// <summary>Runs one ctl command; never throws for a non-zero exit (the caller asserts the code).</summary>
    public ProcessResult Run(params string[] args) => Run(args, quiet: false);

    /// <param name="quiet">Keep only the exit code and stderr in the transcript (for the long counters document).</param>
    ProcessResult Run(string[] args, bool quiet)
    {
        var r = ProcessRunner.Run(ApplianceProcess.Dotnet, [ApplianceProcess.DllPath, "ctl", "--socket", socket, .. args], TimeSpan.FromSeconds(60));
        var entry = $"[{DateTime.UtcNow:HH:mm:ss.fff}] $ switchyard ctl {string.Join(' ', args)}  -> exit {r.ExitCode}{(r.TimedOut ? " (TIMED OUT)" : "")}\n" +
            (quiet && r.ExitCode == 0 ? "" : Indent(r.StdOut)) + Indent(r.StdErr);
        lock (_transcript) _transcript.Append(entry);
        log?.Invoke(entry.TrimEnd());
        return r;
    }

    /// <summary>Runs a command that must succeed (exit 0); throws with the transcript entry otherwise.</summary>
    public ProcessResult Check(params string[] args) => Check(args, quiet: false);

    ProcessResult Check(string[] args, bool quiet)
    {
        var r = Run(args, quiet);
        if (r.ExitCode != 0) throw new Xunit.Sdk.XunitException(r.Describe($"switchyard ctl {string.Join(' ', args)}"));
        return r;
    }

    /// <summary>`ctl --json counters`: the live counters JSON (the same document as Run.CountersFile).</summary>
    public JsonElement Counters()
    {
        var r = Check(["--json", "counters"], quiet: true);
        var root = JsonDocument.Parse(r.StdOut).RootElement.Clone();
        // The socket answers {"ok": true, "result": {...}}; the counters document is the result.
        return root.TryGetProperty("result", out var res) ? res : root;
    }

    static string Indent(string s) => string.IsNullOrWhiteSpace(s) ? "" :
        string.Join("\n", s.TrimEnd().Split('\n').Select(l => "    " + (l.Length > 300 ? l[..300] + "..." : l))) + "\n";
}
