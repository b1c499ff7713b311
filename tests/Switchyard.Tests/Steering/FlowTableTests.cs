using Switchyard.Dataplane.Datapath.Steering;

namespace Switchyard.Tests.Steering;

public sealed class FlowTableTests
{
    const uint Idle = 1000; // ms

    [Fact]
    public void Capacity_is_rounded_up_to_a_power_of_two_of_four_entry_buckets()
    {
        using var t1 = new FlowTable(1);
        using var t5 = new FlowTable(5);
        using var t1000 = new FlowTable(1000);
        Assert.Equal(4, t1.Capacity);
        Assert.Equal(8, t5.Capacity);
        Assert.Equal(1024, t1000.Capacity);
    }

    [Fact]
    public void Lookup_of_an_absent_key_misses()
    {
        using var t = new FlowTable(64);
        Assert.Equal(FlowLookup.Miss, t.Lookup(0x1234_5678_9ABC_DEF0, 10, Idle, out uint v));
        Assert.Equal(0u, v);
    }

    [Fact]
    public void Inserted_key_is_found_with_its_value()
    {
        using var t = new FlowTable(64);
        Assert.Equal(FlowInsert.Inserted, t.Insert(42, 7, 10, Idle));
        Assert.Equal(FlowLookup.Hit, t.Lookup(42, 20, Idle, out uint v));
        Assert.Equal(7u, v);
        Assert.Equal(1, t.Count(20));
    }

    [Fact]
    public void Keys_differing_only_in_one_half_of_the_hash_are_distinct()
    {
        using var t = new FlowTable(64);
        // Same high half (same bucket), different low half; and the reverse.
        t.Insert(0xAAAA_0000_0000_0001, 1, 0, Idle);
        t.Insert(0xAAAA_0000_0000_0002, 2, 0, Idle);
        Assert.Equal(FlowLookup.Hit, t.Lookup(0xAAAA_0000_0000_0001, 1, Idle, out uint v1));
        Assert.Equal(FlowLookup.Hit, t.Lookup(0xAAAA_0000_0000_0002, 1, Idle, out uint v2));
        Assert.Equal(FlowLookup.Miss, t.Lookup(0xAAAA_0000_0000_0003, 1, Idle, out _));
        Assert.Equal((1u, 2u), (v1, v2));
    }

    [Fact]
    public void Signature_zero_is_a_valid_key()
    {
        using var t = new FlowTable(16);
        Assert.Equal(FlowLookup.Miss, t.Lookup(0, 5, Idle, out _));
        Assert.Equal(FlowInsert.Inserted, t.Insert(0, 99, 5, Idle));
        Assert.Equal(FlowLookup.Hit, t.Lookup(0, 6, Idle, out uint v));
        Assert.Equal(99u, v);
        Assert.True(t.Remove(0));
        Assert.Equal(FlowLookup.Miss, t.Lookup(0, 7, Idle, out _));
    }

    [Fact]
    public void Inserting_an_existing_key_updates_it_in_place()
    {
        using var t = new FlowTable(64);
        t.Insert(42, 7, 10, Idle);
        Assert.Equal(FlowInsert.Updated, t.Insert(42, 8, 11, Idle));
        Assert.Equal(FlowLookup.Hit, t.Lookup(42, 12, Idle, out uint v));
        Assert.Equal(8u, v);
        Assert.Equal(1, t.Count(12));
    }

    [Fact]
    public void Entry_expires_after_idle_ticks_without_a_hit()
    {
        using var t = new FlowTable(64);
        t.Insert(42, 7, 100, Idle);
        Assert.Equal(FlowLookup.Hit, t.Lookup(42, 100 + Idle - 1, Idle, out _));      // refreshed to 2099
        Assert.Equal(FlowLookup.Hit, t.Lookup(42, 100 + 2 * Idle - 2, Idle, out _));  // refreshed to 3098
        Assert.Equal(FlowLookup.Miss, t.Lookup(42, 100 + 3 * Idle - 2, Idle, out _)); // exactly at expiry
        Assert.Equal(0, t.Count(0));                                                  // lazily cleared
    }

