namespace Switchyard.Management.Options;

/// <summary>One mistake in the configuration: where (a JSON path such as
/// <c>Pools[1].Backends[0].Address</c>) and what is wrong.</summary>
public readonly record struct ConfigurationError(string Path, string Reason)
{
    public override string ToString() => $"{Path}: {Reason}";
}

/// <summary>
/// Thrown for a user mistake in the configuration. The message lists every error as "path: reason",
/// one per line, so the host prints <see cref="Exception.Message"/> and exits; a stack trace would say
/// nothing the message does not.
/// </summary>
public sealed class ConfigurationException : Exception
{
    public IReadOnlyList<ConfigurationError> Errors { get; }

    public ConfigurationException(IReadOnlyList<ConfigurationError> errors)
        : base(Format(errors)) { Errors = errors; }

    public ConfigurationException(string path, string reason) : this([new ConfigurationError(path, reason)]) { }

    static string Format(IReadOnlyList<ConfigurationError> errors)
    {
        var lines = new System.Text.StringBuilder();
        lines.Append(errors.Count == 1 ? "invalid configuration (1 error):" : $"invalid configuration ({errors.Count} errors):");
        foreach (var e in errors) lines.Append("\n  ").Append(e.Path).Append(": ").Append(e.Reason);
        return lines.ToString();
    }
}
