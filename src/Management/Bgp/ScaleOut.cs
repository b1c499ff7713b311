using System.Diagnostics;
using System.Text.Json.Nodes;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Dataplane.Native;
using Switchyard.Management.Control;
using Switchyard.Management.Options;

namespace Switchyard.Management.Bgp;

/// <summary>
/// The appliance's part in a scaled-out tier (issue 12), wired into <c>ApplianceHost</c> at a few points:
/// the exception path (tap + rings), the BGP announcer, the readiness sample it is fed each management tick
/// (workers alive and advancing, ports up, serving backends per VIP), `ctl appliance drain|undrain` and
/// the withdraw-then-hold-down sequence on SIGTERM.
/// </summary>
public sealed class ScaleOut : IDisposable
{
    readonly ApplianceOptions _o;
    readonly Action<string> _log;
    ExceptionPathService? _exception;
    BgpAnnouncer? _bgp;
    ControlPlane? _control;
    Func<IReadOnlyList<(long Quiescent, bool Exited)>>? _workers;
    IReadOnlyList<ushort> _ports = [];
    long[] _lastQuiescent = [];
    long[] _lastMoved = [];
    readonly Stopwatch _clock = Stopwatch.StartNew();
    long _lastSample = -1_000_000;
    string? _lastNotForwarding;

    public ScaleOut(ApplianceOptions o, Action<string> log) { _o = o; _log = log; }

    public ExceptionPathService? Exception => _exception;
    /// <summary>The cluster's learned-token exchange (issue 12, item 2), set by the host when Cluster.Enabled.</summary>
    public Cluster.TokenSync? TokenSync { get; set; }
    public BgpAnnouncer? Announcer => _bgp;
    public bool Enabled => _o.Bgp.Enabled || _o.ExceptionPath.Enabled;

    /// <summary>EAL arguments to append (the tap vdev, last so configured ports keep ids 0..n-1).</summary>
    public IEnumerable<string> EalArguments() => _o.ExceptionPath.Enabled ? [ExceptionPathService.VdevArgument(_o.ExceptionPath)] : [];

    /// <summary>DPDK ports this adds beyond Ports (the tap).</summary>
    public int ExtraPorts => _o.ExceptionPath.Enabled ? 1 : 0;

    /// <summary>After the data ports started: the tap port and the rings.</summary>
    public void SetUpPorts(Dictionary<string, int> portIndexes, Dictionary<string, ulong> portMacs, nint pool)
    {
        _ports = portIndexes.Values.Select(v => (ushort)v).ToArray();
        if (!_o.ExceptionPath.Enabled) return;
        var port = _o.Ports.First(p => p.Name == (_o.ExceptionPath.Port ?? _o.Ports[0].Name));
        _exception = new ExceptionPathService(_o.ExceptionPath, port, portMacs[port.Name], pool, _log);
    }

    /// <summary>The exception path's data port index (the port whose own addresses the tap serves).</summary>
    public byte DataPort(Dictionary<string, int> portIndexes) => (byte)portIndexes[_o.ExceptionPath.Port ?? _o.Ports[0].Name];

    /// <summary>Before a worker starts: its exception handoff and idle back-off.</summary>
    public void ConfigureWorker<T>(WorkerLoop<T> loop, int index, Dictionary<string, int> portIndexes) where T : struct, IPortIo
    {
        loop.IdleBackoffMicroseconds = _o.Dataplane.IdleBackoffMicroseconds;
        loop.IdleBackoffPolls = _o.Dataplane.IdleBackoffPolls;
        if (_exception is not null) loop.KernelHandoff = _exception.HandoffFor(index, DataPort(portIndexes));
    }

    /// <summary>After the workers started: the exception thread and the announcer.</summary>
    public void Start(ControlPlane control, Func<IReadOnlyList<(long Quiescent, bool Exited)>> workers)
    {
        _control = control;
        _workers = workers;
        _exception?.Start();
        if (_o.Bgp.Enabled)
        {
            _bgp = new BgpAnnouncer(_o, _log);
            Tick();
            _bgp.Start();
            _log($"bgp: announcing through gobgpd at {_o.Bgp.GrpcAddress}{(_o.Bgp.Daemon.Manage ? " (managed)" : "")} to " +
                 string.Join(", ", _o.Bgp.Neighbors.Select(n => $"{n.Address} AS {n.As}")));
        }
    }

