namespace Switchyard.Dataplane.Datapath.Worker;

/// <summary>
/// What a worker does with a received burst. Called once per non-empty burst on the worker thread;
/// it must fill <see cref="Burst.Delta"/>, <see cref="Burst.OutLength"/> and <see cref="Burst.OutPort"/>
/// for frames 0..<see cref="Burst.Count"/>-1 (<see cref="Burst.DropPort"/> = free the frame, after
/// counting why). Datapath rules apply: no allocation, logging, locks or syscalls.
/// </summary>
public interface IBurstHandler
{
    /// <param name="burst">The frames, as received.</param>
    /// <param name="rxPort">Port index the burst came from.</param>
    /// <param name="nowTicks">Milliseconds since the worker loop started (wraps after ~49 days).</param>
    void Process(Burst burst, byte rxPort, uint nowTicks);
}
