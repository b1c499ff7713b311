using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Switchyard.Management.Health;
using Switchyard.Management.Options;

namespace Switchyard.Tests.Health;

/// <summary>A prober whose results the test hands out one at a time, per backend address: a probe waits until the
/// test gives its result. With <see cref="NoDelay"/> the checker never sleeps, so counts, not wall-clock, drive a test.</summary>
sealed class ScriptedProber : IHealthProber
{
    readonly ConcurrentDictionary<IPAddress, Channel<ProbeOutcome>> _queues = new();
    public ConcurrentQueue<ProbeSpec> Seen { get; } = new();

    Channel<ProbeOutcome> Queue(IPAddress a) => _queues.GetOrAdd(a, _ => Channel.CreateUnbounded<ProbeOutcome>());

    public void Give(string backend, params bool[] results)
    {
        foreach (var ok in results)
            Queue(IPAddress.Parse(backend)).Writer.TryWrite(ok ? ProbeOutcome.Ok("scripted ok") : ProbeOutcome.Fail("scripted failure"));
    }

    public async Task<ProbeOutcome> ProbeAsync(ProbeSpec spec, CancellationToken ct)
    {
        Seen.Enqueue(spec);
        return await Queue(spec.Backend).Reader.ReadAsync(ct);
    }

    public bool Disposed { get; private set; }
    public void Dispose() => Disposed = true;

    public static readonly HealthChecker.DelayFunc NoDelay = (_, ct) => ct.IsCancellationRequested ? Task.FromCanceled(ct) : Task.CompletedTask;
}

static class HealthFixtures
{
    /// <summary>Waits (polling) for a condition the checker reaches asynchronously; fails with the message after 10 s.
    /// Nothing asserts on how long it took.</summary>
    public static void WaitUntil(Func<bool> condition, string what, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"timed out waiting for: {what}");
            Thread.Sleep(5);
        }
    }

    /// <summary>A pool "web" (VIP 192.0.2.100:80) with backends 10.0.0.1..n, checked with the given type.</summary>
    public static ApplianceOptions Options(int backends = 3, int rise = 2, int fall = 3, string policy = "fail-open",
        string type = "tcp", string initial = "up", string forwarding = "l2dsr")
    {
        return new ApplianceOptions
        {
            Pools =
            [
                new PoolOptions
                {
                    Name = "web", Forwarding = OptionNames.Forwarding.Parse(forwarding), AllDownPolicy = OptionNames.AllDown.Parse(policy),
                    HealthCheck = new HealthCheckOptions { Type = type, Rise = rise, Fall = fall, Initial = initial, IntervalMs = 100, TimeoutMs = 50 },
                    Backends = Enumerable.Range(1, backends).Select(i => new BackendOptions { Name = $"b{i}", Address = $"10.0.0.{i}" }).ToArray(),
                },
            ],
            Vips = [new VipOptions { Name = "http", Address = "192.0.2.100", Port = 80, Pool = "web" }],
        };
    }

    public static BackendHealthStatus Status(HealthChecker c, string backend) => c.Backends().Single(b => b.Backend == backend);

    /// <summary>Probe results applied so far for a backend.</summary>
    public static long Applied(HealthChecker c, string backend) { var s = Status(c, backend); return s.ProbesSucceeded + s.ProbesFailed; }
}
