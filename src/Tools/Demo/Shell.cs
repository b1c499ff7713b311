using System.Diagnostics;

namespace Switchyard.Demo;

/// <summary>Runs a setup command (ip, ethtool, sysctl) and throws with its stderr when it fails, so a
/// broken topology step names the exact command instead of surfacing later as a silent connectivity loss.</summary>
public static class Shell
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    public static Result Try(string fileName, IEnumerable<string> args, int timeoutMs = 30_000)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        // Read both streams asynchronously: a full pipe on one would block the child forever.
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
            return new Result(124, so.Result, se.Result + $"\n(timed out after {timeoutMs} ms)");
        }
        p.WaitForExit();
        return new Result(p.ExitCode, so.Result, se.Result);
    }

    public static string Run(string fileName, params string[] args)
    {
        var r = Try(fileName, args);
        if (r.ExitCode != 0)
            throw new InvalidOperationException(
                $"command failed (exit {r.ExitCode}): {fileName} {string.Join(' ', args)}\n{r.StdErr.Trim()}");
        return r.StdOut;
    }
}
