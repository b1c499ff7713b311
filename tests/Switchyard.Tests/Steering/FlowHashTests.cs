using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering;

namespace Switchyard.Tests.Steering;

public sealed class FlowHashTests
{
    static readonly Addr128 Client4 = Addr128.Parse("198.51.100.7");
    static readonly Addr128 Vip4 = Addr128.Parse("203.0.113.10");
    static readonly Addr128 Client6 = Addr128.Parse("2001:db8::7");
    static readonly Addr128 Vip6 = Addr128.Parse("2001:db8:1::10");

    [Fact]
    public void Same_tuple_and_seed_give_the_same_hash()
    {
        Assert.Equal(FlowHash.FiveTuple(Client4, Vip4, 40000, 443, 6, 1), FlowHash.FiveTuple(Client4, Vip4, 40000, 443, 6, 1));
        // Recorded from one run: the hash must not change between runs, machines or releases
        // (balancers behind one ECMP group must agree), and must not depend on hardware CRC support.
        Assert.Equal(ExpectedV4, FlowHash.FiveTuple(Client4, Vip4, 40000, 443, 6, 1));
        Assert.Equal(ExpectedStable, FlowHash.Stable("backend-1", 0));
    }

    const ulong ExpectedV4 = 0x3866B9ECBBA13CEAUL, ExpectedStable = 0xEFE7CA5B895E9A23UL;

    [Fact]
    public void One_chain_form_equals_two_chains_with_their_own_seeds()
    {
        // The hash runs one CRC chain and derives the second seed's chain by linearity; the definition is two chains.
        static ulong Reference(Addr128 s, Addr128 d, ushort sp, ushort dp, byte proto, uint seed)
        {
            ulong ports = (ulong)sp << 32 | (ulong)dp << 16 | proto;
            static uint Half(uint c, Addr128 s, Addr128 d, ulong ports)
            {
                c = System.Numerics.BitOperations.Crc32C(c, s.Hi); c = System.Numerics.BitOperations.Crc32C(c, s.Lo);
                c = System.Numerics.BitOperations.Crc32C(c, d.Hi); c = System.Numerics.BitOperations.Crc32C(c, d.Lo);
                c = System.Numerics.BitOperations.Crc32C(c, ports);
                c ^= c >> 16; c *= 0x85EBCA6B; c ^= c >> 13; c *= 0xC2B2AE35; c ^= c >> 16;
                return c;
            }
            return (ulong)Half(seed ^ 0x9E3779B9, s, d, ports) << 32 | Half(seed, s, d, ports);
        }
        var rng = new Random(5);
        for (int i = 0; i < 20000; i++)
        {
            var s = new Addr128((ulong)rng.NextInt64(), (ulong)rng.NextInt64());
            var d = i % 2 == 0 ? Addr128.FromV4((uint)rng.Next()) : new Addr128((ulong)rng.NextInt64(), (ulong)rng.NextInt64());
            ushort sp = (ushort)rng.Next(65536), dp = (ushort)rng.Next(65536);
            byte proto = (byte)rng.Next(256);
            uint seed = (uint)rng.NextInt64();
            Assert.Equal(Reference(s, d, sp, dp, proto, seed), FlowHash.FiveTuple(s, d, sp, dp, proto, seed));
        }
    }

    [Fact]
    public void Seed_changes_the_hash()
        => Assert.NotEqual(FlowHash.FiveTuple(Client4, Vip4, 40000, 443, 6, 1), FlowHash.FiveTuple(Client4, Vip4, 40000, 443, 6, 2));

    [Fact]
    public void Each_tuple_field_changes_the_hash()
    {
        ulong h = FlowHash.FiveTuple(Client4, Vip4, 40000, 443, 6, 1);
        Assert.NotEqual(h, FlowHash.FiveTuple(Vip4, Client4, 40000, 443, 6, 1));
        Assert.NotEqual(h, FlowHash.FiveTuple(Client4, Vip4, 40001, 443, 6, 1));
        Assert.NotEqual(h, FlowHash.FiveTuple(Client4, Vip4, 40000, 444, 6, 1));
        Assert.NotEqual(h, FlowHash.FiveTuple(Client4, Vip4, 40000, 443, 17, 1));
        Assert.NotEqual(h, FlowHash.ThreeTuple(Client4, Vip4, 6, 1));
    }

    [Fact]
    public void IPv4_and_IPv6_tuples_hash_differently()
    {
        ulong v4 = FlowHash.FiveTuple(Client4, Vip4, 40000, 443, 6, 1);
        ulong v6 = FlowHash.FiveTuple(Client6, Vip6, 40000, 443, 6, 1);
        Assert.NotEqual(v4, v6);
        Assert.NotEqual((uint)v4, (uint)v6);
        Assert.NotEqual(v4 >> 32, v6 >> 32);
    }

    [Fact]
    public void Both_halves_of_the_hash_differ()
    {
        // The halves are two CRCs with different seeds; equal halves would halve the key's entropy.
        ulong h = FlowHash.FiveTuple(Client6, Vip6, 1, 2, 17, 9);
        Assert.NotEqual((uint)h, (uint)(h >> 32));
    }

    // Chi-square with 1023 degrees of freedom: mean 1023, standard deviation sqrt(2046) ~ 45.
    // 1023 + 6 sd ~ 1300 fails a uniform hash with probability ~1e-9 and catches any real skew.
    const double ChiSquareBound = 1300;

    static double ChiSquare(int[] bins, int samples)
    {
        double expected = (double)samples / bins.Length, chi = 0;
        foreach (int b in bins) chi += (b - expected) * (b - expected) / expected;
        return chi;
    }

    [Fact]
    public void Random_flows_spread_evenly_over_maglev_slots()
    {
        const int Samples = 1_000_000, Bins = 1024, Size = Maglev.DefaultSize;
        var rng = new Random(11);
        var bins = new int[Bins];
        for (int i = 0; i < Samples; i++)
        {
            var src = Addr128.FromV4((uint)rng.Next());
            ulong h = FlowHash.FiveTuple(src, Vip4, (ushort)rng.Next(1024, 65536), 443, 6, 7);
            // Contiguous ranges of slots per bin: bin sizes differ by at most one slot in 64.
            bins[(long)Maglev.Slot(h, Size) * Bins / Size]++;
        }
        double chi = ChiSquare(bins, Samples);
        Assert.True(chi < ChiSquareBound, $"chi-square {chi:F0}");
    }

    [Fact]
    public void Nearby_flows_of_one_client_spread_evenly_over_slots_and_buckets()
    {
        // The realistic worst case for a linear CRC: one client, consecutive source ports.
        const int Samples = 1_000_000, Bins = 1024, Size = Maglev.DefaultSize;
        var slotBins = new int[Bins];
        var bucketBins = new int[Bins];
        for (int i = 0; i < Samples; i++)
        {
            var src = Addr128.FromV4(0xC633_6400u + (uint)(i >> 16));
            ulong h = FlowHash.FiveTuple(src, Vip6, (ushort)i, 443, 6, 7);
            slotBins[(long)Maglev.Slot(h, Size) * Bins / Size]++;
            bucketBins[(h >> 32) & (Bins - 1)]++; // the flow table's bucket bits
        }
        Assert.True(ChiSquare(slotBins, Samples) < ChiSquareBound, $"slots: chi-square {ChiSquare(slotBins, Samples):F0}");
        Assert.True(ChiSquare(bucketBins, Samples) < ChiSquareBound, $"buckets: chi-square {ChiSquare(bucketBins, Samples):F0}");
    }
}
