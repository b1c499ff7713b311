namespace Switchyard.Dataplane.Datapath.Steering;

/// <summary>One backend as an input to the Maglev table build.</summary>
/// <param name="Id">The backend id stored in the table.</param>
/// <param name="Key">A stable name for the backend (its configured name); it fixes the backend's
/// permutation, so the same backend lands in mostly the same slots in every build and on every
/// balancer.</param>
/// <param name="Weight">Relative weight; 0 keeps it out of the table.</param>
public readonly record struct MaglevBackend(int Id, string Key, uint Weight);

/// <summary>
/// Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4) with weights in the manner
/// of Envoy's weighted Maglev: a backend of weight w takes a turn in w / max(w) of the rounds, so
/// its share of the table follows its weight, while each backend still fills slots in its own
/// permutation order (which keeps disruption near the ideal when the set changes).
/// </summary>
public static class Maglev
{
    public const int DefaultSize = 65537;

    /// <summary>The slot of a flow in a table of <paramref name="size"/> slots: the low 32 bits of its
    /// <see cref="FlowHash"/> modulo the size (the flow table uses the high 32 for its buckets).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static int Slot(ulong flowHash, int size) => (int)((uint)flowHash % (uint)size);

    /// <summary><see cref="Slot(ulong, int)"/> without the division (a 32-bit divide is 10-14 cycles of latency on
    /// the new-flow path, where the slot's load waits for it): Lemire, Kaser and Kurz's direct remainder
    /// ("Faster remainder by direct computation", 2019), exact for every 32-bit dividend and divisor, with
    /// <paramref name="multiplier"/> = <see cref="FastModMultiplier"/>(size). Two multiplies.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static int Slot(ulong flowHash, int size, ulong multiplier) =>
        (int)Math.BigMul(multiplier * (uint)flowHash, (uint)size, out _);

    /// <summary>The multiplier of <see cref="Slot(ulong, int, ulong)"/> for tables of <paramref name="size"/> slots
    /// (ceil(2^64 / size) modulo 2^64: for size 1 that wraps to 0, which still gives slot 0); 0 for an empty table.</summary>
    public static ulong FastModMultiplier(int size) => size <= 0 ? 0 : ulong.MaxValue / (uint)size + 1;

    public static bool IsPrime(int n)
    {
        if (n < 2) return false;
        if (n % 2 == 0) return n == 2;
        for (int d = 3; (long)d * d <= n; d += 2) if (n % d == 0) return false;
        return true;
    }

    /// <summary>
    /// Builds a table of <paramref name="size"/> (prime) slots holding backend ids. Returns an empty
    /// array when no backend has a positive weight. Input order does not matter: backends are
    /// ordered by key first, so every balancer with the same backends builds the same table.
    /// </summary>
    public static int[] Build(ReadOnlySpan<MaglevBackend> backends, int size = DefaultSize)
    {
        if (!IsPrime(size)) throw new ArgumentException($"Maglev table size {size} is not prime", nameof(size));
        var list = new List<MaglevBackend>(backends.Length);
        foreach (var b in backends) if (b.Weight > 0) list.Add(b);
        if (list.Count == 0) return [];
        // List.Sort is unstable: break ties on Id so that backends sharing a key (a configuration
        // mistake, but not one the dataplane can refuse) still give a table independent of input order.
        list.Sort(static (x, y) =>
        {
            int c = string.CompareOrdinal(x.Key, y.Key);
            return c != 0 ? c : x.Id.CompareTo(y.Id);
        });

        int n = list.Count;
        // Per backend: its current permutation slot (offset + skip * k) mod size, advanced by adding skip
        // (skip < size, so one conditional subtraction replaces the modulo), the skip, its weight and its
        // next turn. Same slots as the paper's formula, without a 64-bit division per probe.
        var pos = new int[n];
        var skip = new int[n];
        var weight = new ulong[n];
        var target = new ulong[n];
        ulong maxWeight = 0;
        for (int i = 0; i < n; i++)
        {
            pos[i] = (int)(FlowHash.Stable(list[i].Key, 0x5EED0001) % (ulong)size);
            skip[i] = (int)(FlowHash.Stable(list[i].Key, 0x5EED0002) % (ulong)(size - 1) + 1);
            weight[i] = list[i].Weight;
            maxWeight = Math.Max(maxWeight, weight[i]);
        }
        var ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = list[i].Id;

        var table = new int[size];
        Array.Fill(table, -1);
        int filled = 0;
        for (ulong round = 1; filled < size; round++)
        {
            for (int i = 0; i < n && filled < size; i++)
            {
                // A backend of weight w is picked when round * w has caught up with its target,
                // i.e. once every max/w rounds.
                if (round * weight[i] < target[i]) continue;
                target[i] += maxWeight;
                int c = pos[i], s = skip[i];
                while (table[c] >= 0) { c += s; if (c >= size) c -= size; }
                table[c] = ids[i];
                c += s; if (c >= size) c -= size;
                pos[i] = c;
                filled++;
            }
        }
        return table;
    }
}
