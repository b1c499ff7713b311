using System.Runtime.CompilerServices;

namespace Switchyard.Dataplane.Datapath.Steering;

/// <summary>
/// Katran-style flood guard for one worker (<c>Dataplane.FloodGuardNewFlowsPerSecond</c>): counts the new
/// flows the worker would pin in the current one-second window; above the limit, new flows are still
/// steered by Maglev (the same backend a pin would name, while the backend set stands) but not inserted,
/// so a flood of new 5-tuples (a SYN flood, new UDP flows) cannot evict the entries of established flows from the
/// flow table. MP_JOIN SYNs are not limited here (a join's later segments carry no token: an unpinned join would lose
/// its backend); their pins, like every SYN's, live only for the pool's HandshakeTimeoutSeconds until the subflow's
/// first non-SYN segment, so the table evicts flood pins before established flows (PoolEntry.HandshakeIdleTicks). Flows let through unpinned are counted
/// (<see cref="GlobalCounter.FloodGuardUnpinned"/>). Limit 0 = off (every new flow is pinned). Only the
/// worker that owns it touches it: plain fields, no atomics.
/// </summary>
public sealed class FloodGuard
{
    const uint WindowTicks = 1000; // DataplaneClock ticks are milliseconds

    uint _windowStart;
    int _inWindow;

    /// <summary>New flows per second (per worker) that are still pinned; 0 = off.</summary>
    public int Limit { get; set; }

    /// <summary>Whether a new flow seen at <paramref name="now"/> may be pinned (and counts it if so).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool MayPin(uint now)
    {
        if (Limit <= 0) return true;
        if (now - _windowStart >= WindowTicks)
        {
            _windowStart = now;
            _inWindow = 0;
        }
        if (_inWindow >= Limit) return false;
        _inWindow++;
        return true;
    }
}