    [Fact]
    public void Reinserting_an_expired_key_reports_inserted()
    {
        using var t = new FlowTable(64);
        t.Insert(42, 7, 0, Idle);
        Assert.Equal(FlowInsert.Inserted, t.Insert(42, 8, Idle + 5, Idle));
        Assert.Equal(FlowLookup.Hit, t.Lookup(42, Idle + 6, Idle, out uint v));
        Assert.Equal(8u, v);
        Assert.Equal(1, t.Count(Idle + 6));
    }

    [Fact]
    public void Expiry_works_across_the_wrap_of_the_tick_counter()
    {
        using var t = new FlowTable(64);
        uint now = uint.MaxValue - 10;
        t.Insert(42, 7, now, Idle);                                     // expires at 989 after the wrap
        Assert.Equal(FlowLookup.Hit, t.Lookup(42, 500, 20, out _));     // after the wrap, still live; now expires at 520
        Assert.Equal(FlowLookup.Hit, t.Lookup(42, 519, 20, out _));
        Assert.Equal(FlowLookup.Miss, t.Lookup(42, 540, 20, out _));
    }

    [Fact]
    public void Entry_whose_expiry_lands_on_zero_is_still_live()
    {
        using var t = new FlowTable(64);
        uint now = unchecked(0u - Idle); // now + Idle == 0, the "empty" marker
        Assert.Equal(FlowInsert.Inserted, t.Insert(42, 7, now, Idle));
        Assert.Equal(1, t.Count(now + Idle - 1));
        Assert.Equal(FlowLookup.Hit, t.Lookup(42, now + Idle - 1, Idle, out uint v));
        Assert.Equal(7u, v);
    }

    [Fact]
    public void Remove_deletes_only_the_given_key()
    {
        using var t = new FlowTable(64);
        t.Insert(1, 1, 0, Idle);
        t.Insert(2, 2, 0, Idle);
        Assert.True(t.Remove(1));
        Assert.False(t.Remove(1));
        Assert.Equal(FlowLookup.Miss, t.Lookup(1, 1, Idle, out _));
        Assert.Equal(FlowLookup.Hit, t.Lookup(2, 1, Idle, out _));
    }

    [Fact]
    public void Full_bucket_evicts_the_entry_expiring_soonest()
    {
        using var t = new FlowTable(4); // one bucket: every key shares it
        t.Insert(1, 1, 0, 500);
        t.Insert(2, 2, 0, 300);  // soonest
        t.Insert(3, 3, 0, 900);
        t.Insert(4, 4, 0, 700);
        Assert.Equal(FlowInsert.Replaced, t.Insert(5, 5, 10, Idle));
        Assert.Equal(FlowLookup.Miss, t.Lookup(2, 11, Idle, out _));
        foreach (ulong k in new ulong[] { 1, 3, 4, 5 })
        {
            Assert.Equal(FlowLookup.Hit, t.Lookup(k, 11, Idle, out uint v));
            Assert.Equal((uint)k, v);
        }
    }

    [Fact]
    public void Full_bucket_prefers_an_expired_slot_over_eviction()
    {
        using var t = new FlowTable(4);
        t.Insert(1, 1, 0, 500);
        t.Insert(2, 2, 0, 50);
        t.Insert(3, 3, 0, 900);
        t.Insert(4, 4, 0, 700);
        Assert.Equal(FlowInsert.Inserted, t.Insert(5, 5, 100, Idle)); // key 2 has expired
        Assert.Equal(4, t.Count(101));
    }

