using Switchyard.Dataplane.Datapath.Quic;
using Switchyard.Management.Options;

namespace Switchyard.Management.Compile;

/// <summary>QUIC-LB parts of the snapshot (validated options in, immutable tables out).</summary>
static class QuicLbCompile
{
    public static QuicLbConfigSet? Configs(QuicLbOptions q)
    {
        if (q.Configs.Length == 0) return null;
        return new QuicLbConfigSet(q.Configs.Select(c =>
        {
            byte[] key = [];
            if (!string.IsNullOrEmpty(c.Key)) OptionsValidator.TryParseKey(c.Key, out key);
            return new QuicLbConfig(c.ConfigId, c.ServerIdLength, c.NonceLength, key, c.SelfEncodedLength);
        }));
    }

    /// <param name="ids">Backend ids of the pool's backends, in configuration order.</param>
    public static QuicServerIdMap? ServerIds(PoolOptions pool, ReadOnlySpan<int> ids)
    {
        var entries = new List<(QuicServerId, int)>();
        for (int b = 0; b < pool.Backends.Length; b++)
            if (OptionsValidator.TryParseQuicServerId(pool.Backends[b].QuicServerId, out var sid))
                entries.Add((QuicServerId.FromBytes(sid), ids[b]));
        return entries.Count == 0 ? null : new QuicServerIdMap(entries);
    }
}
