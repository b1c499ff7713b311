using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Switchyard.Tests.Observability;

/// <summary>One sample of a scraped page: name, labels (unescaped) and value.</summary>
public sealed record PromSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string this[string label] => Labels[label];
}

/// <summary>
/// A strict reader of the Prometheus text format 0.0.4, written from the format's documentation and
/// independent of the appliance's writer: every line is a # HELP, a # TYPE or a sample; a family's HELP and
/// TYPE come once, before its samples; samples of one family are contiguous; counters end in _total; label
/// values use only the \\, \" and \n escapes; the page ends with a newline. Anything else throws.
/// </summary>
public static partial class PromText
{
    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")]
    private static partial Regex SampleLine();
    [GeneratedRegex(@"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$")]
    private static partial Regex MetaLine();

    public sealed record Page(List<PromSample> Samples, Dictionary<string, string> Types, Dictionary<string, string> Help)
    {
        public IEnumerable<PromSample> Family(string name) => Samples.Where(s => s.Name == name);

        public double Value(string name, params (string Label, string Value)[] labels)
        {
            var hits = Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Label, out var v) && v == l.Value)).ToList();
            if (hits.Count != 1)
                throw new Xunit.Sdk.XunitException($"{hits.Count} samples of {name}{{{string.Join(",", labels.Select(l => $"{l.Label}=\"{l.Value}\""))}}}");
            return hits[0].Value;
        }
    }

    public static Page Parse(string text)
    {
        if (!text.EndsWith('\n')) throw new FormatException("the page does not end with a newline");
        var samples = new List<PromSample>();
        var types = new Dictionary<string, string>();
        var help = new Dictionary<string, string>();
        var closed = new HashSet<string>();
        string? current = null;
        int n = 0;
        foreach (var line in text[..^1].Split('\n'))
        {
            n++;
            if (line.StartsWith('#'))
            {
                var m = MetaLine().Match(line);
                if (!m.Success) throw new FormatException($"line {n}: bad comment '{line}'");
                string name = m.Groups[2].Value;
                if (current is not null && current != name) closed.Add(current);
                if (closed.Contains(name)) throw new FormatException($"line {n}: family {name} declared again after its samples");
                current = name;
                var dict = m.Groups[1].Value == "HELP" ? help : types;
                if (!dict.TryAdd(name, m.Groups[3].Value)) throw new FormatException($"line {n}: second {m.Groups[1].Value} for {name}");
                if (m.Groups[1].Value == "TYPE")
                {
                    if (m.Groups[3].Value is not ("counter" or "gauge" or "histogram" or "summary" or "untyped"))
                        throw new FormatException($"line {n}: unknown type '{m.Groups[3].Value}'");
                    if (m.Groups[3].Value == "counter" && !name.EndsWith("_total")) throw new FormatException($"line {n}: counter {name} without _total");
                }
                continue;
            }
            var s = SampleLine().Match(line);
            if (!s.Success) throw new FormatException($"line {n}: not a sample: '{line}'");
            string sname = s.Groups[1].Value;
            if (sname != current) throw new FormatException($"line {n}: sample of {sname} outside its family (current {current})");
            if (!types.ContainsKey(sname)) throw new FormatException($"line {n}: {sname} has no TYPE");
            double value = s.Groups[4].Value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add(new PromSample(sname, s.Groups[3].Success ? Labels(s.Groups[3].Value, n) : new Dictionary<string, string>(), value));
        }
        return new Page(samples, types, help);
    }

    static Dictionary<string, string> Labels(string body, int line)
    {
        var d = new Dictionary<string, string>();
        int i = 0;
        while (i < body.Length)
        {
            int eq = body.IndexOf('=', i);
            if (eq < 0) throw new FormatException($"line {line}: label without '='");
            string name = body[i..eq];
            if (!Regex.IsMatch(name, "^[a-zA-Z_][a-zA-Z0-9_]*$")) throw new FormatException($"line {line}: bad label name '{name}'");
            if (eq + 1 >= body.Length || body[eq + 1] != '"') throw new FormatException($"line {line}: label value not quoted");
            var sb = new StringBuilder();
            int j = eq + 2;
            for (; ; j++)
            {
                if (j >= body.Length) throw new FormatException($"line {line}: unterminated label value");
                char c = body[j];
                if (c == '"') break;
                if (c == '\\')
                {
                    j++;
                    if (j >= body.Length) throw new FormatException($"line {line}: dangling backslash");
                    sb.Append(body[j] switch
                    {
                        '\\' => '\\',
                        '"' => '"',
                        'n' => '\n',
                        var x => throw new FormatException($"line {line}: unknown escape \\{x}"),
                    });
                }
                else if (c == '\n') throw new FormatException($"line {line}: raw newline in a label value");
                else sb.Append(c);
            }
            if (!d.TryAdd(name, sb.ToString())) throw new FormatException($"line {line}: label {name} twice");
            i = j + 1;
            if (i < body.Length)
            {
                if (body[i] != ',') throw new FormatException($"line {line}: expected ',' between labels");
                i++;
            }
        }
        return d;
    }
}
