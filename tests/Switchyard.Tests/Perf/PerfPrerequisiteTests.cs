using Switchyard.Tests.Infrastructure;

namespace Switchyard.Tests.Perf;

/// <summary>
/// Issue 16: every perf/ entry point checks the programs it uses before it starts (perf/lib/require.sh), installs
/// what is missing, and says what it still lacks; a failing step under `set -e` is named instead of ending the script
/// silently (perf/icnp/run.sh once stopped with exit 2 and no message when tcpdump was missing).
/// </summary>
public sealed class PerfPrerequisiteTests
{
    static readonly string[] EntryPoints =
    [
        "icnp/run.sh", "icnp/anycast.sh", "icnp/balancer.sh", "load/run.sh", "observability/capture-cost.sh",
        "observability/session.sh", "pktgen/make-pcaps.sh", "pktgen/run.sh", "profile/appliance.sh", "profile/profile.sh",
    ];

    [Fact]
    public void Every_entry_point_runs_to_its_prerequisite_check_on_this_machine()
    {
        // Each entry point once, stopped right after its prerequisites (SWITCHYARD_PERF_CHECK_ONLY): it starts, finds
        // (or, as root, installs) every program it uses, and says so. CI runs this on a freshly installed machine.
        foreach (var e in EntryPoints)
        {
            var r = ProcessRunner.Run("env", ["SWITCHYARD_PERF_CHECK_ONLY=1", "bash", PerfPaths.Perf(e)], TimeSpan.FromMinutes(5));
            Assert.True(r.ExitCode == 0 && r.StdOut.Contains($"{Path.GetFileName(e)}: prerequisites present", StringComparison.Ordinal),
                r.Describe(e));
        }
    }

    [Fact]
    public void Every_entry_point_checks_its_tools_with_require_sh()
    {
        // Every executable script under perf/ is in the list (a new one must check its tools too).
        var scripts = Directory.GetFiles(PerfPaths.Perf(), "*.sh", SearchOption.AllDirectories)
            .Where(f => File.ReadLines(f).FirstOrDefault() is { } l && l.StartsWith("#!", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(PerfPaths.Perf(), f)).Where(f => f != "icnp/pm-real.sh").Order(StringComparer.Ordinal);
        Assert.Equal(EntryPoints.Order(StringComparer.Ordinal), scripts);
        foreach (var e in EntryPoints)
        {
            string text = File.ReadAllText(PerfPaths.Perf(e));
            Assert.Matches(@"(?m)^\. .*perf/lib/require\.sh""?$|^\. ""\$here/\.\./lib/require\.sh""$", text);
            Assert.Matches(@"(?m)^require_tools \S+:\S+", text);
        }
        // anycast.sh captures with tcpdump and reads with tshark: both are checked by it and by run.sh, which calls it.
        foreach (var e in new[] { "icnp/run.sh", "icnp/anycast.sh" })
        {
            string text = File.ReadAllText(PerfPaths.Perf(e));
            Assert.Contains("tcpdump:tcpdump", text);
            Assert.Contains("tshark:tshark", text);
        }
    }

    [Fact]
    public void A_missing_tool_is_named_with_its_package_and_a_failing_step_with_its_line()
    {
        string dir = Directory.CreateTempSubdirectory("pk-perfreq-").FullName;
        try
        {
            string script = Path.Combine(dir, "probe.sh");
            File.WriteAllText(script, $$"""
                #!/bin/bash
                set -euo pipefail
                . "{{PerfPaths.Perf("lib", "require.sh")}}"
                require_tools sh:dash "${WANT:-sh:dash}"
                echo checked
                false
                echo not reached
                """);
            var env = new Dictionary<string, string?> { ["SWITCHYARD_NO_INSTALL"] = "1" };
            var missing = ProcessRunner.Run("bash", [script], TimeSpan.FromMinutes(1),
                environment: new Dictionary<string, string?>(env) { ["WANT"] = "pk-no-such-tool:pk-no-such-package" });
            Assert.Equal(1, missing.ExitCode);
            Assert.Contains("probe.sh: needs pk-no-such-tool (Debian packages: pk-no-such-package)", missing.StdErr);
            Assert.Contains("probe.sh: cannot run without: pk-no-such-tool (pk-no-such-package)", missing.StdErr);
            Assert.DoesNotContain("checked", missing.StdOut);

            var failing = ProcessRunner.Run("bash", [script], TimeSpan.FromMinutes(1), environment: env);
            Assert.Equal(1, failing.ExitCode);
            Assert.Equal("checked\n", failing.StdOut);
            Assert.Contains("probe.sh: line 6: `false` failed (exit 1)", failing.StdErr);
        }
        finally { Directory.Delete(dir, true); }
    }
}
