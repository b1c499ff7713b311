using System.Collections;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace Switchyard.Management.Options;

/// <summary>Bound and validated options, and the configuration they came from (for reloads and for
/// reading a value's source when debugging).</summary>
public sealed record LoadedConfiguration(ApplianceOptions Options, IConfigurationRoot Configuration);

/// <summary>
/// Loads appliance.json with its overrides, later layers winning: the JSON file (comments and trailing
/// commas allowed), environment variables <c>SWITCHYARD_Section__Key</c>, then command-line switches
/// <c>--Section:Key=value</c> (array items by index: <c>--Vips:0:Port=8080</c>). Every user mistake
/// comes out as a <see cref="ConfigurationException"/> listing all errors with their paths.
/// </summary>
public static partial class ApplianceConfiguration
{
    public const string EnvironmentPrefix = "SWITCHYARD_";

    /// <summary>Builds, binds and validates. <paramref name="env"/> defaults to the process environment
    /// (tests pass their own). Throws <see cref="ConfigurationException"/> only.</summary>
    public static LoadedConfiguration Load(string jsonPath, string[] args, IDictionary? env = null)
    {
        var root = Build(jsonPath, args, env);
        return new LoadedConfiguration(Bind(root), root);
    }

    /// <summary>The layered configuration, unbound. A missing or malformed file, or a malformed
    /// command line, becomes a <see cref="ConfigurationException"/> naming the file or "command line".</summary>
    public static IConfigurationRoot Build(string jsonPath, string[] args, IDictionary? env = null)
    {
        string full = Path.GetFullPath(jsonPath);
        if (!File.Exists(full))
            throw new ConfigurationException(jsonPath, Directory.Exists(full)
                ? $"is a directory ({full}), not a configuration file"
                : $"configuration file not found: no {Path.GetFileName(full)} in {Path.GetDirectoryName(full)}" +
                  (Path.GetFileName(jsonPath) == jsonPath ? " (the current directory; name the file with --config FILE; the Debian package's is /etc/switchyard/appliance.json)" : ""));
        try
        {
            new ConfigurationBuilder().AddJsonFile(full, optional: false, reloadOnChange: false).Build();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or IOException or System.Text.Json.JsonException)
        {
            throw new ConfigurationException(jsonPath, ExplainFile(full, e));
        }
        try
        {
            return new ConfigurationBuilder()
                .AddJsonFile(full, optional: false, reloadOnChange: false)
                .AddInMemoryCollection(EnvironmentOverrides(env ?? Environment.GetEnvironmentVariables()))
                .AddCommandLine(args)
                .Build();
        }
        catch (FormatException e)
        {
            throw new ConfigurationException("command line", Explain(e));
        }
    }

