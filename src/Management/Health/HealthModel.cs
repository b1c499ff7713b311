using System.Net;
using Switchyard.Dataplane.Control;

namespace Switchyard.Management.Health;

/// <summary>
/// A change of a backend's effective state (what routing should do), after the pool's all-down policy.
/// The coordinator hands it to ControlPlane.SetHealth(Pool, Backend, Up, Reason).
/// </summary>
public sealed record HealthTransition(string Pool, string Backend, bool Up, string Reason);

/// <summary>One backend's check state and counters (the read model for metrics and `status`). Up is what the probes
/// say (after rise/fall); EffectiveUp is what routing is told: Up, or up anyway while the pool fails open.</summary>
public sealed record BackendHealthStatus(
    string Pool, string Backend, string Target, string Type,
    bool Up, bool EffectiveUp,
    int ConsecutiveSuccesses, int ConsecutiveFailures, string LastReason,
    long ProbesSent, long ProbesSucceeded, long ProbesFailed, long Transitions, DateTime? LastTransitionUtc);

/// <summary>One checked pool: its all-down policy and how often every backend was down at once.</summary>
public sealed record PoolHealthStatus(string Pool, string AllDownPolicy, bool AllDown, long AllDownEvents, int BackendsUp, int Backends);

/// <summary>A probe's verdict; Reason says why it failed ("connect refused", "timeout 500 ms", "HTTP 503") or what succeeded.</summary>
public readonly record struct ProbeOutcome(bool Success, string Reason)
{
    public static ProbeOutcome Ok(string what) => new(true, what);
    public static ProbeOutcome Fail(string why) => new(false, why);
}

/// <summary>Everything one probe needs, resolved from the options (immutable; a reload swaps it).</summary>
public sealed record ProbeSpec(
    string Type, IPAddress Backend, int Port, int TimeoutMs, IPAddress? Source,
    string Path = "/", int ExpectStatus = 200, string? Host = null,
    ForwardingMode Mode = ForwardingMode.L2Dsr, int GuePort = 6080, IPAddress? Vip = null)
{
    /// <summary>"198.18.0.21:80", "[2001:db8::21]:80", or for encap "198.18.0.100:80 via ipip to 198.18.0.21".</summary>
    public string Describe() => Type == "encap"
        ? $"{new IPEndPoint(Vip!, Port)} via {Mode.ToString().ToLowerInvariant()} to {Backend}"
        : new IPEndPoint(Backend, Port).ToString();
}

/// <summary>Runs one probe to completion (success, failure or timeout); never throws except on cancellation.</summary>
public interface IHealthProber : IDisposable
{
    Task<ProbeOutcome> ProbeAsync(ProbeSpec spec, CancellationToken ct);
}

/// <summary>
/// Rise/fall hysteresis for one backend, on plain memory (no clock): <see cref="Record"/> takes one probe result
/// and says whether the state flipped. Down after <c>fall</c> consecutive failures while up; up after <c>rise</c>
/// consecutive successes while down. A result that agrees with the state resets the opposite streak.
/// </summary>
public sealed class RiseFall
{
    public bool Up { get; private set; }
    public int Successes { get; private set; }   // consecutive
    public int Failures { get; private set; }    // consecutive

    public RiseFall(bool initiallyUp) => Up = initiallyUp;

    /// <returns>true when this result changed <see cref="Up"/>.</returns>
    public bool Record(bool success, int rise, int fall)
    {
        if (success) { Successes++; Failures = 0; }
        else { Failures++; Successes = 0; }
        if (Up && Failures >= fall) { Up = false; return true; }
        if (!Up && Successes >= rise) { Up = true; return true; }
        return false;
    }
}
