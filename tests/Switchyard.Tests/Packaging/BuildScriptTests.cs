using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Packaging;

/// <summary>
/// The build's entry points (issue 16): one list of targets (build/Build.proj) that the README repeats and
/// `./build.sh help` prints, a mistyped target refused with that list, and build/install-deps.sh waiting for
/// the apt/dpkg lock (bounded, saying who holds it) instead of failing at once.
/// </summary>
[Trait("Category", "Package")]
public sealed class BuildScriptTests
{
    static string Root => DebianPackage.RepositoryRoot;

    static string[] ProjTargets() => [.. XDocument.Load(Path.Combine(Root, "build", "Build.proj")).Descendants("BuildTarget")
        .Select(e => e.Attribute("Include")!.Value)];

    [Fact]
    public void The_readme_lists_the_targets_of_build_proj_and_every_one_exists()
    {
        var targets = ProjTargets();
        var m = Regex.Match(File.ReadAllText(Path.Combine(Root, "README.md")), @"All targets: `\./build\.sh ([a-z |]+)`");
        Assert.True(m.Success, "README has no 'All targets: `./build.sh ...`' line");
        Assert.Equal(targets, m.Groups[1].Value.Split('|', StringSplitOptions.TrimEntries));
        var defined = XDocument.Load(Path.Combine(Root, "build", "Build.proj")).Root!.Elements("Target").Select(t => t.Attribute("Name")!.Value.ToLowerInvariant()).ToHashSet();
        Assert.All(targets, t => Assert.Contains(t, defined));
    }

    [Fact]
    public void Help_prints_every_target_and_a_mistyped_target_is_refused_with_the_list()
    {
        var help = ProcessRunner.Run(Path.Combine(Root, "build.sh"), ["--help"], TimeSpan.FromMinutes(2));
        Assert.True(help.ExitCode == 0, help.Describe("./build.sh --help"));
        Assert.All(ProjTargets(), t => Assert.Matches($@"(?m)^\s+{t}\s+\S", help.StdOut));
        Assert.DoesNotMatch(@"(?m)^\s*#", help.StdOut);   // no comment markers of a script's header

        var typo = ProcessRunner.Run(Path.Combine(Root, "build.sh"), ["pakage"], TimeSpan.FromMinutes(2));
        Assert.NotEqual(0, typo.ExitCode);
        Assert.Contains($"unknown target 'pakage'; the targets are: {string.Join(' ', ProjTargets())}", typo.StdOut + typo.StdErr);
    }

    [Fact]
    public void Install_deps_waits_for_the_apt_lock_saying_who_holds_it_and_gives_up_when_told()
    {
        string dir = Directory.CreateTempSubdirectory("pk-aptlock-").FullName;
        string lockFile = Path.Combine(dir, "lock-frontend");
        File.WriteAllText(lockFile, "");
        // A package that is surely not installed, so the script has something to install; apt-get is replaced by `true`.
        var env = new Dictionary<string, string?>
        {
            ["SWITCHYARD_DEPS_PACKAGES"] = "pk-not-a-package", ["SWITCHYARD_APT_LOCKS"] = lockFile, ["SWITCHYARD_APT_GET"] = "true",
        };
        using var holder = Start("flock", lockFile, "sleep", "300");
        try
        {
            WaitFor(() => ProcessRunner.Run("lslocks", ["-n", "-r", "-o", "PATH"], TimeSpan.FromSeconds(30)).StdOut.Contains(lockFile), "flock to take the lock");

            var gaveUp = ProcessRunner.Run("sh", [Path.Combine(Root, "build", "install-deps.sh")], TimeSpan.FromMinutes(1),
                environment: new Dictionary<string, string?>(env) { ["SWITCHYARD_APT_LOCK_WAIT"] = "1" });
            Assert.True(gaveUp.ExitCode == 1, gaveUp.Describe("install-deps.sh, lock held"));
            Assert.Matches($@"waiting for the apt/dpkg lock, held by (flock|sleep) \(pid \d+\) on {Regex.Escape(lockFile)} \(at most 1 s\)", gaveUp.StdErr);
            Assert.Contains("gave up after", gaveUp.StdErr);

            // With time to wait, it goes on once the holder is gone.
            var psi = new ProcessStartInfo("sh", [Path.Combine(Root, "build", "install-deps.sh")]) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var (k, v) in env) psi.Environment[k] = v;
            psi.Environment["SWITCHYARD_APT_LOCK_WAIT"] = "120";
            using var waiting = new BackgroundProcess(Process.Start(psi)!);
            WaitFor(() => waiting.StdErr.Contains("waiting for the apt/dpkg lock"), "install-deps.sh to say it waits");
            Assert.False(waiting.Process.HasExited);
            ProcessRunner.KillTree(holder.Process);
            Assert.True(waiting.Process.WaitForExit(TimeSpan.FromSeconds(60)), "install-deps.sh still waits after the lock was released");
            Assert.True(waiting.Process.ExitCode == 0, $"exit {waiting.Process.ExitCode}\n{waiting.StdOut}\n{waiting.StdErr}");
        }
        finally { Directory.Delete(dir, true); }
    }

    static BackgroundProcess Start(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        return new BackgroundProcess(Process.Start(psi)!);
    }

    static void WaitFor(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("timed out waiting for " + what);
            Thread.Sleep(50);
        }
    }
}
