using Switchyard.Management.Options;
using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Switchyard.Dataplane.Control;

namespace Switchyard.Management.Options;

/// <summary>What a pool does when every enabled backend is down (health checks).</summary>
public enum AllDownPolicy
{
    /// <summary>Route to all of them as if they were up.</summary>
    FailOpen,
    /// <summary>Route nothing.</summary>
    FailClosed,
}

/// <summary>
/// The names appliance.json uses for the enumerated settings: the one place they are defined. The
/// options classes hold the enum values; the binder, the shape check (unknown names are reported with
/// the list of valid ones) and the JSON written by <c>switchyard ctl config</c> all convert through here.
/// </summary>
public static class OptionNames
{
    public static readonly EnumNames<JoinMode> JoinModes = new(
        ("encrypted-token", JoinMode.EncryptedToken), ("learned-token", JoinMode.LearnedToken),
        ("announced-port", JoinMode.AnnouncedPort), ("announced-address", JoinMode.AnnouncedAddress));
    public static readonly EnumNames<ForwardingMode> Forwarding = new(
        ("l2dsr", ForwardingMode.L2Dsr), ("ipip", ForwardingMode.Ipip), ("gue", ForwardingMode.Gue), ("gre", ForwardingMode.Gre));
    public static readonly EnumNames<FragmentPolicy> Fragments = new(
        ("hash", FragmentPolicy.HashThreeTuple), ("drop", FragmentPolicy.Drop));
    public static readonly EnumNames<RemovedFlowPolicy> RemovedFlows = new(
        ("rehash", RemovedFlowPolicy.Rehash), ("reset", RemovedFlowPolicy.Reset));
    public static readonly EnumNames<AllDownPolicy> AllDown = new(
        ("fail-open", AllDownPolicy.FailOpen), ("fail-closed", AllDownPolicy.FailClosed));

    static int _registered;

    /// <summary>Makes the configuration binder convert these enums by name (idempotent).</summary>
    public static void Register()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 1) return;
        Add(JoinModes); Add(Forwarding); Add(Fragments); Add(RemovedFlows); Add(AllDown);
        static void Add<T>(EnumNames<T> _) where T : struct, Enum =>
            TypeDescriptor.AddAttributes(typeof(T), new TypeConverterAttribute(typeof(NamedEnumConverter<T>)));
    }

    internal static EnumNames<T>? Registered<T>() where T : struct, Enum
    {
        Register();
        return EnumNames<T>.Instance;
    }

    /// <summary>JSON options that write and read these enums by name.</summary>
    public static JsonSerializerOptions Json(bool indented) => new()
    {
        WriteIndented = indented,
        // An absent optional setting stays absent (a null would bind as "" and fail validation).
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters =
        {
            new NamedEnumJsonConverter<JoinMode>(), new NamedEnumJsonConverter<ForwardingMode>(),
            new NamedEnumJsonConverter<FragmentPolicy>(), new NamedEnumJsonConverter<RemovedFlowPolicy>(),
            new NamedEnumJsonConverter<AllDownPolicy>(),
        },
    };

    /// <summary>The names of <paramref name="t"/> for an error message, or null when it is not one of these enums.</summary>
    internal static string? Describe(Type t) =>
        t == typeof(JoinMode) ? JoinModes.Describe :
        t == typeof(ForwardingMode) ? Forwarding.Describe :
        t == typeof(FragmentPolicy) ? Fragments.Describe :
        t == typeof(RemovedFlowPolicy) ? RemovedFlows.Describe :
        t == typeof(AllDownPolicy) ? AllDown.Describe : null;
}

/// <summary>Two-way map between an enum and its configuration names (compared ignoring case).</summary>
public sealed class EnumNames<T> where T : struct, Enum
{
    readonly (string Name, T Value)[] _names;

    /// <summary>The instance for <typeparamref name="T"/> (set by the constructor; one per enum).</summary>
    public static EnumNames<T>? Instance { get; private set; }

    public EnumNames(params (string Name, T Value)[] names)
    {
        _names = names;
        Instance = this;
    }

    public IEnumerable<string> All => _names.Select(n => n.Name);

    /// <summary>"\"a\", \"b\" or \"c\"".</summary>
    public string Describe => _names.Length == 1 ? $"\"{_names[0].Name}\""
        : string.Join(", ", _names[..^1].Select(n => $"\"{n.Name}\"")) + $" or \"{_names[^1].Name}\"";

    public string Name(T value)
    {
        foreach (var (name, v) in _names) if (EqualityComparer<T>.Default.Equals(v, value)) return name;
        throw new ArgumentOutOfRangeException(nameof(value), value, $"no configuration name for {typeof(T).Name}.{value}");
    }

    /// <summary>The value named <paramref name="text"/>; throws <see cref="FormatException"/> for an unknown name.</summary>
    public T Parse(string text) => TryParse(text, out var v) ? v : throw new FormatException($"'{text}' must be one of {Describe}");

    public bool TryParse(string? text, out T value)
    {
        foreach (var (name, v) in _names)
            if (string.Equals(name, text?.Trim(), StringComparison.OrdinalIgnoreCase)) { value = v; return true; }
        value = default;
        return false;
    }
}

/// <summary>The binder's converter for a named enum (what <see cref="OptionNames.Register"/> installs).</summary>
sealed class NamedEnumConverter<T> : TypeConverter where T : struct, Enum
{
    static EnumNames<T> Names => OptionNames.Registered<T>() ?? throw new InvalidOperationException($"no names for {typeof(T).Name}");

    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string);
    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) => destinationType == typeof(string);

    public override object ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string s && Names.TryParse(s, out var v) ? v : throw new FormatException($"'{value}' must be one of {Names.Describe}");

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        value is T v && destinationType == typeof(string) ? Names.Name(v) : base.ConvertTo(context, culture, value, destinationType);
}

sealed class NamedEnumJsonConverter<T> : JsonConverter<T> where T : struct, Enum
{
    static EnumNames<T> Names => OptionNames.Registered<T>() ?? throw new InvalidOperationException($"no names for {typeof(T).Name}");

    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Names.TryParse(reader.GetString(), out var v) ? v : throw new JsonException($"'{reader.GetString()}' must be one of {Names.Describe}");

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(Names.Name(value));
}
