namespace Switchyard.Dataplane.Datapath.Steering;

/// <summary>
/// The result of a steering stage: a backend id (0 or more), or one of these negative outcomes for the
/// pipeline to finish the frame with.
/// </summary>
public static class Steered
{
    /// <summary>Already counted under its drop reason.</summary>
    public const int Dropped = -1;
    /// <summary>A join no mode could place: the Answers stage rejects it (RST + MP_TCPRST, or a drop).</summary>
    public const int RejectJoin = -2;
    /// <summary>A flow pinned to a gone backend under the "reset" policy: the Answers stage resets it.</summary>
    public const int ResetGoneFlow = -3;
}

/// <summary>
/// The steering pass's per-frame counts for one burst, kept in registers (a local of the pass, passed by reference to
/// the steering stages it inlines) and added to <see cref="WorkerCounters"/> once per burst by <see cref="Flush"/>.
/// Counted in the counter arrays per frame, each was a load, an add and a store on one address per frame, which the next
/// frame's count had to wait for; for a SYN or a join every one of them (stage stamps, every flow new: SYN steering 43.6
/// cycles per frame with them, 36.8 without any counter; a join's 49.8 against 39.1; with this tally 40.6-42.9 and
/// 40.6-42.1). Backends' counts stay per frame (a burst's new flows spread over the backends), and so do the rare ones
/// (refused pins, repins, the flood guard's, QUIC's).
/// </summary>
public struct SteerTally
{
    /// <summary><see cref="GlobalCounter.FlowHits"/>.</summary>
    public long Hits;
    /// <summary><see cref="GlobalCounter.FlowInserts"/>.</summary>
    public long Inserts;
    /// <summary><see cref="GlobalCounter.FlowEvictions"/>.</summary>
    public long Evictions;
    /// <summary><see cref="GlobalCounter.JoinsSeen"/>.</summary>
    public long Joins;
    /// <summary><see cref="GlobalCounter.JoinsByEncryptedToken"/>.</summary>
    public long JoinsByEncryptedToken;
    /// <summary>New flows on <see cref="NewFlowsVip"/> since it became the VIP of the run (<see cref="ServiceCounter.NewFlows"/>).</summary>
    public long NewFlows;
    /// <summary>The VIP of the current run of new flows (consecutive new flows nearly always share one); -1 = none yet.</summary>
    public int NewFlowsVip;

    public SteerTally() => NewFlowsVip = -1;

    /// <summary>A new flow on <paramref name="vip"/>: counted in the run, the previous run's VIP counted when it changes.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void NewFlow(WorkerCounters counters, int vip)
    {
        if (vip != NewFlowsVip)
        {
            if (NewFlows != 0) counters.AddVip(NewFlowsVip, ServiceCounter.NewFlows, NewFlows);
            NewFlowsVip = vip;
            NewFlows = 0;
        }
        NewFlows++;
    }

    /// <summary>Adds what was tallied to <paramref name="counters"/> (once per burst).</summary>
    public readonly void Flush(WorkerCounters counters)
    {
        if (Hits != 0) counters.Add(GlobalCounter.FlowHits, Hits);
        if (Inserts != 0) counters.Add(GlobalCounter.FlowInserts, Inserts);
        if (Evictions != 0) counters.Add(GlobalCounter.FlowEvictions, Evictions);
        if (Joins != 0) counters.Add(GlobalCounter.JoinsSeen, Joins);
        if (JoinsByEncryptedToken != 0) counters.Add(GlobalCounter.JoinsByEncryptedToken, JoinsByEncryptedToken);
        if (NewFlows != 0) counters.AddVip(NewFlowsVip, ServiceCounter.NewFlows, NewFlows);
    }
}
