using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Perf;

/// <summary>Where the perf/ tree and the tools its checks need are.</summary>
static class PerfPaths
{
    /// <summary>The repository root: the first directory above the test binaries holding Switchyard.slnx.</summary>
    public static string Root { get; } = FindRoot();

    static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Switchyard.slnx"))) return d.FullName;
        throw new InvalidOperationException($"no Switchyard.slnx above {AppContext.BaseDirectory}");
    }

    public static string Perf(params string[] parts) => Path.Combine([Root, "perf", .. parts]);

    /// <summary>Debian's python3 (where python3-scapy installs); a python3 earlier on PATH (pyenv) may lack scapy.</summary>
    public static string Python => File.Exists("/usr/bin/python3") ? "/usr/bin/python3"
        : ProcessRunner.Which("python3") ?? throw new InvalidOperationException("python3 not found");

    /// <summary>Runs a command and fails the test with its output when it exits nonzero.</summary>
    public static ProcessResult Check(string file, IEnumerable<string> args, TimeSpan timeout, string? workingDirectory = null)
    {
        var r = ProcessRunner.Run(file, args, timeout, workingDirectory: workingDirectory ?? Root);
        Assert.True(r.ExitCode == 0, r.Describe($"{file} {string.Join(' ', args)}"));
        return r;
    }
}