    [Fact]
    public void Table_filled_beyond_capacity_keeps_working_and_evicts_the_soonest_expiring()
    {
        using var t = new FlowTable(64);
        var rng = new Random(1);
        var expiry = new Dictionary<ulong, uint>();
        int replaced = 0;
        // Ten times the capacity, each key with its own idle time, inserted over increasing time.
        for (uint i = 0; i < 640; i++)
        {
            ulong key = (ulong)rng.NextInt64();
            uint now = i;
            // Distinct expiries (now + idle = 2048 r + 2 i), so the victim is unambiguous.
            uint idle = (uint)rng.Next(100_000, 200_000) * 2048 + i;
            // Which live key of the bucket should go, if it comes to that: the one with least time left.
            var r = t.Insert(key, i, now, idle);
            if (r == FlowInsert.Replaced)
            {
                replaced++;
                var sameBucket = expiry.Where(kv => ((kv.Key >> 32) & (ulong)(t.BucketCount - 1)) == ((key >> 32) & (ulong)(t.BucketCount - 1)))
                                       .Where(kv => FlowTable.IsLive(kv.Value, now)).ToList();
                Assert.Equal(4, sameBucket.Count);
                var victim = sameBucket.MinBy(kv => (int)(kv.Value - now)).Key;
                expiry.Remove(victim);
                Assert.Equal(FlowLookup.Miss, t.Lookup(victim, now, 1, out _));
            }
            expiry[key] = now + idle;
            Assert.Equal(FlowLookup.Hit, t.Lookup(key, now, idle, out uint v));
            Assert.Equal(i, v);
        }
        Assert.True(replaced >= 640 - 64, $"expected evictions once full, got {replaced}");
        Assert.Equal(64, t.Count(640)); // every slot live
        foreach (var (k, _) in expiry)
            Assert.Equal(FlowLookup.Hit, t.Lookup(k, 640, 1000, out _));
    }

