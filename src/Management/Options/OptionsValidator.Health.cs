using System.Net;
using Switchyard.Dataplane.Control;

namespace Switchyard.Management.Options;

public static partial class OptionsValidator
{
    public static readonly string[] HealthCheckTypes = ["none", "tcp", "http", "encap"];
    public const int MinHealthIntervalMs = 100, MaxHealthIntervalMs = 3_600_000, MinHealthTimeoutMs = 10, MaxRiseFall = 100;

    static void ValidateHealth(ApplianceOptions o, Action<string, string> add)
    {
        for (int i = 0; i < o.Pools.Length; i++)
        {
            var pool = o.Pools[i];
            string at = $"Pools[{i}]";
            var h = pool.HealthCheck;
            if (h is null) continue;
            string hat = $"{at}.HealthCheck";
            string type = (h.Type ?? "").ToLowerInvariant();
            if (!HealthCheckTypes.Contains(type)) { add($"{hat}.Type", $"'{h.Type}' must be \"none\", \"tcp\", \"http\" or \"encap\""); continue; }
            if (type == "none") continue;

            if (h.IntervalMs is < MinHealthIntervalMs or > MaxHealthIntervalMs)
                add($"{hat}.IntervalMs", $"{h.IntervalMs} must be {MinHealthIntervalMs}..{MaxHealthIntervalMs} ms");
            else if (h.TimeoutMs < MinHealthTimeoutMs || h.TimeoutMs > h.IntervalMs)
                add($"{hat}.TimeoutMs", $"{h.TimeoutMs} must be {MinHealthTimeoutMs}..{h.IntervalMs} ms (at most IntervalMs: one probe at a time per backend)");
            if (h.Rise is < 1 or > MaxRiseFall) add($"{hat}.Rise", $"{h.Rise} must be 1..{MaxRiseFall} consecutive successes");
            if (h.Fall is < 1 or > MaxRiseFall) add($"{hat}.Fall", $"{h.Fall} must be 1..{MaxRiseFall} consecutive failures");
            if ((h.Initial ?? "").ToLowerInvariant() is not ("up" or "down")) add($"{hat}.Initial", $"'{h.Initial}' must be \"up\" or \"down\"");
            if (h.SourceAddress is { } src && !IPAddress.TryParse(src, out _))
                add($"{hat}.SourceAddress", $"'{src}' is not an IPv4 or IPv6 address");

            if (h.Port is int port && port is < 0 or > ushort.MaxValue) add($"{hat}.Port", $"{port} must be 1..65535 (0 or absent: the VIPs' port)");
            else if (h.Port is null or 0 && HealthPort(o, pool, out var why) == 0) add($"{hat}.Port", why!);

            if (type == "http")
            {
                if (string.IsNullOrEmpty(h.Path) || h.Path[0] != '/' || h.Path.Any(c => c <= ' ' || c >= 0x7f))
                    add($"{hat}.Path", $"'{h.Path}' must be an absolute path (\"/healthz\") of printable ASCII without spaces");
                if (h.ExpectStatus is < 100 or > 599) add($"{hat}.ExpectStatus", $"{h.ExpectStatus} must be an HTTP status code 100..599");
                if (h.Host is { } host && (host.Length == 0 || host.Any(c => c <= ' ' || c >= 0x7f)))
                    add($"{hat}.Host", $"'{host}' must be a non-empty header value of printable ASCII without spaces");
            }

            if (type == "encap")
            {
                if (pool.Forwarding == ForwardingMode.L2Dsr)
                {
                    add($"{hat}.Type", "\"encap\" needs an encapsulating pool (Forwarding ipip, gue or gre); an l2dsr pool uses \"tcp\" or \"http\"");
                    continue;
                }
                for (int j = 0; j < pool.Backends.Length; j++)
                    if (ValueParsers.TryParseAddress(pool.Backends[j].Address, out _, out bool v4) && ProbeVip(o, pool, v4) is null)
                        add($"{hat}.Type", $"\"encap\" probes VIP:port through the tunnel, but no IPv{(v4 ? 4 : 6)} VIP uses pool '{pool.Name}' (Backends[{j}] is IPv{(v4 ? 4 : 6)})");
            }
        }
    }

    /// <summary>The port a pool's checks probe: HealthCheck.Port when set, else the one non-zero port of the pool's
    /// VIPs. 0 (with the reason) when neither gives one port.</summary>
    public static int HealthPort(ApplianceOptions o, PoolOptions pool, out string? why)
    {
        why = null;
        if (pool.HealthCheck?.Port is int p and > 0) return p;
        var ports = o.Vips.Where(v => v.Pool == pool.Name).Select(v => v.Port).Distinct().ToList();
        if (ports.Count == 1 && ports[0] is > 0 and <= ushort.MaxValue) return ports[0];
        why = ports.Count == 0
            ? $"required: no VIP uses pool '{pool.Name}', so there is no service port to probe"
            : ports.Contains(0)
                ? $"required: a VIP of pool '{pool.Name}' serves every port (Port 0); say which port to probe"
                : $"required: the VIPs of pool '{pool.Name}' use several ports ({string.Join(", ", ports)}); say which port to probe";
        return 0;
    }

    /// <summary>The VIP an encap probe addresses for a backend of the given family: the first VIP (in file order)
    /// of that family that uses the pool.</summary>
    public static VipOptions? ProbeVip(ApplianceOptions o, PoolOptions pool, bool v4) =>
        o.Vips.FirstOrDefault(v => v.Pool == pool.Name && ValueParsers.TryParseAddress(v.Address, out _, out bool vv4) && vv4 == v4);
}
