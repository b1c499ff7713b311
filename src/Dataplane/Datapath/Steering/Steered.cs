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