    [Fact]
    public void Lookup_insert_and_remove_allocate_nothing()
    {
        using var t = new FlowTable(1 << 12);
        void Run(uint start)
        {
            for (uint i = 0; i < 100_000; i++)
            {
                ulong k = (ulong)i * 0x9E3779B97F4A7C15UL;
                t.Prefetch(k);
                if (t.Lookup(k, start + i, Idle, out _) == FlowLookup.Miss) t.Insert(k, i, start + i, Idle);
                if ((i & 7) == 0) t.Remove(k);
            }
            t.Count(start);
            t.ExpireSome(start, 16);
        }
        Run(0); // JIT and tiering first
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(200_000);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, after - before);
    }

    [Fact]
    public void ExpireSome_clears_only_expired_entries()
    {
        using var t = new FlowTable(64);
        t.Insert(1, 1, 0, 10);
        t.Insert(2, 2, 0, 1000);
        Assert.Equal(1, t.ExpireSome(500, t.BucketCount));
        Assert.Equal(1, t.Count(500));
        Assert.Equal(FlowLookup.Hit, t.Lookup(2, 500, Idle, out _));
    }

    [Fact]
    public void Insert_at_a_lookups_probe_leaves_the_table_as_a_lookup_then_an_insert_does()
    {
        // Two tables, one random stream of lookups, each followed half the time by an insert of its key: through the
        // lookup's probe in one table, a fresh Insert / InsertShortLived in the other. Same outcomes, same bytes.
        foreach (bool vector in new[] { true, false })
        {
            using var pt = new FlowTable(32);
            using var it = new FlowTable(32);
            var rng = new Random(11);
            var keys = new ulong[100];
            for (int i = 0; i < keys.Length; i++) keys[i] = (ulong)rng.NextInt64();
            uint now = uint.MaxValue - 50_000;
            var seen = new HashSet<FlowInsert>();
            for (int op = 0; op < 100_000; op++)
            {
                now += (uint)rng.Next(0, 3);
                ulong k = keys[rng.Next(keys.Length)];
                uint idle = (uint)rng.Next(1, 400);
                var a = vector ? pt.LookupCore<FlowTable.VectorMatcher>(k, now, idle, out uint va, out FlowProbe probe)
                               : pt.LookupCore<FlowTable.ScalarMatcher>(k, now, idle, out va, out probe);
                var b = vector ? it.LookupCore<FlowTable.VectorMatcher>(k, now, idle, out uint vb)
                               : it.LookupCore<FlowTable.ScalarMatcher>(k, now, idle, out vb);
                Assert.Equal(a, b); Assert.Equal(va, vb);
                if (rng.Next(2) == 0)
                {
                    bool shortLived = rng.Next(2) == 0;
                    uint val = (uint)op, insIdle = (uint)rng.Next(1, 400);
                    var x = pt.InsertAt(in probe, k, val, now, insIdle, shortLived);
                    var y = vector ? it.InsertCore<FlowTable.VectorMatcher>(k, val, now, insIdle, shortLived)
                                   : it.InsertCore<FlowTable.ScalarMatcher>(k, val, now, insIdle, shortLived);
                    Assert.Equal(y, x);
                    seen.Add(x);
                }
                Assert.True(pt.RawBytes.SequenceEqual(it.RawBytes), $"tables differ after operation {op}");
            }
            Assert.Equal(4, seen.Count); // Inserted, Updated, Replaced and Refused all happened
        }
    }

    [Fact]
    public void Vector_and_scalar_matchers_agree_on_every_operation()
    {
        // Same random operation stream against one table through each matcher; small table and a
        // small key space so that hits, updates, expiries and evictions are all frequent.
        using var vt = new FlowTable(32);
        using var st = new FlowTable(32);
        var rng = new Random(7);
        var keys = new ulong[100];
        for (int i = 0; i < keys.Length; i++) keys[i] = (ulong)rng.NextInt64() & (i % 10 == 0 ? 0xFFFF_FFFF_0000_0000UL : ulong.MaxValue);
        keys[0] = 0;
        uint now = uint.MaxValue - 50_000; // cross the wrap on the way
        var seen = new HashSet<string>();
        for (int op = 0; op < 200_000; op++)
        {
            now += (uint)rng.Next(0, 3);
            ulong k = keys[rng.Next(keys.Length)];
            uint idle = (uint)rng.Next(1, 400);
            switch (rng.Next(3))
            {
                case 0:
                    var a = vt.LookupCore<FlowTable.VectorMatcher>(k, now, idle, out uint va);
                    var b = st.LookupCore<FlowTable.ScalarMatcher>(k, now, idle, out uint vb);
                    Assert.Equal(a, b); Assert.Equal(va, vb);
                    seen.Add(a.ToString());
                    break;
                case 1:
                    uint val = (uint)op;
                    var x = vt.InsertCore<FlowTable.VectorMatcher>(k, val, now, idle);
                    var y = st.InsertCore<FlowTable.ScalarMatcher>(k, val, now, idle);
                    Assert.Equal(x, y);
                    seen.Add(x.ToString());
                    break;
                default:
                    Assert.Equal(vt.Remove(k), st.Remove(k));
                    break;
            }
        }
        Assert.Equal(vt.Count(now), st.Count(now));
        Assert.Superset(new HashSet<string> { "Hit", "Miss", "Inserted", "Updated", "Replaced" }, seen);
        Assert.Equal(5, seen.Count);
    }

    [Fact]
    public unsafe void Vector_and_scalar_matchers_agree_on_random_buckets()
    {
        var rng = new Random(3);
        uint[] pool = [0, 1, 0x8000_0000, 0xFFFF_FFFF, 12345];
        uint Pick() => rng.Next(3) == 0 ? pool[rng.Next(pool.Length)] : (uint)rng.Next();
        var aligned = (FlowTable.Bucket*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(64, 64);
        try
        {
            for (int n = 0; n < 100_000; n++)
            {
                for (int j = 0; j < 4; j++)
                {
                    aligned->SigA[j] = Pick(); aligned->SigB[j] = Pick();
                    aligned->Value[j] = Pick(); aligned->Expires[j] = Pick();
                }
                uint sa = rng.Next(2) == 0 ? aligned->SigA[rng.Next(4)] : Pick();
                uint sb = rng.Next(2) == 0 ? aligned->SigB[rng.Next(4)] : Pick();
                uint now = Pick();
                uint mv = FlowTable.VectorMatcher.Match(aligned, sa, sb, now, out uint lv);
                uint ms = FlowTable.ScalarMatcher.Match(aligned, sa, sb, now, out uint ls);
                Assert.Equal(ms, mv);
                Assert.Equal(ls, lv);
            }
        }
        finally { System.Runtime.InteropServices.NativeMemory.AlignedFree(aligned); }
    }

    [Fact]
    public void Bucket_is_one_cache_line()
    {
        Assert.Equal(64, System.Runtime.CompilerServices.Unsafe.SizeOf<FlowTable.Bucket>());
    }
}
