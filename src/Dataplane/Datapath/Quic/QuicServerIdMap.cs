using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Datapath.Quic;

/// <summary>
/// A pool's QUIC-LB server ids -> backend ids: an immutable open-addressing table (linear probing,
/// power-of-two size at most half full) built by the control plane, read on the packet path without
/// allocation or locks.
/// </summary>
public sealed class QuicServerIdMap
{
    readonly ulong[] _lo, _hi;   // key; Hi == 0 marks an empty slot (a real key always has its length in octet 15)
    readonly int[] _backend;
    readonly int _mask;

    public int Count { get; }

    public QuicServerIdMap(IEnumerable<(QuicServerId ServerId, int BackendId)> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var list = entries.ToList();
        int size = 16;
        while (size < list.Count * 2) size <<= 1;
        _lo = new ulong[size];
        _hi = new ulong[size];
        _backend = new int[size];
        _mask = size - 1;
        foreach (var (sid, id) in list)
        {
            if (sid.Length == 0) throw new ArgumentException("empty server id");
            int s = Slot(sid);
            while (_hi[s] != 0)
            {
                if (_hi[s] == sid.Hi && _lo[s] == sid.Lo) throw new ArgumentException($"server id {sid} given twice");
                s = (s + 1) & _mask;
            }
            _lo[s] = sid.Lo;
            _hi[s] = sid.Hi;
            _backend[s] = id;
        }
        Count = list.Count;
    }

    /// <summary>The backend id of <paramref name="serverId"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Lookup(in QuicServerId serverId)
    {
        ref ulong lo = ref MemoryMarshal.GetArrayDataReference(_lo);
        ref ulong hi = ref MemoryMarshal.GetArrayDataReference(_hi);
        int s = Slot(serverId);
        for (int probe = 0; probe <= _mask; probe++)
        {
            ulong h = Unsafe.Add(ref hi, s);
            if (h == 0) return -1;
            if (h == serverId.Hi && Unsafe.Add(ref lo, s) == serverId.Lo) return _backend[s];
            s = (s + 1) & _mask;
        }
        return -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    int Slot(in QuicServerId k)
    {
        ulong x = (k.Lo ^ (k.Hi * 0x9E3779B97F4A7C15UL)) * 0xBF58476D1CE4E5B9UL;
        return (int)(x >> 40) & _mask;
    }
}
