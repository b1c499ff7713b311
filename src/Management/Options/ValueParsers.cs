using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;

namespace Switchyard.Management.Options;

/// <summary>Parsers for the string-typed settings, shared by the validator (which reports) and the
/// compiler (which relies on the validator having accepted the value). None of them throws.</summary>
public static class ValueParsers
{
    /// <summary>"aa:bb:cc:dd:ee:ff" or "aa-bb-cc-dd-ee-ff" to the snapshot's layout: byte 0 of the wire
    /// order in bits 47..40.</summary>
    public static bool TryParseMac(string? text, out ulong mac)
    {
        mac = 0;
        if (text is null || text.Length != 17) return false;
        char sep = text[2];
        if (sep != ':' && sep != '-') return false;
        for (int i = 0; i < 6; i++)
        {
            if (i > 0 && text[i * 3 - 1] != sep) return false;
            if (!byte.TryParse(text.AsSpan(i * 3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b)) return false;
            mac = mac << 8 | b;
        }
        return true;
    }

    public static bool IsMulticastMac(ulong mac) => (mac & 0x0100_0000_0000UL) != 0;

    /// <summary>A plain IPv4 or IPv6 address (no prefix length, no zone).</summary>
    public static bool TryParseAddress(string? text, out Addr128 address, out bool isV4)
    {
        address = default; isV4 = false;
        if (string.IsNullOrWhiteSpace(text) || text.Contains('/') || text.Contains('%')) return false;
        // IPAddress.TryParse accepts "1" or "1.2" as IPv4 (inet_aton shorthand); nobody means that here.
        if (!text.Contains(':') && text.Count(c => c == '.') != 3) return false;
        if (!IPAddress.TryParse(text, out var ip)) return false;
        isV4 = ip.AddressFamily == AddressFamily.InterNetwork;
        address = Addr128.FromIPAddress(ip);
        return true;
    }

    /// <summary>"prefix/length" with no host bits set. <paramref name="hostMask"/> holds the bits that
    /// vary: for IPv4 the low 32 bits, for IPv6 the low 64 bits (a shorter IPv6 prefix still varies
    /// only those, a limitation of the snapshot's 64-bit mask).</summary>
    public static bool TryParseCidr(string? text, out Addr128 prefix, out int length, out bool isV4, out ulong hostMask, out string error)
    {
        prefix = default; length = 0; isV4 = false; hostMask = 0; error = "";
        int slash = text?.IndexOf('/') ?? -1;
        if (text is null || slash < 0) { error = $"'{text}' is not a CIDR prefix (expected address/length, e.g. 198.18.200.0/24)"; return false; }
        if (!TryParseAddress(text[..slash], out var addr, out isV4)) { error = $"'{text[..slash]}' is not an IP address"; return false; }
        int max = isV4 ? 32 : 128;
        if (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out length) || length > max)
        { error = $"prefix length '{text[(slash + 1)..]}' must be 0..{max}"; return false; }
        if (isV4)
        {
            ulong mask = length == 0 ? 0xFFFF_FFFFUL : (1UL << (32 - length)) - 1;
            if ((addr.V4 & mask) != 0) { error = $"host bits are set in {text} (did you mean {Addr128.FromV4((uint)(addr.V4 & ~mask))}/{length}?)"; return false; }
            hostMask = mask;
        }
        else
        {
            int hostBits = 128 - length;
            ulong loMask = hostBits >= 64 ? ulong.MaxValue : (1UL << hostBits) - 1;
            ulong hiMask = hostBits <= 64 ? 0 : (hostBits >= 128 ? ulong.MaxValue : (1UL << (hostBits - 64)) - 1);
            if ((addr.Lo & loMask) != 0 || (addr.Hi & hiMask) != 0)
            { error = $"host bits are set in {text} (did you mean {new Addr128(addr.Hi & ~hiMask, addr.Lo & ~loMask)}/{length}?)"; return false; }
            hostMask = loMask;
        }
        prefix = addr;
        return true;
    }

    public static bool TryParseForwarding(string? text, out ForwardingMode mode)
    {
        switch (text?.ToLowerInvariant())
        {
            case "l2dsr": mode = ForwardingMode.L2Dsr; return true;
            case "ipip": mode = ForwardingMode.Ipip; return true;
            case "gue": mode = ForwardingMode.Gue; return true;
            case "gre": mode = ForwardingMode.Gre; return true;
            default: mode = default; return false;
        }
    }

    public static bool TryParseFragments(string? text, out FragmentPolicy policy)
    {
        switch (text?.ToLowerInvariant())
        {
            case "hash": policy = FragmentPolicy.HashThreeTuple; return true;
            case "drop": policy = FragmentPolicy.Drop; return true;
            default: policy = default; return false;
        }
    }

    /// <summary>IP protocol number as the VIP table stores it; "any" is 0.</summary>
    public static bool TryParseProtocol(string? text, out byte protocol)
    {
        switch (text?.ToLowerInvariant())
        {
            case "tcp": protocol = 6; return true;
            case "udp": protocol = 17; return true;
            case "any": protocol = 0; return true;
            default: protocol = 0; return false;
        }
    }

    /// <summary>A PCI address, "DDDD:BB:DD.F" or "BB:DD.F", optionally followed by ",devargs".</summary>
    public static bool IsPciAddress(string? text)
    {
        if (string.IsNullOrEmpty(text)) return false;
        var bdf = text.Split(',', 2)[0];
        var parts = bdf.Split(':');
        if (parts.Length is < 2 or > 3) return false;
        if (parts.Length == 3 && !IsHex(parts[0], 4)) return false;
        var busDev = parts[^2];
        var devFn = parts[^1].Split('.');
        return IsHex(busDev, 2) && devFn.Length == 2 && IsHex(devFn[0], 2) && devFn[1].Length == 1 && devFn[1][0] is >= '0' and <= '7';
    }

    static bool IsHex(string s, int len) => s.Length == len && s.All(Uri.IsHexDigit);
}
