using Switchyard.Management.Options;

namespace Switchyard.Management.Compile;

/// <summary>
/// Stable backend ids, keyed by (pool name, backend name). A flow-table entry stores the id, so an id
/// must keep meaning the same backend across snapshots: ids of backends that still exist are kept, and
/// an id is never reused within the process lifetime (a pinned flow of a removed backend must find
/// "removed", never a newcomer). Known limitation: ids are bounded by Dataplane.MaxBackends over the
/// whole lifetime, so a process that churns through more backends than that must be restarted.
/// Renaming a pool or a backend makes it a new backend, and so does removing one and adding it back
/// (its old id is retired: entries pinned to it meanwhile follow the removal policy, never the newcomer).
/// </summary>
public sealed class BackendIdAllocator
{
    readonly Dictionary<(string Pool, string Backend), int> _ids = new();
    readonly List<(string Pool, string Backend)> _names = new();

    /// <summary>Ids handed out so far; the next new backend gets this one.</summary>
    public int Count => _names.Count;

    public (string Pool, string Backend) NameOf(int id) => _names[id];

    public bool TryGet(string pool, string backend, out int id) => _ids.TryGetValue((pool, backend), out id);

    /// <summary>Ids for every key, allocating new ones in order. All or nothing: if the new ids would not
    /// fit under <paramref name="maxBackends"/>, nothing is allocated and a ConfigurationException says why.</summary>
    /// <summary>Ids whose (pool, backend) is no longer configured: the name is forgotten (a later backend of
    /// that name gets a fresh id), the id is never handed out again.</summary>
    public void RetireAllExcept(IReadOnlyCollection<(string Pool, string Backend)> keep)
    {
        var set = keep as ISet<(string, string)> ?? new HashSet<(string, string)>(keep);
        foreach (var k in _ids.Keys.Where(k => !set.Contains(k)).ToList()) _ids.Remove(k);
    }

    /// <summary>Whether <paramref name="id"/> belongs to a backend that is still configured.</summary>
    public bool IsLive(int id) => id >= 0 && id < _names.Count && _ids.TryGetValue(_names[id], out int live) && live == id;

    public int[] Assign(IReadOnlyList<(string Pool, string Backend)> keys, int maxBackends)
    {
        var fresh = keys.Where(k => !_ids.ContainsKey(k)).Distinct().ToList();
        if (_names.Count + fresh.Count > maxBackends)
            throw new ConfigurationException("Dataplane.MaxBackends",
                $"backend ids exhausted: {_names.Count} ids are in use or retired in this process and {fresh.Count} more are needed, " +
                $"but MaxBackends is {maxBackends}; ids are never reused while the process runs, so raise MaxBackends or restart");
        foreach (var k in fresh) { _ids[k] = _names.Count; _names.Add(k); }
        return [.. keys.Select(k => _ids[k])];
    }
}
