using System.Diagnostics;

namespace Switchyard.Dataplane.Datapath.Worker;

/// <summary>
/// The packet path's time: milliseconds since one process-wide epoch, as a wrapping uint ("ticks").
/// Every worker uses the same epoch so ticks written by one worker can be compared by another.
/// </summary>
public static class DataplaneClock
{
    public static readonly long Epoch = Stopwatch.GetTimestamp();

    /// <summary>Current tick (ms since the epoch, wrapping after ~49.7 days; compare with wrap-around arithmetic).</summary>
    public static uint Now => (uint)((Stopwatch.GetTimestamp() - Epoch) * 1000 / Stopwatch.Frequency);
}
