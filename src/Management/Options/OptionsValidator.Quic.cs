using Switchyard.Dataplane.Datapath.Quic;

namespace Switchyard.Management.Options;

public static partial class OptionsValidator
{
    static void ValidateQuic(ApplianceOptions o, Action<string, string> add)
    {
        var q = o.QuicLb;
        var ids = new Dictionary<int, int>();
        var sidLengths = new HashSet<int>();
        for (int i = 0; i < q.Configs.Length; i++)
        {
            var c = q.Configs[i];
            string at = $"QuicLb.Configs[{i}]";
            if (c.ConfigId is < 0 or > QuicLbConfig.MaxConfigId) add($"{at}.ConfigId", $"{c.ConfigId} must be 0..6 (7 marks unroutable connection IDs)");
            else if (!ids.TryAdd(c.ConfigId, i)) add($"{at}.ConfigId", $"config id {c.ConfigId} is also Configs[{ids[c.ConfigId]}]'s");
            bool lengthsOk = true;
            if (c.ServerIdLength is < QuicLbConfig.MinServerIdLength or > QuicLbConfig.MaxServerIdLength)
            { add($"{at}.ServerIdLength", $"{c.ServerIdLength} must be 1..15 octets"); lengthsOk = false; }
            if (c.NonceLength is < QuicLbConfig.MinNonceLength or > QuicLbConfig.MaxNonceLength)
            { add($"{at}.NonceLength", $"{c.NonceLength} must be 4..18 octets"); lengthsOk = false; }
            if (lengthsOk && c.ServerIdLength + c.NonceLength > QuicLbConfig.MaxPlaintextLength)
            { add($"{at}.NonceLength", $"server id + nonce = {c.ServerIdLength + c.NonceLength} octets; at most 19 (connection IDs are at most 20 octets)"); lengthsOk = false; }
            if (!string.IsNullOrEmpty(c.Key) && !TryParseKey(c.Key, out _)) add($"{at}.Key", "must be 16 bytes as 32 hex digits, or absent for plaintext");
            if (lengthsOk) sidLengths.Add(c.ServerIdLength);
        }

        var poolIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int p = 0; p < o.Pools.Length; p++) poolIndex.TryAdd(o.Pools[p].Name ?? "", p);
        for (int p = 0; p < o.Pools.Length; p++)
        {
            var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (int b = 0; b < o.Pools[p].Backends.Length; b++)
            {
                var hex = o.Pools[p].Backends[b].QuicServerId;
                if (hex is null) continue;
                string at = $"Pools[{p}].Backends[{b}].QuicServerId";
                if (!TryParseQuicServerId(hex, out var sid)) { add(at, $"'{hex}' must be 1..15 octets as hex digits"); continue; }
                if (!seen.TryAdd(hex, b)) add(at, $"server id {hex} is also Backends[{seen[hex]}]'s");
                if (q.Configs.Length > 0 && !sidLengths.Contains(sid.Length))
                    add(at, $"{sid.Length} octets; no QuicLb.Configs entry has ServerIdLength {sid.Length}");
            }
        }

        for (int i = 0; i < o.Vips.Length; i++)
        {
            var v = o.Vips[i];
            if (!v.QuicLb) continue;
            string at = $"Vips[{i}].QuicLb";
            if (!string.Equals(v.Protocol, "udp", StringComparison.OrdinalIgnoreCase)) add(at, "QUIC-LB needs a UDP VIP (Protocol \"udp\")");
            if (q.Configs.Length == 0) add(at, "needs at least one QuicLb.Configs entry");
            if (poolIndex.TryGetValue(v.Pool ?? "", out int pool) && !o.Pools[pool].Backends.Any(b => b.QuicServerId is not null))
                add(at, $"no backend of pool '{v.Pool}' has a QuicServerId");
        }
    }

    public static bool TryParseQuicServerId(string? hex, out byte[] serverId)
    {
        serverId = [];
        if (hex is null || hex.Length is < 2 or > 30 || hex.Length % 2 != 0) return false;
        try { serverId = Convert.FromHexString(hex); return true; }
        catch (FormatException) { return false; }
    }
}
