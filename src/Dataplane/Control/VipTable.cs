using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Datapath;

namespace Switchyard.Dataplane.Control;

/// <summary>
/// (address, port, protocol) -> VIP index, as an open-addressing table built once per snapshot.
/// Lookup tries the exact service, then the address with any port for that protocol, then the
/// whole address. No allocation on lookup.
/// </summary>
public sealed class VipTable
{
    readonly ulong[] _hi, _lo;
    readonly uint[] _portProto;   // port << 8 | protocol
    readonly int[] _index;        // -1 = empty slot
    readonly int _mask;
    readonly bool _hasWildcards;

    public VipTable(ReadOnlySpan<VipEntry> vips)
    {
        int cap = 8;
        while (cap < vips.Length * 4) cap <<= 1;
        _hi = new ulong[cap]; _lo = new ulong[cap]; _portProto = new uint[cap]; _index = new int[cap];
        Array.Fill(_index, -1);
        _mask = cap - 1;
        // (address, protocol) -> the first configured VIP on that address for that protocol (or for
        // every protocol). Fragments without ports are steered through this VIP's pool, so every
        // fragment of a datagram makes the same choice whether or not it carries the ports.
        var byAddress = new Dictionary<(Addr128, byte), int>();
        for (int i = 0; i < vips.Length; i++)
        {
            var v = vips[i];
            if (v.Port == 0 || v.Protocol == 0) _hasWildcards = true;
            uint pp = (uint)v.Port << 8 | v.Protocol;
            int s = Slot(v.Address, pp);
            while (_index[s] >= 0)
            {
                if (_hi[s] == v.Address.Hi && _lo[s] == v.Address.Lo && _portProto[s] == pp)
                    throw new ArgumentException($"duplicate VIP {v.Address} port {v.Port} protocol {v.Protocol}");
                s = (s + 1) & _mask;
            }
            _hi[s] = v.Address.Hi; _lo[s] = v.Address.Lo; _portProto[s] = pp; _index[s] = i;
            byAddress.TryAdd((v.Address, v.Protocol), i);
        }
        _addrHi = new ulong[byAddress.Count]; _addrLo = new ulong[byAddress.Count];
        _addrProto = new byte[byAddress.Count]; _addrIndex = new int[byAddress.Count];
        int k = 0;
        foreach (var ((a, proto), idx) in byAddress.OrderBy(e => e.Value))
        {
            _addrHi[k] = a.Hi; _addrLo[k] = a.Lo; _addrProto[k] = proto; _addrIndex[k] = idx; k++;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    int Slot(in Addr128 a, uint pp)
    {
        ulong h = (a.Hi * 0x9E3779B97F4A7C15UL) ^ (a.Lo * 0xC2B2AE3D27D4EB4FUL) ^ (pp * 0x165667B19E3779F9UL);
        return (int)(h >> 40) & _mask;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    int Find(in Addr128 a, uint pp)
    {
        int s = Slot(a, pp);
        while (true)
        {
            int idx = _index[s];
            if (idx < 0) return -1;
            if (_hi[s] == a.Hi && _lo[s] == a.Lo && _portProto[s] == pp) return idx;
            s = (s + 1) & _mask;
        }
    }

    /// <summary>The VIP index serving this destination, or -1.</summary>
    public int Lookup(in Addr128 dst, ushort port, byte protocol)
    {
        int i = Find(dst, (uint)port << 8 | protocol);
        if (i >= 0 || !_hasWildcards) return i;
        i = Find(dst, protocol);
        return i >= 0 ? i : Find(dst, 0);
    }

    readonly ulong[] _addrHi, _addrLo;
    readonly byte[] _addrProto;
    readonly int[] _addrIndex;

    /// <summary>
    /// The VIP steering fragments to this address: the first configured VIP on the address for this
    /// protocol, else for every protocol; -1 if none. Linear over distinct (address, protocol)
    /// pairs, which are few; fragments are rare.
    /// </summary>
    public int LookupForFragment(in Addr128 dst, byte protocol)
    {
        int any = -1;
        for (int k = 0; k < _addrIndex.Length; k++)
        {
            if (_addrHi[k] != dst.Hi || _addrLo[k] != dst.Lo) continue;
            if (_addrProto[k] == protocol) return _addrIndex[k];
            if (_addrProto[k] == 0 && any < 0) any = _addrIndex[k];
        }
        return any;
    }

    /// <summary>Whether any VIP uses this address (for ARP/NDP and ICMP errors addressed to a VIP).</summary>
    public bool ContainsAddress(in Addr128 a)
    {
        for (int s = 0; s < _index.Length; s++)
            if (_index[s] >= 0 && _hi[s] == a.Hi && _lo[s] == a.Lo) return true;
        return false;
    }
}

/// <summary>A small set of addresses answered for by ARP/NDP. Linear scan: it holds tens of entries.</summary>
public sealed class LocalAddressSet
{
    readonly Addr128[] _addrs;
    readonly byte[] _port;   // the port each address is answered on; 255 = every port (VIPs)
    public LocalAddressSet(ReadOnlySpan<Addr128> addrs, ReadOnlySpan<byte> ports) { _addrs = addrs.ToArray(); _port = ports.ToArray(); }

    public bool Contains(in Addr128 a, byte port)
    {
        var addrs = _addrs;
        for (int i = 0; i < addrs.Length; i++)
            if (addrs[i].Hi == a.Hi && addrs[i].Lo == a.Lo && (_port[i] == 255 || _port[i] == port)) return true;
        return false;
    }
}
