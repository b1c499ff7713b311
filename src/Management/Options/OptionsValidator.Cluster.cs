using System.Net;
using System.Numerics;
using Switchyard.Dataplane.Control;

namespace Switchyard.Management.Options;

public static partial class OptionsValidator
{
    /// <summary>Shortest shared key of the token exchange (bytes).</summary>
    public const int MinClusterKeyBytes = 16;

    static void ValidateCluster(ApplianceOptions o, Action<string, string> add)
    {
        var c = o.Cluster;
        if (!c.Enabled) return;
        IPEndPoint? listen = null;
        if (!TryParseEndpoint(c.Listen, out listen))
            add("Cluster.Listen", $"'{c.Listen}' must be ADDRESS:PORT (e.g. \"10.77.0.11:7946\" or \"[fd77::11]:7946\")");
        if (c.Peers.Length == 0) add("Cluster.Peers", "no peers: list the other appliances' Cluster.Listen endpoints");
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < c.Peers.Length; i++)
        {
            if (!TryParseEndpoint(c.Peers[i], out var ep))
                add($"Cluster.Peers[{i}]", $"'{c.Peers[i]}' must be ADDRESS:PORT");
            else if (!seen.TryAdd(ep.ToString(), i)) add($"Cluster.Peers[{i}]", $"{c.Peers[i]} is already Cluster.Peers[{seen[ep.ToString()]}]");
            else if (listen is not null && ep.Equals(listen)) add($"Cluster.Peers[{i}]", $"{c.Peers[i]} is this appliance's own Cluster.Listen");
            else if (listen is not null && ep.AddressFamily != listen.AddressFamily)
                add($"Cluster.Peers[{i}]", $"{c.Peers[i]} is not of Cluster.Listen's address family");
        }
        if (c.Key is null == (c.KeyFile is null))
            add(c.Key is null ? "Cluster.Key" : "Cluster.KeyFile", "set exactly one of Cluster.Key (hex) and Cluster.KeyFile (a file holding the hex key)");
        else if (c.Key is not null && TryParseClusterKey(c.Key, out _) is { } why) add("Cluster.Key", why);
        else if (c.KeyFile is not null)
        {
            string? text = null;
            try { text = File.ReadAllText(c.KeyFile); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            { add("Cluster.KeyFile", $"cannot read '{c.KeyFile}': {e.Message}"); }
            if (text is not null && TryParseClusterKey(text, out _) is { } bad) add("Cluster.KeyFile", $"'{c.KeyFile}': {bad}");
        }
        if (c.ResyncSeconds < 1) add("Cluster.ResyncSeconds", $"{c.ResyncSeconds} must be at least 1");
        else if (c.ResyncSeconds * 2 > o.Mptcp.LearnedTokenIdleTimeoutSeconds)
            add("Cluster.ResyncSeconds", $"{c.ResyncSeconds} must be at most half of Mptcp.LearnedTokenIdleTimeoutSeconds ({o.Mptcp.LearnedTokenIdleTimeoutSeconds}): " +
                "a peer's copy of a token lives on the re-announcements");
        if (c.FlushMilliseconds is < 1 or > 1000) add("Cluster.FlushMilliseconds", $"{c.FlushMilliseconds} must be 1..1000");
        if (c.QueueCapacity is < 64 or > 1 << 24 || !BitOperations.IsPow2(c.QueueCapacity))
            add("Cluster.QueueCapacity", $"{c.QueueCapacity} must be a power of two, 64..16777216");
        if (c.MaxDatagramsPerSecond is < 10 or > 1_000_000) add("Cluster.MaxDatagramsPerSecond", $"{c.MaxDatagramsPerSecond} must be 10..1000000");
        if (c.MaxReceivePerSecond is < 10 or > 1_000_000) add("Cluster.MaxReceivePerSecond", $"{c.MaxReceivePerSecond} must be 10..1000000");
        if (c.MaxClockSkewSeconds is < 1 or > 3600) add("Cluster.MaxClockSkewSeconds", $"{c.MaxClockSkewSeconds} must be 1..3600");
        if (c.MaxDatagramBytes is < 256 or > 8192) add("Cluster.MaxDatagramBytes", $"{c.MaxDatagramBytes} must be 256..8192");
        if (c.SharedPinCapacity is < 64 or > 1 << 26) add("Cluster.SharedPinCapacity", $"{c.SharedPinCapacity} must be 64..67108864");
        if (c.PinSweepBucketsPerBurst is < 1 or > 4096) add("Cluster.PinSweepBucketsPerBurst", $"{c.PinSweepBucketsPerBurst} must be 1..4096");
        if (!c.SharePins && !o.Vips.Any(v => v.Joins.Contains(JoinMode.LearnedToken)))
            add("Cluster.Enabled", "no VIP has the learned-token join mode (Vips[].Joins) and Cluster.SharePins is off: there is nothing to share");
    }

    /// <summary>ADDRESS:PORT, with IPv6 addresses in brackets.</summary>
    public static bool TryParseEndpoint(string? s, out IPEndPoint endpoint)
    {
        endpoint = null!;
        if (string.IsNullOrWhiteSpace(s) || !IPEndPoint.TryParse(s, out var ep) || ep.Port == 0) return false;
        // IPEndPoint.TryParse accepts "10.0.0.1" (port 0, refused above) and an unbracketed IPv6 address with a
        // trailing group taken as the port; insist on brackets for IPv6.
        if (ep.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !s.TrimStart().StartsWith('[')) return false;
        endpoint = ep;
        return true;
    }

    /// <summary>The key from hex (whitespace ignored); null when fine, else why not.</summary>
    public static string? TryParseClusterKey(string hex, out byte[] key)
    {
        key = [];
        var digits = new string(hex.Where(ch => !char.IsWhiteSpace(ch)).ToArray());
        if (digits.Length == 0) return "the key is empty";
        if (digits.Length % 2 != 0 || !digits.All(char.IsAsciiHexDigit)) return "the key must be hex digits (an even number of them)";
        if (digits.Length < MinClusterKeyBytes * 2) return $"the key has {digits.Length / 2} bytes; at least {MinClusterKeyBytes} (32 hex digits) are needed";
        key = Convert.FromHexString(digits);
        return null;
    }
}
