using System.Numerics;
using Switchyard.Dataplane.Control;

namespace Switchyard.Management.Options;

public static partial class OptionsValidator
{
    static void ValidateMptcp(ApplianceOptions o, Action<string, string> add)
    {
        var m = o.Mptcp;
        if (m.ServerIdBits is < 1 or > 15) add("Mptcp.ServerIdBits", $"{m.ServerIdBits} must be 1..15 (token-format.md)");
        if (m.LearnedTokenCapacity is < 1024 or > (1 << 26) || !BitOperations.IsPow2(m.LearnedTokenCapacity))
            add("Mptcp.LearnedTokenCapacity", $"{m.LearnedTokenCapacity} must be a power of two, 1024..67108864");
        if (m.LearnedTokenIdleTimeoutSeconds is < 1 or > MaxIdleTimeoutSeconds)
            add("Mptcp.LearnedTokenIdleTimeoutSeconds", $"{m.LearnedTokenIdleTimeoutSeconds} must be 1..{MaxIdleTimeoutSeconds}");
        if (m.TokenKeys.Length > 3) add("Mptcp.TokenKeys", $"{m.TokenKeys.Length} keys; at most 3 (ids 0..2)");
        var keyIds = new HashSet<int>();
        for (int i = 0; i < m.TokenKeys.Length; i++)
        {
            var k = m.TokenKeys[i];
            if (k.Id is < 0 or > 2) add($"Mptcp.TokenKeys[{i}].Id", $"{k.Id} must be 0, 1 or 2 (3 means \"not a routable token\")");
            else if (!keyIds.Add(k.Id)) add($"Mptcp.TokenKeys[{i}].Id", $"duplicate key id {k.Id}");
            if (!TryParseKey(k.Key, out _)) add($"Mptcp.TokenKeys[{i}].Key", "must be 16 bytes as 32 hex digits");
        }

        int maxServerId = m.ServerIdBits is >= 1 and <= 15 ? (1 << m.ServerIdBits) - 1 : int.MaxValue;
        var poolIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int p = 0; p < o.Pools.Length; p++) poolIndex.TryAdd(o.Pools[p].Name ?? "", p);
        for (int p = 0; p < o.Pools.Length; p++)
        {
            var ids = new Dictionary<int, int>();
            var ports = new Dictionary<int, int>();
            for (int b = 0; b < o.Pools[p].Backends.Length; b++)
            {
                var be = o.Pools[p].Backends[b];
                string at = $"Pools[{p}].Backends[{b}]";
                if (be.ServerId is { } sid)
                {
                    if (sid < 0 || sid > maxServerId) add($"{at}.ServerId", $"{sid} must be 0..{maxServerId} (Mptcp.ServerIdBits = {m.ServerIdBits})");
                    else if (!ids.TryAdd(sid, b)) add($"{at}.ServerId", $"server id {sid} is also Backends[{ids[sid]}]'s");
                }
                if (be.AnnouncedPort is { } ap)
                {
                    if (ap is < 1 or > ushort.MaxValue) add($"{at}.AnnouncedPort", $"{ap} must be 1..65535");
                    else if (!ports.TryAdd(ap, b)) add($"{at}.AnnouncedPort", $"port {ap} is also announced by Backends[{ports[ap]}]");
                }
            }
        }

        for (int i = 0; i < o.Vips.Length; i++)
        {
            var v = o.Vips[i];
            var seen = new HashSet<JoinMode>();
            bool hasPool = poolIndex.TryGetValue(v.Pool ?? "", out int pool);
            for (int j = 0; j < v.Joins.Length; j++)
            {
                var mode = v.Joins[j];
                string at = $"Vips[{i}].Joins[{j}]";
                if (!seen.Add(mode)) { add(at, $"'{OptionNames.JoinModes.Name(mode)}' is listed twice"); continue; }
                if (!string.Equals(v.Protocol, "tcp", StringComparison.OrdinalIgnoreCase))
                    add(at, "MPTCP join steering needs a TCP VIP (Protocol \"tcp\")");
                if (!hasPool) continue;
                var backends = o.Pools[pool].Backends;
                switch (mode)
                {
                    case JoinMode.EncryptedToken:
                        if (m.TokenKeys.Length == 0) add(at, "needs at least one Mptcp.TokenKeys entry");
                        if (!backends.Any(b => b.ServerId is not null)) add(at, $"no backend of pool '{v.Pool}' has a ServerId");
                        break;
                    case JoinMode.AnnouncedPort:
                        if (v.Port == 0) add(at, "needs a VIP with a port: the announced ports are other ports of the same address");
                        if (!backends.Any(b => b.AnnouncedPort is not null)) add(at, $"no backend of pool '{v.Pool}' has an AnnouncedPort");
                        foreach (var (b, bi) in backends.Select((b, bi) => (b, bi)))
                            if (b.AnnouncedPort == v.Port) add($"Pools[{pool}].Backends[{bi}].AnnouncedPort", $"{v.Port} is the port of VIP '{v.Name}' itself");
                        foreach (var (other, oi) in o.Vips.Select((x, oi) => (x, oi)))
                            if (oi != i && other.Address == v.Address && backends.Any(b => b.AnnouncedPort == other.Port && other.Port != 0))
                                add(at, $"an announced port of pool '{v.Pool}' is also the port of VIP '{other.Name}' (Vips[{oi}])");
                        break;
                }
            }
        }
    }

    public static bool TryParseKey(string? hex, out byte[] key)
    {
        key = [];
        if (hex is null || hex.Length != 32) return false;
        try { key = Convert.FromHexString(hex); return true; }
        catch (FormatException) { return false; }
    }
}