    /// <summary>
    /// Removes a standalone <c>--config PATH</c> (or <c>--config=PATH</c>) from <paramref name="args"/>:
    /// it names the file rather than a setting, so it must not reach the command-line provider (where it
    /// would be an unknown setting). Returns the remaining arguments.
    /// </summary>
    public static string[] TakeConfigPath(string[] args, ref string path)
    {
        var rest = new List<string>(args.Length);
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--config" && i + 1 < args.Length) { path = args[++i]; continue; }
            if (args[i].StartsWith("--config=", StringComparison.Ordinal)) { path = args[i]["--config=".Length..]; continue; }
            rest.Add(args[i]);
        }
        return [.. rest];
    }

    /// <summary>Checks the shape, binds and validates. Throws <see cref="ConfigurationException"/> with
    /// every error found; used for the first load and for every reload.</summary>
    public static ApplianceOptions Bind(IConfiguration config)
    {
        if (TryBind(config, out var options, out var errors)) return options!;
        throw new ConfigurationException(errors);
    }

    public static bool TryBind(IConfiguration config, out ApplianceOptions? options, out IReadOnlyList<ConfigurationError> errors)
    {
        var list = new List<ConfigurationError>();
        options = null;
        ConfigurationShape.Check(config, typeof(ApplianceOptions), list);
        // An unknown key (a typo, which the binder ignores) does not hide the other mistakes: the rest is bound and
        // validated too. A value of the wrong type stops here: bound around, its default would stand in for what the
        // user wrote and draw errors about settings the user did not write (a Forwarding left at l2dsr asks for MACs).
        var shape = list.ToList();
        if (shape.All(e => e.Reason.StartsWith(ConfigurationShape.UnknownSetting, StringComparison.Ordinal)))
        {
            var bound = new ApplianceOptions();
            try
            {
                config.Bind(bound);
                list.AddRange(OptionsValidator.Validate(bound));
                if (list.Count == 0) options = bound;
            }
            catch (InvalidOperationException e)
            {
                // Should not happen once the shape check passed; if it does, still name the key.
                var m = BinderPath().Match(e.Message);
                list.Add(new(m.Success ? ConfigurationShape.ToJsonPath(m.Groups[1].Value) : "configuration", Explain(e)));
            }
        }
        errors = list;
        return options is not null;
    }

    /// <summary>SWITCHYARD_Pools__0__Name=web -> Pools:0:Name=web, as the standard environment provider
    /// maps them; read from a dictionary so tests need not touch the process environment.</summary>
    static IEnumerable<KeyValuePair<string, string?>> EnvironmentOverrides(IDictionary env)
    {
        foreach (DictionaryEntry e in env)
        {
            if (e.Key is not string key || !key.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase)) continue;
            // Only SWITCHYARD_Section__Key is configuration: every setting lives in a section, and
            // variables such as SWITCHYARD_NATIVE_DIR (where the shim is) are not settings.
            if (!key.Contains("__", StringComparison.Ordinal)) continue;
            yield return new(key[EnvironmentPrefix.Length..].Replace("__", ConfigurationPath.KeyDelimiter), e.Value as string);
        }
    }

    /// <summary>Why the file does not load, in words: an empty file (or one with only comments) is named as such, a
    /// syntax error gives its 1-based line and column (System.Text.Json counts both from 0, the column in bytes).</summary>
    static string ExplainFile(string path, Exception e)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception io) when (io is IOException or UnauthorizedAccessException) { return Explain(io); }
        var json = FindJsonException(e);
        if (text.Trim().Length == 0) return "the file is empty (expected a JSON object: { \"Eal\": ..., \"Ports\": [...], ... })";
        if (json is null) return Explain(e);
        if (json.Message.Contains("does not contain any JSON tokens", StringComparison.Ordinal))
            return "the file holds no JSON value, only comments or blanks (expected a JSON object: { ... })";
        if (json.LineNumber is not long line) return Explain(e);
        string reason = JsonPosition().Replace(json.Message, "").Trim().TrimEnd('.');
        string[] lines = text.Split('\n');
        long column = (json.BytePositionInLine ?? 0) + 1;
        if (line < lines.Length)
        {
            // Byte offset -> character column, for lines with non-ASCII text.
            byte[] bytes = System.Text.Encoding.UTF8.GetBytes(lines[line]);
            int n = (int)Math.Min(json.BytePositionInLine ?? 0, bytes.Length);
            column = System.Text.Encoding.UTF8.GetCharCount(bytes, 0, n) + 1;
        }
        return $"JSON syntax error at line {line + 1}, column {column}: {reason}";
    }

    static System.Text.Json.JsonException? FindJsonException(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is System.Text.Json.JsonException j) return j;
        return null;
    }

    /// <summary>The exception chain's messages: the JSON reader's innermost one carries line and byte position.</summary>
    static string Explain(Exception e)
    {
        var parts = new List<string>();
        for (var x = e; x is not null; x = x.InnerException) parts.Add(x.Message.TrimEnd('.'));
        return string.Join(": ", parts.Distinct());
    }

    [GeneratedRegex(@"\s*LineNumber: \d+ \| BytePositionInLine: \d+\.?")]
    private static partial Regex JsonPosition();

    [GeneratedRegex("at '([^']+)'")]
    private static partial Regex BinderPath();
}
