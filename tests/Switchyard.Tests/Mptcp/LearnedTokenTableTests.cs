using Switchyard.Dataplane.Datapath.Steering.Tokens;

namespace Switchyard.Tests.Mptcp;

public sealed class LearnedTokenTableTests
{
    const uint Idle = 1000; // ms
    const uint Seed = 0x5EED_1234;

    // A table of ProbeLimit slots: every token's probe window is the whole table, so tests can fill it.
    static LearnedTokenTable OneWindow() => new(LearnedTokenTable.ProbeLimit, Idle, Seed);

    [Fact]
    public void Capacity_is_a_power_of_two_of_at_least_one_probe_window()
    {
        using var t1 = new LearnedTokenTable(1, Idle, Seed);
        using var t9 = new LearnedTokenTable(9, Idle, Seed);
        using var t1000 = new LearnedTokenTable(1000, Idle, Seed);
        Assert.Equal(LearnedTokenTable.ProbeLimit, t1.Capacity);
        Assert.Equal(16, t9.Capacity);
        Assert.Equal(1024, t1000.Capacity);
    }

    [Fact]
    public void Lookup_of_an_unknown_token_is_not_found()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        Assert.Equal(TokenLookup.NotFound, t.Lookup(0xCD26_6215, 10, Idle, out uint b));
        Assert.Equal(0u, b);
    }

    [Fact]
    public void Learned_token_is_found_with_its_backend()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        Assert.Equal(LearnResult.Learned, t.Learn(0xCD26_6215, 7, 10));
        Assert.Equal(TokenLookup.Found, t.Lookup(0xCD26_6215, 20, Idle, out uint b));
        Assert.Equal(7u, b);
        Assert.Equal(1, t.Count(20, Idle));
        Assert.Equal(TokenLookup.NotFound, t.Lookup(0x6684_0DDA, 20, Idle, out _));
    }

    [Fact]
    public void Token_zero_and_the_largest_backend_id_are_ordinary_values()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        Assert.Equal(TokenLookup.NotFound, t.Lookup(0, 1, Idle, out _));
        Assert.Equal(LearnResult.Learned, t.Learn(0, LearnedTokenTable.MaxBackendId, 1));
        Assert.Equal(LearnResult.Learned, t.Learn(uint.MaxValue, 0, 1));
        Assert.Equal(TokenLookup.Found, t.Lookup(0, 2, Idle, out uint b0));
        Assert.Equal(TokenLookup.Found, t.Lookup(uint.MaxValue, 2, Idle, out uint bMax));
        Assert.Equal((LearnedTokenTable.MaxBackendId, 0u), (b0, bMax));
    }

    [Fact]
    public void Backend_id_wider_than_24_bits_is_a_programming_error()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Learn(1, LearnedTokenTable.MaxBackendId + 1, 0));
    }

    [Fact]
    public void Learning_the_same_token_for_the_same_backend_refreshes_it()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        Assert.Equal(LearnResult.Learned, t.Learn(42, 3, 0));
        Assert.Equal(LearnResult.Refreshed, t.Learn(42, 3, 900));
        // Idle is counted from the refresh at 900, not the learn at 0.
        Assert.Equal(TokenLookup.Found, t.Lookup(42, 1500, Idle, out uint b));
        Assert.Equal(3u, b);
        Assert.Equal(1, t.Count(1500, Idle));
    }

    [Fact]
    public void Found_join_lookup_refreshes_the_entry()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        t.Learn(42, 3, 0);
        Assert.Equal(TokenLookup.Found, t.Lookup(42, 800, Idle, out _));
        Assert.Equal(TokenLookup.Found, t.Lookup(42, 1600, Idle, out _));
        Assert.Equal(TokenLookup.Found, t.Lookup(42, 2400, Idle, out _));
    }

    [Fact]
    public void Token_learned_for_a_second_backend_becomes_collided_and_joins_are_unplaceable()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        Assert.Equal(LearnResult.Learned, t.Learn(42, 1, 0));
        Assert.Equal(LearnResult.Collision, t.Learn(42, 2, 10));
        Assert.Equal(1, t.Collisions);
        Assert.Equal(TokenLookup.Collided, t.Lookup(42, 20, Idle, out uint b));
        Assert.Equal(0u, b);
        // Either side learning again keeps it collided and is not a second collision.
        Assert.Equal(LearnResult.StillCollided, t.Learn(42, 1, 30));
        Assert.Equal(LearnResult.StillCollided, t.Learn(42, 2, 40));
        Assert.Equal(LearnResult.StillCollided, t.Learn(42, 3, 50));
        Assert.Equal(1, t.Collisions);
        Assert.Equal(TokenLookup.Collided, t.Lookup(42, 60, Idle, out _));
        Assert.Equal(1, t.Count(60, Idle));
    }

    [Fact]
    public void Collided_token_is_placeable_again_once_the_collision_expires()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        t.Learn(42, 1, 0);
        t.Learn(42, 2, 100);
        // Lookups do not refresh a collided entry; only learns do (the last at 100).
        Assert.Equal(TokenLookup.Collided, t.Lookup(42, 1000, Idle, out _));
        Assert.Equal(TokenLookup.Expired, t.Lookup(42, 1100, Idle, out _));
        Assert.Equal(TokenLookup.NotFound, t.Lookup(42, 1101, Idle, out _));
        Assert.Equal(LearnResult.Learned, t.Learn(42, 2, 1200));
        Assert.Equal(TokenLookup.Found, t.Lookup(42, 1201, Idle, out uint b));
        Assert.Equal(2u, b);
    }

    [Fact]
    public void Learn_over_an_expired_entry_of_another_backend_is_a_fresh_learn_not_a_collision()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        t.Learn(42, 1, 0);
        Assert.Equal(LearnResult.Learned, t.Learn(42, 2, 1000));
        Assert.Equal(0, t.Collisions);
        Assert.Equal(TokenLookup.Found, t.Lookup(42, 1001, Idle, out uint b));
        Assert.Equal(2u, b);
        Assert.Equal(1, t.Count(1001, Idle));
    }

    [Fact]
    public void Forget_removes_the_token_only_for_its_own_backend()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        t.Learn(42, 5, 0);
        Assert.False(t.Forget(42, 6));
        Assert.Equal(TokenLookup.Found, t.Lookup(42, 1, Idle, out _));
        Assert.True(t.Forget(42, 5));
        Assert.False(t.Forget(42, 5));
        Assert.Equal(TokenLookup.NotFound, t.Lookup(42, 2, Idle, out _));
        Assert.False(t.Forget(43, 5));
    }

    [Fact]
    public void Forget_by_one_side_leaves_a_collided_token_collided()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        t.Learn(42, 1, 0);
        t.Learn(42, 2, 0);
        Assert.False(t.Forget(42, 1));
        Assert.False(t.Forget(42, 2));
        Assert.Equal(TokenLookup.Collided, t.Lookup(42, 1, Idle, out _));
    }

    [Fact]
    public void Entry_expires_after_idle_ticks_and_the_lookup_reclaims_it()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        t.Learn(42, 5, 100);
        Assert.Equal(TokenLookup.Found, t.Lookup(42, 100 + Idle - 1, 2 * Idle, out _)); // a longer idle: alive
        Assert.Equal(1, t.Count(100 + Idle - 1, Idle));
        Assert.Equal(0, t.Count(2 * Idle + 100 - 1, Idle)); // refreshed at 1099, dead at 2099
        Assert.Equal(TokenLookup.Expired, t.Lookup(42, 2 * Idle + 99, Idle, out uint b));
        Assert.Equal(0u, b);
        Assert.Equal(TokenLookup.NotFound, t.Lookup(42, 2 * Idle + 99, Idle, out _));
    }

    [Fact]
    public void Expiry_counts_idle_time_across_the_tick_wrap_around()
    {
        using var t = new LearnedTokenTable(64, Idle, Seed);
        uint start = 0xFFFF_FF00; // 256 ms before the uint tick wraps (a variable: constants would not wrap)
        t.Learn(42, 5, start);
        Assert.Equal(TokenLookup.Found, t.Lookup(42, start + 600, Idle, out uint b)); // wrapped: 0x258
        Assert.Equal(5u, b);
        Assert.Equal(1, t.Count(start + 600 + Idle - 1, Idle));
        Assert.Equal(TokenLookup.Expired, t.Lookup(42, start + 600 + Idle, Idle, out _));
    }

    [Fact]
    public void Tick_slightly_behind_the_last_refresh_still_counts_as_fresh()
    {
        // Another worker may pass a "now" a little older than the one that wrote the tick.
        using var t = new LearnedTokenTable(64, Idle, Seed);
        t.Learn(42, 5, 500);
        Assert.Equal(TokenLookup.Found, t.Lookup(42, 499, Idle, out _));
        Assert.Equal(LearnResult.Refreshed, t.Learn(42, 5, 498));
        Assert.Equal(TokenLookup.Found, t.Lookup(42, 500 + Idle - 1, Idle, out _)); // tick was not moved back
    }

    [Fact]
    public void Full_window_of_live_entries_refuses_a_new_token_and_keeps_the_old_ones()
    {
        using var t = OneWindow();
        for (uint tok = 1; tok <= 8; tok++)
            Assert.Equal(LearnResult.Learned, t.Learn(tok, tok + 100, tok));
        Assert.Equal(LearnResult.Full, t.Learn(9, 109, 20));
        Assert.Equal(TokenLookup.NotFound, t.Lookup(9, 20, Idle, out _));
        for (uint tok = 1; tok <= 8; tok++)
        {
            Assert.Equal(TokenLookup.Found, t.Lookup(tok, 20, Idle, out uint b));
            Assert.Equal(tok + 100, b);
        }
        // A known token still refreshes in a full window.
        Assert.Equal(LearnResult.Refreshed, t.Learn(3, 103, 30));
    }

    [Fact]
    public void Full_window_evicts_the_longest_idle_expired_entry_for_a_new_token()
    {
        using var t = OneWindow();
        for (uint tok = 1; tok <= 8; tok++) t.Learn(tok, tok + 100, tok * 10); // token 1 is oldest
        // At 1020 tokens 1 (age 1010) and 2 (age 1000) are expired; token 1 has idled longest.
        Assert.Equal(LearnResult.Learned, t.Learn(9, 109, 1020));
        Assert.Equal(TokenLookup.NotFound, t.Lookup(1, 1020, 1_000_000, out _));
        Assert.Equal(TokenLookup.Found, t.Lookup(2, 1020, 1_000_000, out uint b2));
        Assert.Equal(TokenLookup.Found, t.Lookup(9, 1020, Idle, out uint b9));
        Assert.Equal((102u, 109u), (b2, b9));
    }

    [Fact]
    public void Forgotten_slot_is_reused_by_the_next_learn()
    {
        using var t = OneWindow();
        for (uint tok = 1; tok <= 8; tok++) t.Learn(tok, 1, 0);
        Assert.Equal(LearnResult.Full, t.Learn(9, 1, 0));
        Assert.True(t.Forget(4, 1));
        Assert.Equal(LearnResult.Learned, t.Learn(9, 1, 0));
        Assert.Equal(TokenLookup.Found, t.Lookup(9, 1, Idle, out _));
        Assert.Equal(8, t.Count(1, Idle));
    }

    [Fact]
    public void Lookups_still_find_tokens_behind_tombstones()
    {
        using var t = OneWindow();
        for (uint tok = 1; tok <= 8; tok++) t.Learn(tok, tok, 0);
        for (uint tok = 1; tok <= 7; tok++) Assert.True(t.Forget(tok, tok));
        Assert.Equal(TokenLookup.Found, t.Lookup(8, 1, Idle, out uint b));
        Assert.Equal(8u, b);
        Assert.Equal(TokenLookup.NotFound, t.Lookup(100, 1, Idle, out _));
        Assert.Equal(1, t.SlotsHolding(8));
    }

    [Fact]
    public void ExpireSome_sweeps_the_table_round_robin_and_retires_only_expired_entries()
    {
        using var t = new LearnedTokenTable(256, Idle, Seed);
        for (uint tok = 0; tok < 100; tok++) t.Learn(tok * 7919, 1, tok < 60 ? 0u : 500u);
        const uint now = 1200; // the first 60 are expired, the last 40 are not
        int retired = 0;
        for (int call = 0; call < t.Capacity / 32; call++) retired += t.ExpireSome(now, Idle, 32);
        Assert.Equal(60, retired);
        Assert.Equal(40, t.Count(now, Idle));
        Assert.Equal(0, t.ExpireSome(now, Idle, t.Capacity));
        for (uint tok = 0; tok < 100; tok++)
            Assert.Equal(tok < 60 ? TokenLookup.NotFound : TokenLookup.Found, t.Lookup(tok * 7919, now, Idle, out _));
    }

    [Fact]
    public void Every_operation_allocates_nothing()
    {
        using var t = new LearnedTokenTable(1024, Idle, Seed);
        void Run(uint round)
        {
            uint now = round * 10;
            for (uint tok = 0; tok < 200; tok++)
            {
                t.Learn(tok, tok & 0xFF, now);
                t.Learn(tok, tok & 0xFF, now);
                t.Learn(tok ^ 0x8000_0000, 1, now);
                t.Learn(tok ^ 0x8000_0000, 2, now);
                t.Lookup(tok, now, Idle, out _);
                t.Lookup(tok ^ 0x8000_0000, now, Idle, out _);
                t.Lookup(tok + 1_000_000, now, Idle, out _);
                t.Forget(tok, tok & 0xFF);
                t.Forget(tok ^ 0x8000_0000, 1);
            }
            t.ExpireSome(now + 5 * Idle, Idle, 64);
            t.Count(now, Idle);
        }
        for (uint r = 0; r < 3; r++) Run(r); // JIT and tiering first
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (uint r = 3; r < 20; r++) Run(r);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
