using System.Text.RegularExpressions;
using Switchyard.Management.Control;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Perf;

namespace Switchyard.Tests.Packaging;

/// <summary>
/// The bash completion the package installs (build/package/switchyard.bash-completion): run in a real bash, it offers
/// every command and subcommand of `switchyard ctl` (read from <see cref="ControlCommands.Syntax"/>, so a new command
/// that the script does not know fails here) and the appliance's options.
/// </summary>
public sealed class BashCompletionTests
{
    static readonly string Script = Path.Combine(PerfPaths.Root, "build", "package", "switchyard.bash-completion");

    /// <summary>What the script offers for the words typed so far (the last one is being completed).</summary>
    static string[] Complete(params string[] words)
    {
        string array = string.Join(' ', words.Select(w => "'" + w.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
        var r = ProcessRunner.Run("bash", ["-c", $". '{Script}'; COMP_WORDS=({array}); COMP_CWORD={words.Length - 1}; _switchyard; printf '%s\\n' \"${{COMPREPLY[@]}}\""],
            TimeSpan.FromSeconds(30));
        Assert.True(r.ExitCode == 0, r.Describe("bash completion"));
        return r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Command -> subcommands, from the help text: "backend add POOL ...", "keys list | keys rotate ID ...".</summary>
    static Dictionary<string, HashSet<string>> Commands()
    {
        var map = new Dictionary<string, HashSet<string>>();
        foreach (var line in ControlCommands.Syntax.Split('\n').Where(l => l.Length > 0 && char.IsAsciiLetterLower(l[0])))
        {
            string usage = Regex.Split(line, @"\s{2,}")[0]; // the description follows after two spaces or more
            foreach (var alt in usage.Split(" | ").Select(a => a.Trim().Split(' ')))
            {
                if (!Regex.IsMatch(alt[0], "^[a-z]+$")) continue; // "plain" of "HEXKEY|plain" and the like
                if (!map.TryGetValue(alt[0], out var subs)) map[alt[0]] = subs = [];
                if (alt.Length > 1 && Regex.IsMatch(alt[1], "^[a-z]+$")) subs.Add(alt[1]);
            }
        }
        return map;
    }

    [Fact]
    public void Every_ctl_command_and_subcommand_is_offered_and_the_options_too()
    {
        var commands = Commands();
        Assert.True(commands.Count >= 10 && commands["backend"].Contains("drain") && commands["quic"].Contains("set"),
            "the help text was not read as expected: " + string.Join("; ", commands.Select(kv => $"{kv.Key} {string.Join(',', kv.Value)}")));
        var offered = Complete("switchyard", "ctl", "").ToHashSet();
        Assert.Superset(new HashSet<string>([.. commands.Keys, "watch"]), offered);
        foreach (var (cmd, subs) in commands.Where(kv => kv.Value.Count > 0))
            Assert.Superset(subs, Complete("switchyard", "ctl", "--socket", "/run/switchyard/ctl.sock", cmd, "").ToHashSet());
        Assert.Equal(["backend"], Complete("switchyard", "ctl", "ba"));
        Assert.Equal(["--socket"], Complete("switchyard", "ctl", "--so"));
        Assert.Superset(new HashSet<string> { "ctl", "--config", "--check", "--help", "--version" }, Complete("switchyard", "").ToHashSet());
        // After a subcommand come operands (pool and backend names): nothing is guessed.
        Assert.Empty(Complete("switchyard", "ctl", "backend", "drain", ""));
    }
}
