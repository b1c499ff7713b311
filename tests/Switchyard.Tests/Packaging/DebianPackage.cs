using System.Diagnostics;

using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Packaging;

/// <summary>
/// The Debian package under test, built once per test run with the build's own target (./build.sh package), or
/// the file named by SWITCHYARD_DEB when a build step already made it. Building costs a self-contained publish
/// and a gzip-compressed archive (`./build.sh package` makes xz: same contents, minutes more); the time is printed.
/// </summary>
public sealed class DebianPackage
{
    public string Path { get; }
    public TimeSpan BuildTime { get; }
    public string Version { get; }

    DebianPackage(string path, TimeSpan buildTime, string version) { Path = path; BuildTime = buildTime; Version = version; }

    static readonly Lazy<DebianPackage> Built = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    public static DebianPackage Get() => Built.Value;

    public static string RepositoryRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(System.IO.Path.Combine(d.FullName, "Switchyard.slnx"))) return d.FullName;
            throw new InvalidOperationException("repository root (Switchyard.slnx) not found above " + AppContext.BaseDirectory);
        }
    }

    static DebianPackage Build()
    {
        string root = RepositoryRoot;
        var sw = Stopwatch.StartNew();
        string? deb = Environment.GetEnvironmentVariable("SWITCHYARD_DEB");
        if (string.IsNullOrEmpty(deb))
        {
            // gzip instead of xz: the same files, archived in seconds instead of minutes.
            var r = ProcessRunner.Run("dotnet", ["msbuild", System.IO.Path.Combine(root, "build", "Build.proj"), "-nologo", "-v:m", "-t:Package", "-p:PackageCompression=gzip"],
                TimeSpan.FromMinutes(10), workingDirectory: root);
            if (r.ExitCode != 0) throw new InvalidOperationException(r.Describe("./build.sh package"));
            var debs = Directory.GetFiles(System.IO.Path.Combine(root, "artifacts"), "switchyard_*_amd64.deb");
            if (debs.Length != 1) throw new InvalidOperationException($"./build.sh package left {debs.Length} packages in artifacts/: {string.Join(", ", debs)}");
            deb = debs[0];
        }
        string version = ProcessRunner.Check("dpkg-deb", "--field", deb, "Version").Trim();
        return new DebianPackage(deb, sw.Elapsed, version);
    }
}
