using System.Globalization;
using System.Net;

namespace Switchyard.Management.Options;

public static partial class OptionsValidator
{
    static void ValidateObservability(ApplianceOptions o, Action<string, string> add)
    {
        var ob = o.Observability;
        if (ob.PrometheusListen is { Length: > 0 } listen)
        {
            if (!TryParseListen(listen, out var ep, out string? why))
                add("Observability.PrometheusListen", $"'{listen}' {why}");
            else if (!IPAddress.IsLoopback(ep!.Address) && !ob.AllowNonLoopback)
                add("Observability.PrometheusListen",
                    $"'{listen}' is not a loopback address: the endpoint has no authentication; set Observability.AllowNonLoopback to true to serve it there anyway");
        }
        if (ob.TelemetryIntervalSeconds is < 1 or > 3600)
            add("Observability.TelemetryIntervalSeconds", $"{ob.TelemetryIntervalSeconds} must be 1..3600");
        if (ob.MaxConnections is < 1 or > 1024)
            add("Observability.MaxConnections", $"{ob.MaxConnections} must be 1..1024");
    }

    /// <summary>Parses "ADDRESS:PORT", "[V6]:PORT" or "localhost:PORT" (port 0..65535; 0 = any free port).</summary>
    public static bool TryParseListen(string text, out IPEndPoint? endpoint, out string? why)
    {
        endpoint = null; why = null;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1) { why = "must be ADDRESS:PORT, e.g. \"127.0.0.1:9469\" or \"[::1]:9469\""; return false; }
        string host = text[..colon], port = text[(colon + 1)..];
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int p) || p > 65535)
        { why = $"has port '{port}': must be 0..65535"; return false; }
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':')) { why = "has an IPv6 address without brackets: write \"[::1]:9469\""; return false; }
        IPAddress? addr;
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) addr = IPAddress.Loopback;
        else if (!IPAddress.TryParse(host, out addr)) { why = $"has '{host}', which is not an IP address (or \"localhost\")"; return false; }
        endpoint = new IPEndPoint(addr, p);
        return true;
    }
}
