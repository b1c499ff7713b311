using System.Globalization;
using System.Text;

namespace Switchyard.Management.Observability;

/// <summary>
/// The Prometheus text exposition format, version 0.0.4 (content type
/// <see cref="ContentType"/>), written by hand: no client library restores here.
/// One family at a time: <see cref="Family"/> writes its # HELP and # TYPE lines, then
/// <see cref="Sample(string, double, ReadOnlySpan{ValueTuple{string, string}})"/> adds samples.
/// Rules kept here: metric and label names match [a-zA-Z_:][a-zA-Z0-9_:]* (label names without ':'
/// and never starting with "__"); counters end in _total; label values escape \ " and newline; HELP
/// text escapes \ and newline; a family is declared once and its samples follow it directly.
/// </summary>
public sealed class PrometheusWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    readonly StringBuilder _sb = new(16 * 1024);
    readonly HashSet<string> _families = new(StringComparer.Ordinal);
    string? _current;

    public enum Kind { Counter, Gauge }

    /// <summary>Starts a family. A counter's name must end in _total (the sample names are the family name).</summary>
    public PrometheusWriter Family(string name, Kind kind, string help)
    {
        if (!IsMetricName(name)) throw new ArgumentException($"'{name}' is not a valid metric name", nameof(name));
        if (kind == Kind.Counter && !name.EndsWith("_total", StringComparison.Ordinal))
            throw new ArgumentException($"counter '{name}' must end in _total", nameof(name));
        if (!_families.Add(name)) throw new InvalidOperationException($"family '{name}' written twice");
        _current = name;
        _sb.Append("# HELP ").Append(name).Append(' ');
        foreach (char c in help)
            _ = c switch { '\\' => _sb.Append(@"\\"), '\n' => _sb.Append(@"\n"), _ => _sb.Append(c) };
        _sb.Append('\n');
        _sb.Append("# TYPE ").Append(name).Append(' ').Append(kind == Kind.Counter ? "counter" : "gauge").Append('\n');
        return this;
    }

    public PrometheusWriter Sample(double value, params ReadOnlySpan<(string Name, string Value)> labels) => Sample(Current, value, labels);

    public PrometheusWriter Sample(string name, double value, params ReadOnlySpan<(string Name, string Value)> labels)
    {
        _sb.Append(name);
        if (labels.Length > 0)
        {
            _sb.Append('{');
            for (int i = 0; i < labels.Length; i++)
            {
                var (ln, lv) = labels[i];
                if (!IsLabelName(ln)) throw new ArgumentException($"'{ln}' is not a valid label name", nameof(labels));
                if (i > 0) _sb.Append(',');
                _sb.Append(ln).Append("=\"");
                AppendLabelValue(_sb, lv);
                _sb.Append('"');
            }
            _sb.Append('}');
        }
        _sb.Append(' ').Append(FormatValue(value)).Append('\n');
        return this;
    }

    string Current => _current ?? throw new InvalidOperationException("Sample before Family");

    public override string ToString() => _sb.ToString();

    /// <summary>Go's ParseFloat syntax: integers exactly, +Inf/-Inf/NaN spelled as Prometheus spells them.</summary>
    public static string FormatValue(double v)
    {
        if (double.IsPositiveInfinity(v)) return "+Inf";
        if (double.IsNegativeInfinity(v)) return "-Inf";
        if (double.IsNaN(v)) return "NaN";
        if (v == Math.Floor(v) && Math.Abs(v) < 9.007199254740992e15) return ((long)v).ToString(CultureInfo.InvariantCulture);
        return v.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>Label values: backslash, double quote and line feed escaped; anything else (UTF-8) as is.</summary>
    public static void AppendLabelValue(StringBuilder sb, string value)
    {
        foreach (char c in value)
            _ = c switch
            {
                '\\' => sb.Append(@"\\"),
                '"' => sb.Append("\\\""),
                '\n' => sb.Append(@"\n"),
                _ => sb.Append(c),
            };
    }

    public static bool IsMetricName(string s) => IsName(s, allowColon: true);

    public static bool IsLabelName(string s) => IsName(s, allowColon: false) && !s.StartsWith("__", StringComparison.Ordinal);

    static bool IsName(string s, bool allowColon)
    {
        if (s.Length == 0) return false;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            bool ok = char.IsAsciiLetter(c) || c == '_' || (allowColon && c == ':') || (i > 0 && char.IsAsciiDigit(c));
            if (!ok) return false;
        }
        return true;
    }

    /// <summary>"JoinsByEncryptedToken" -> "joins_by_encrypted_token".</summary>
    public static string Snake(string pascal)
    {
        var sb = new StringBuilder(pascal.Length + 8);
        for (int i = 0; i < pascal.Length; i++)
        {
            char c = pascal[i];
            if (char.IsAsciiLetterUpper(c))
            {
                bool boundary = i > 0 && (char.IsAsciiLetterLower(pascal[i - 1]) || char.IsAsciiDigit(pascal[i - 1])
                    || (i + 1 < pascal.Length && char.IsAsciiLetterLower(pascal[i + 1]) && char.IsAsciiLetterUpper(pascal[i - 1])));
                if (boundary) sb.Append('_');
                sb.Append(char.ToLowerInvariant(c));
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }
}
