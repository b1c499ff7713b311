using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Switchyard.Management.Options;

/// <summary>
/// Checks the raw configuration against the shape of the options classes before binding: unknown keys
/// (usually typos, which the binder would silently ignore), values of the wrong type, objects where a
/// value is expected and gaps in array indexes. The binder throws on the first bad value with a
/// message meant for developers; this reports every one with its JSON path. It converts with the same
/// TypeDescriptor converters the binder uses, so what passes here binds.
/// </summary>
static class ConfigurationShape
{
    public const string UnknownSetting = "unknown setting";

    public static void Check(IConfiguration config, Type rootType, List<ConfigurationError> errors)
    {
        OptionNames.Register();
        CheckObject(config.GetChildren(), rootType, "", errors);
    }

    static void CheckObject(IEnumerable<IConfigurationSection> children, Type type, string path, List<ConfigurationError> errors)
    {
        var props = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.SetMethod is { IsPublic: true })
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var child in children)
        {
            if (!props.TryGetValue(child.Key, out var p))
            {
                errors.Add(new(Join(path, child.Key), $"{UnknownSetting} (known here: {string.Join(", ", props.Keys)})"));
                continue;
            }
            CheckValue(child, p.PropertyType, Join(path, p.Name), errors, p.GetCustomAttribute<ValueRangeAttribute>());
        }
    }

    static void CheckValue(IConfigurationSection s, Type t, string path, List<ConfigurationError> errors, ValueRangeAttribute? range = null)
    {
        var children = s.GetChildren().ToList();
        if (t.IsArray)
        {
            // An empty JSON array arrives as the key with an empty value and no children.
            if (children.Count == 0)
            {
                if (!string.IsNullOrEmpty(s.Value)) errors.Add(new(path, $"expected an array [...], found the value '{s.Value}'"));
                return;
            }
            var element = t.GetElementType()!;
            var indexes = new List<int>();
            foreach (var item in children)
            {
                if (!int.TryParse(item.Key, NumberStyles.None, CultureInfo.InvariantCulture, out int i))
                {
                    errors.Add(new(Join(path, item.Key), "expected an array item (a numeric index), found a named key"));
                    continue;
                }
                indexes.Add(i);
                CheckValue(item, element, $"{path}[{i}]", errors);
            }
            // The binder packs items in index order, so a gap (an override of Vips:5 on a 2-item array)
            // would shift every later item and the errors would name the wrong index.
            indexes.Sort();
            for (int k = 0; k < indexes.Count; k++)
                if (indexes[k] != k)
                {
                    errors.Add(new($"{path}[{indexes[k]}]", $"array index leaves a gap: {path} has {indexes.Count} items, so indexes must be 0..{indexes.Count - 1}"));
                    break;
                }
            return;
        }
        var underlying = Nullable.GetUnderlyingType(t) ?? t;
        if (underlying == typeof(string) || underlying.IsPrimitive || underlying.IsEnum)
        {
            if (children.Count > 0) { errors.Add(new(path, "expected a single value, found an object or array")); return; }
            CheckScalar(s.Value, t, underlying, path, errors, range);
            return;
        }
        if (children.Count == 0)
        {
            if (!string.IsNullOrEmpty(s.Value)) errors.Add(new(path, $"expected an object {{...}}, found the value '{s.Value}'"));
            return;
        }
        CheckObject(children, t, path, errors);
    }

    static void CheckScalar(string? value, Type t, Type underlying, string path, List<ConfigurationError> errors, ValueRangeAttribute? range)
    {
        if (value is null || underlying == typeof(string)) return;
        if (value.Length == 0)
        {
            // The binder leaves a property alone for an empty value; for a nullable that means "absent".
            if (Nullable.GetUnderlyingType(t) is null) errors.Add(new(path, $"expected {Describe(underlying, range)}, found an empty value"));
            return;
        }
        try
        {
            TypeDescriptor.GetConverter(underlying).ConvertFromInvariantString(value);
        }
        catch (Exception)
        {
            errors.Add(new(path, OptionNames.Describe(underlying) is { } names
                ? $"'{value}' must be one of {names}" : $"'{value}' is not {Describe(underlying, range)}"));
        }
    }

    /// <summary>The kind of value expected; a property's [Range] (ports: 1..65535) replaces the type's own range.</summary>
    static string Describe(Type t, ValueRangeAttribute? range) =>
        range is not null ? $"a whole number ({range.Text})" :
        t == typeof(int) ? "a whole number (-2147483648..2147483647)" :
        t == typeof(uint) ? "a whole number (0..4294967295)" :
        t == typeof(long) ? "a whole number" :
        t == typeof(bool) ? "true or false" :
        t == typeof(double) ? "a number" : $"a {t.Name}";

    static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    /// <summary>"Pools:1:Backends:0:Weight" -> "Pools[1].Backends[0].Weight".</summary>
    public static string ToJsonPath(string configPath)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var part in configPath.Split(':'))
        {
            if (part.Length > 0 && part.All(char.IsAsciiDigit)) sb.Append('[').Append(part).Append(']');
            else { if (sb.Length > 0) sb.Append('.'); sb.Append(part); }
        }
        return sb.ToString();
    }
}

/// <summary>The values a number setting takes, in words ("1..65535"): what a value that is no number at all is told,
/// instead of the type's range (-2147483648..2147483647). OptionsValidator still checks the range itself.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ValueRangeAttribute(string text) : Attribute
{
    public string Text { get; } = text;
}
