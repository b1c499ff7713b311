using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Switchyard.Dataplane.Control;

namespace Switchyard.Management.Control;

/// <summary>
/// A short digest of a pool's Maglev table, comparable between appliances (issue 12, item 3): every appliance of a VIP
/// must compute the same table and the same flow hash, or a flow that ECMP moves reaches another backend. Backend ids
/// are process-local (they depend on each process's history of adds and removes), so the digest is taken over what the
/// table means: SHA-256 of the flow-hash seed, the table size, and for every slot the name of its backend (or none),
/// the first 12 hex digits shown.
/// </summary>
public static class MaglevDigest
{
    public static string Of(DataplaneSnapshot snap, PoolEntry pool)
    {
        // Backends by name in ordinal order: a slot is hashed as its backend's rank (names hashed once, up front).
        var ids = pool.Maglev.Where(id => id >= 0).Distinct().ToArray();
        var names = ids.Select(id => id < snap.Backends.Length ? snap.Backends[id].Name : $"#{id}").ToArray();
        Array.Sort(names, ids, StringComparer.Ordinal);
        var rank = new Dictionary<int, int>(ids.Length);
        for (int i = 0; i < ids.Length; i++) rank[ids[i]] = i;
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(b, snap.FlowHashSeed);
        BinaryPrimitives.WriteInt32BigEndian(b[4..], pool.Maglev.Length);
        h.AppendData(b);
        foreach (var n in names) { h.AppendData(Encoding.UTF8.GetBytes(n)); h.AppendData([0]); }
        var slots = new byte[pool.Maglev.Length * 4];
        for (int s = 0; s < pool.Maglev.Length; s++)
            BinaryPrimitives.WriteInt32BigEndian(slots.AsSpan(s * 4), pool.Maglev[s] >= 0 ? rank[pool.Maglev[s]] : -1);
        h.AppendData(slots);
        return Convert.ToHexStringLower(h.GetHashAndReset())[..12];
    }
}
