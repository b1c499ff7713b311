using System.Diagnostics;
using System.Text;

namespace Switchyard.Tests.Infrastructure;

public sealed record ProcessResult(int ExitCode, string StdOut, string StdErr, bool TimedOut, TimeSpan Elapsed)
{
    public string Describe(string what) =>
        $"{what}: exit {ExitCode}{(TimedOut ? " (TIMED OUT)" : "")} after {Elapsed.TotalSeconds:F1}s\n--- stdout ---\n{Tail(StdOut)}\n--- stderr ---\n{Tail(StdErr)}";

    static string Tail(string s) => s.Length <= 4000 ? s : "..." + s[^4000..];
}

/// <summary>Runs external programs with a hard timeout; on timeout the whole process tree is killed, so a hung
/// child can never outlive the test that started it.</summary>
public static class ProcessRunner
{
    /// <param name="environment">Variables to set in the child's environment; a null value removes the variable.</param>
    public static ProcessResult Run(string fileName, IEnumerable<string> args, TimeSpan timeout, string? stdin = null,
        string? workingDirectory = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        if (environment is not null)
            foreach (var (k, v) in environment)
                if (v is null) psi.Environment.Remove(k); else psi.Environment[k] = v;
        foreach (var a in args) psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (stdin is not null) { p.StandardInput.Write(stdin); p.StandardInput.Close(); }
        bool timedOut = !p.WaitForExit(timeout);
        if (timedOut)
        {
            KillTree(p);
            p.WaitForExit(5000);
        }
        else p.WaitForExit(); // flushes the async readers
        // After a kill, grandchildren may still hold the pipes; don't wait for them forever. After a normal exit the
        // output is complete once every writer closed its end: wait longer (a CI run once returned a check script's
        // exit 0 with both outputs empty after the 5 s meant for the kill case).
        Task.WaitAll([so, se], timedOut ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(60));
        return new ProcessResult(timedOut ? 124 : p.ExitCode, so.IsCompleted ? so.Result : "", se.IsCompleted ? se.Result : "",
            timedOut, sw.Elapsed);
    }

    public static ProcessResult Run(string fileName, params string[] args) => Run(fileName, args, TimeSpan.FromSeconds(60));

    /// <summary>Like Run, but throws with the full output when the exit code is not 0.</summary>
    public static string Check(string fileName, params string[] args)
    {
        var r = Run(fileName, args, TimeSpan.FromSeconds(60));
        if (r.ExitCode != 0) throw new InvalidOperationException(r.Describe($"{fileName} {string.Join(' ', args)}"));
        return r.StdOut;
    }

    public static void KillTree(Process p)
    {
        try { if (!p.HasExited) p.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
        catch (System.ComponentModel.Win32Exception) { }
    }

    /// <summary>Is an executable on PATH?</summary>
    public static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}

/// <summary>A started background process whose output is collected while it runs (for servers a test waits on).</summary>
public sealed class BackgroundProcess : IDisposable
{
    public Process Process { get; }
    readonly StringBuilder _out = new(), _err = new();
    readonly object _lock = new();

    public BackgroundProcess(Process p)
    {
        Process = p;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_lock) _out.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_lock) _err.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
    }

    public string StdOut { get { lock (_lock) return _out.ToString(); } }
    public string StdErr { get { lock (_lock) return _err.ToString(); } }

    /// <summary>Waits until stdout contains text; fails with the output so far if the process exits or time runs out.</summary>
    public void WaitForOutput(string text, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (StdOut.Contains(text)) return;
            if (Process.HasExited)
                throw new InvalidOperationException($"process exited ({Process.ExitCode}) before printing '{text}'\nstdout:\n{StdOut}\nstderr:\n{StdErr}");
            Thread.Sleep(50);
        }
        throw new TimeoutException($"no '{text}' within {timeout.TotalSeconds}s\nstdout:\n{StdOut}\nstderr:\n{StdErr}");
    }

    public void Dispose()
    {
        ProcessRunner.KillTree(Process);
        Process.WaitForExit(5000);
        Process.Dispose();
    }
}