    /// <summary>On the management thread, every loop (~20 ms): samples readiness every 100 ms.</summary>
    public void Tick()
    {
        if (_bgp is null || _control is null || _workers is null) return;
        long now = _clock.ElapsedMilliseconds;
        if (now - _lastSample < 100) return;
        _lastSample = now;
        var w = _workers();
        if (_lastQuiescent.Length != w.Count) { _lastQuiescent = new long[w.Count]; _lastMoved = Enumerable.Repeat(now, w.Count).ToArray(); }
        string? why = null;
        for (int i = 0; i < w.Count; i++)
        {
            if (w[i].Exited) { why ??= $"worker {i} exited"; continue; }
            if (w[i].Quiescent != _lastQuiescent[i]) { _lastQuiescent[i] = w[i].Quiescent; _lastMoved[i] = now; }
            else if (now - _lastMoved[i] >= _o.Bgp.StallMilliseconds) why ??= $"worker {i} stalled for {now - _lastMoved[i]} ms";
        }
        foreach (var p in _ports)
        {
            try { if (Dpdk.Link(p).Up == 0) why ??= $"port {p} link down"; }
            catch (DpdkException e) { why ??= $"port {p}: {e.Message}"; }
        }
        if (why != _lastNotForwarding)
        {
            if (why is not null) _log($"bgp: dataplane not forwarding ({why}): withdrawing");
            else if (_lastNotForwarding is not null) _log("bgp: dataplane forwarding again");
            _lastNotForwarding = why;
        }
        var running = _control.Running;
        var serving = _control.Backends().Where(b => b.State == BackendState.Active && b.Weight > 0)
            .GroupBy(b => b.Pool).ToDictionary(g => g.Key, g => g.Count());
        var vips = running.Vips.Select(v => new VipReadiness(v.Name, v.Address, serving.GetValueOrDefault(v.Pool), OptionsValidator.MinHealthyBackends(running, v))).ToList();
        _bgp.Update(new ApplianceReadiness(why is null, why, vips));
    }

    /// <summary>`ctl appliance drain` / `undrain`.</summary>
    public string SetDrained(bool drained)
    {
        if (_bgp is null) throw new InvalidOperationException("BGP is not enabled (Bgp.Enabled): there is nothing to withdraw");
        _bgp.Drained = drained;
        _log(drained ? "appliance drained by ctl: withdrawing every VIP, forwarding continues" : "appliance undrained by ctl: announcing again");
        return drained ? "appliance drained: VIPs withdrawn, forwarding continues for connections the routers still send"
                       : "appliance undrained: VIPs announced again where ready";
    }

    /// <summary>SIGTERM with BGP: withdraw, wait until gobgpd has withdrawn (at most 5 s), then keep forwarding for
    /// Bgp.DrainHoldDownSeconds while the routers move the traffic; returns when the ports may close.</summary>
    public void WithdrawAndHoldDown(Func<bool> abort)
    {
        if (_bgp is null) return;
        var sw = Stopwatch.StartNew();
        _bgp.BeginStopping();
        while (sw.Elapsed < TimeSpan.FromSeconds(5) && !WithdrawnNow() && !abort()) { Tick(); Thread.Sleep(20); }
        _log($"stopping: VIPs withdrawn after {sw.ElapsedMilliseconds} ms; forwarding for the hold-down of {_o.Bgp.DrainHoldDownSeconds} s");
        var hold = Stopwatch.StartNew();
        while (hold.Elapsed < TimeSpan.FromSeconds(_o.Bgp.DrainHoldDownSeconds) && !abort()) { _control?.Tick(); Thread.Sleep(20); }
    }

    bool WithdrawnNow()
    {
        var s = _bgp!.Status;
        return s.Mode == "stopping" && (s.Prefixes.All(p => !p.Announced) || !s.DaemonUp);
    }

    /// <summary>The `bgp` section of ctl, the counters JSON and /metrics.</summary>
    public JsonObject StatusJson()
    {
        var o = new JsonObject();
        var s = _bgp?.Status ?? BgpStatus.Off;
        o["enabled"] = s.Enabled;
        o["mode"] = s.Mode;
        o["daemon"] = s.Daemon;
        o["daemonUp"] = s.DaemonUp;
        o["daemonError"] = s.DaemonError;
        o["announcements"] = s.Announcements;
        o["withdrawals"] = s.Withdrawals;
        o["daemonErrors"] = s.DaemonErrors;
        o["lastChange"] = s.LastChange?.ToString("O");
        o["sessions"] = new JsonArray([.. s.Sessions.Select(x => (JsonNode)new JsonObject
        {
            ["neighbor"] = x.Neighbor, ["peerAs"] = x.PeerAs, ["state"] = x.State, ["since"] = x.Since?.ToString("O"),
            ["accepted"] = x.Accepted, ["advertised"] = x.Advertised,
        })]);
        o["prefixes"] = new JsonArray([.. s.Prefixes.Select(p => (JsonNode)new JsonObject
        {
            ["prefix"] = p.Prefix, ["nextHop"] = p.NextHop, ["announced"] = p.Announced, ["reason"] = p.Reason,
            ["vips"] = new JsonArray([.. p.Vips.Select(v => (JsonNode)JsonValue.Create(v)!)]),
        })]);
        if (_exception is { } x)
        {
            var c = x.Counters;
            o["exceptionPath"] = new JsonObject
            {
                ["interface"] = c.Interface, ["toKernel"] = c.ToKernel, ["fromKernel"] = c.FromKernel,
                ["fromKernelDropped"] = c.FromKernelDropped, ["tapTxDropped"] = c.TapTxDropped,
                ["ringToKernel"] = c.RingToKernel, ["ringFromKernel"] = c.RingFromKernel,
            };
        }
        return o;
    }

    /// <summary>Before the ports close and after the workers stopped.</summary>
    public void Dispose()
    {
        _bgp?.Dispose();
        _exception?.Dispose();
    }
}
