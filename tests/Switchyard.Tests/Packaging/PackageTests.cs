using Switchyard.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Switchyard.Tests.Packaging;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackageCollection { public const string Name = "Debian package (build, install into a throwaway root)"; }

/// <summary>
/// The Debian package (./build.sh package): installed with dpkg into a throwaway root (dpkg --root, maintainer
/// scripts run chrootless with DPKG_ROOT set, so they leave the running system alone and nothing is written outside
/// the root), the installed appliance checks the shipped configuration, `dpkg -r` leaves only the conffiles,
/// `dpkg --purge` leaves nothing, and lintian reports no error. The package is built once per run (DebianPackage).
/// </summary>
[Collection(PackageCollection.Name)]
[Trait("Category", "Package")]
public sealed class PackageTests(ITestOutputHelper output)
{
    /// <summary>A root holding only an empty dpkg database whose status is the host's (so Depends are checked
    /// against what is really installed here), and dpkg's log; removed by Dispose.</summary>
    sealed class ThrowawayRoot : IDisposable
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory("pk-debroot-").FullName;

        public ThrowawayRoot()
        {
            string admin = System.IO.Path.Combine(Dir, "var/lib/dpkg");
            foreach (var d in new[] { "info", "updates", "triggers", "alternatives" }) Directory.CreateDirectory(System.IO.Path.Combine(admin, d));
            File.Copy("/var/lib/dpkg/status", System.IO.Path.Combine(admin, "status"));
            File.WriteAllText(System.IO.Path.Combine(admin, "available"), "");
            Directory.CreateDirectory(System.IO.Path.Combine(Dir, "var/log"));
        }

        public ProcessResult Dpkg(params string[] args) => ProcessRunner.Run("dpkg",
            [$"--root={Dir}", $"--log={Dir}/var/log/dpkg.log", "--force-script-chrootless", .. args], TimeSpan.FromMinutes(3));

        /// <summary>Every file, link and directory under the root, relative, except dpkg's own database and log.</summary>
        public SortedSet<string> Tree() => new(Directory.EnumerateFileSystemEntries(Dir, "*", SearchOption.AllDirectories)
            .Select(p => System.IO.Path.GetRelativePath(Dir, p))
            .Where(p => !p.StartsWith("var/lib/dpkg", StringComparison.Ordinal) && p != "var/log/dpkg.log"), StringComparer.Ordinal);

        public void Dispose() => Directory.Delete(Dir, recursive: true);
    }

    static void Ok(ProcessResult r, string what) => Assert.True(r.ExitCode == 0, r.Describe(what));

    [Fact]
    public void Installs_checks_its_configuration_and_leaves_nothing_after_remove_and_purge()
    {
        var deb = DebianPackage.Get();
        output.WriteLine($"package {deb.Path} ({new FileInfo(deb.Path).Length / 1024} KiB), built or found in {deb.BuildTime.TotalSeconds:F0} s");
        using var root = new ThrowawayRoot();
        var before = root.Tree();

        Ok(root.Dpkg("--install", deb.Path), "dpkg --install");
        string R(string p) => System.IO.Path.Combine(root.Dir, p.TrimStart('/'));
        foreach (var f in new[] { "/usr/lib/switchyard/switchyard", "/usr/lib/switchyard/libswitchyard_shim.so", "/usr/lib/switchyard/mptcpd/switchyard_pm.so",
                     "/etc/switchyard/appliance.json", "/etc/switchyard/path-manager.json", "/lib/systemd/system/switchyard.service",
                     "/lib/systemd/system/switchyard-pm.service", "/usr/share/man/man1/switchyard.1.gz", "/usr/share/doc/switchyard/copyright",
                     "/usr/share/bash-completion/completions/switchyard" })
            Assert.True(File.Exists(R(f)), $"{f} is not installed");
        Assert.Equal("../lib/switchyard/switchyard", new FileInfo(R("/usr/bin/switchyard")).LinkTarget);
        Assert.Equal("/etc/switchyard/appliance.json\n/etc/switchyard/path-manager.json\n",
            ProcessRunner.Check("dpkg-query", $"--admindir={root.Dir}/var/lib/dpkg", "--showformat=${Conffiles}\n", "--show", "switchyard")
                .Split('\n').Where(l => l.Trim().Length > 0).Select(l => l.Trim().Split(' ')[0] + "\n").Aggregate("", string.Concat));

        // The installed program, through /usr/bin's link (the self-contained host finds its files beside the target).
        var check = ProcessRunner.Run(R("/usr/bin/switchyard"), ["--check", R("/etc/switchyard/appliance.json")], TimeSpan.FromMinutes(1));
        Ok(check, "switchyard --check /etc/switchyard/appliance.json");
        Assert.Contains("configuration valid", check.StdOut);
        var version = ProcessRunner.Run(R("/usr/bin/switchyard"), ["--version"], TimeSpan.FromMinutes(1));
        Assert.StartsWith($"switchyard {deb.Version}", version.StdOut.Trim());
        string unit = File.ReadAllText(R("/lib/systemd/system/switchyard.service"));
        Assert.Contains("ExecReload=/usr/bin/switchyard ctl reload", unit);
        Assert.Contains("ExecStart=/usr/bin/switchyard --config /etc/switchyard/appliance.json", unit);

        // dpkg -r: only the conffiles (and their directory) stay.
        Ok(root.Dpkg("--remove", "switchyard"), "dpkg --remove");
        var afterRemove = root.Tree();
        Assert.Equal(["etc", "etc/switchyard", "etc/switchyard/appliance.json", "etc/switchyard/path-manager.json"],
            afterRemove.Except(before).ToArray());
        Assert.Empty(before.Except(afterRemove));

        // dpkg --purge: nothing.
        Ok(root.Dpkg("--purge", "switchyard"), "dpkg --purge");
        Assert.Equal(before.ToArray(), root.Tree().ToArray());
        var query = ProcessRunner.Run("dpkg-query", [$"--admindir={root.Dir}/var/lib/dpkg", "--show", "switchyard"], TimeSpan.FromMinutes(1));
        Assert.True(query.ExitCode == 1 && query.StdErr.Contains("no packages found matching switchyard"), query.Describe("dpkg-query --show after purge"));
    }

    [Fact]
    public void Lintian_reports_no_error()
    {
        var deb = DebianPackage.Get();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = ProcessRunner.Run("lintian", ["--tag-display-limit", "0", "--allow-root", deb.Path], TimeSpan.FromMinutes(8));
        output.WriteLine($"lintian: {sw.Elapsed.TotalSeconds:F0} s, exit {r.ExitCode}\n{r.StdOut}{r.StdErr}");
        var errors = (r.StdOut + r.StdErr).Split('\n').Where(l => l.StartsWith("E: ", StringComparison.Ordinal)).ToArray();
        Assert.True(errors.Length == 0, "lintian errors:\n" + string.Join('\n', errors));
        Assert.True(r.ExitCode == 0, r.Describe("lintian"));   // it fails on errors only (--fail-on=error, the default)
    }
}
