using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Switchyard.Bgp;
using Switchyard.Management.Options;

namespace Switchyard.Management.Bgp;

/// <summary>One VIP address as the announcer sees it: the services on it, each with its serving backends.</summary>
public sealed record VipReadiness(string Vip, string Address, int Serving, int MinHealthyBackends);

/// <summary>What the host knows about the dataplane, sampled on the management thread.</summary>
public sealed record ApplianceReadiness(bool Forwarding, string? NotForwardingReason, IReadOnlyList<VipReadiness> Vips);

/// <summary>One announced (or withheld) VIP address.</summary>
public sealed record PrefixStatus(string Prefix, string NextHop, bool Announced, string Reason, IReadOnlyList<string> Vips);

/// <summary>The announcer's published state (immutable; replaced as a whole).</summary>
public sealed record BgpStatus(
    bool Enabled, string Daemon, bool DaemonUp, string? DaemonError, string Mode,
    IReadOnlyList<BgpSession> Sessions, IReadOnlyList<PrefixStatus> Prefixes,
    long Announcements, long Withdrawals, long DaemonErrors, DateTimeOffset? LastChange)
{
    public static readonly BgpStatus Off = new(false, "", false, null, "off", [], [], 0, 0, 0, null);
}

/// <summary>
/// Announces each VIP address (/32, /128) through gobgpd while the appliance can serve it, and withdraws it
/// when it cannot: a VIP address is announced only while the dataplane forwards (every worker alive and
/// advancing, every port up), the appliance is not drained or stopping, and every VIP on that address has
/// at least its MinHealthyBackends serving backends (enabled, weight above 0, health up). Runs on its own
/// thread; the management thread hands it a readiness sample (<see cref="Update"/>) and never waits on gRPC.
/// gobgpd being absent or dying is reported (status, log, metrics) and retried; forwarding is unaffected.
/// After gobgpd comes back (a restart loses its RIB) the speaker is started and every route added again.
/// </summary>
public sealed class BgpAnnouncer : IDisposable
{
    readonly BgpOptions _o;
    readonly IPAddress? _nextHopV4, _nextHopV6;
    readonly Action<string> _log;
    readonly GobgpClient _client;
    readonly Thread _thread;
    readonly ManualResetEventSlim _wake = new(false);
    readonly ManagedGobgpd? _daemon;
    volatile bool _stop;
    volatile ApplianceReadiness? _readiness;
    volatile bool _drained;
    volatile bool _stopping;
    volatile BgpStatus _status;
    // Addresses believed announced in gobgpd (address -> next hop). Only the announcer thread touches it.
    readonly Dictionary<string, IPAddress> _announced = new();
    bool _speakerReady;
    long _announcements, _withdrawals, _daemonErrors;
    DateTimeOffset? _lastChange;
    string? _lastError;
    IReadOnlyList<BgpSession> _sessions = [];
    readonly Stopwatch _sinceSessions = new();

    public BgpAnnouncer(ApplianceOptions options, Action<string> log)
    {
        _o = options.Bgp;
        _nextHopV4 = OptionsValidator.NextHop(options, AddressFamily.InterNetwork);
        _nextHopV6 = OptionsValidator.NextHop(options, AddressFamily.InterNetworkV6);
        _log = log;
        _client = new GobgpClient(_o.GrpcAddress);
        if (_o.Daemon.Manage) _daemon = new ManagedGobgpd(_o.Daemon, _o.GrpcAddress, log);
        _status = BgpStatus.Off with { Enabled = true, Daemon = _o.GrpcAddress, Mode = "starting" };
        _thread = new Thread(Loop) { IsBackground = true, Name = "sy-bgp" };
    }

    public BgpStatus Status => _status;
    /// <summary>Set by `ctl appliance drain` / `undrain`: withdraw everything but keep forwarding.</summary>
    public bool Drained { get => _drained; set { _drained = value; _wake.Set(); } }
    /// <summary>SIGTERM: withdraw everything for good.</summary>
    public void BeginStopping() { _stopping = true; _wake.Set(); }

    public void Start()
    {
        _daemon?.Start();
        _thread.Start();
    }

    /// <summary>A new readiness sample from the management thread; wakes the announcer at once when it changed.</summary>
    public void Update(ApplianceReadiness r)
    {
        var old = _readiness;
        _readiness = r;
        if (old is null || old.Forwarding != r.Forwarding || !old.Vips.SequenceEqual(r.Vips)) _wake.Set();
    }

    /// <summary>True once nothing is announced any more (or the daemon is unreachable, so nothing can be).</summary>
    public bool WithdrawnEverywhere => _status.Prefixes.All(p => !p.Announced) || !_status.DaemonUp;

    void Loop()
    {
        while (!_stop)
        {
            try { Reconcile(); }
            catch (Exception e) when (e is RpcException or HttpRequestException or IOException or OperationCanceledException or InvalidOperationException)
            {
                _speakerReady = false;
                _daemonErrors++;
                string msg = e is RpcException r ? $"{r.StatusCode}: {r.Status.Detail}" : e.Message;
                if (msg != _lastError) _log($"bgp: gobgpd at {_o.GrpcAddress} not usable ({msg}); forwarding continues, retrying every 0.5 s");
                _lastError = msg;
                Publish(daemonUp: false);
            }
            _wake.Wait(_speakerReady ? 200 : 500);
            _wake.Reset();
        }
    }

    void Reconcile()
    {
        if (!_speakerReady)
        {
            var (asn, _) = _client.GetGlobalAsync().GetAwaiter().GetResult();
            if (asn == 0)
            {
                // A fresh (or restarted) gobgpd: whatever we announced before is gone with its RIB.
                _announced.Clear();
                // Listen on the next hops' port 179 too: after a restart the routers reconnect within their own retry
                // time instead of waiting for gobgpd's (at least 5 s in GoBGP 3.10).
                var listenOn = new[] { _nextHopV4, _nextHopV6 }.Where(a => a is not null).Select(a => a!.ToString()).ToArray();
                _client.StartAsync((uint)_o.LocalAs, _o.RouterId, 179, listenOn).GetAwaiter().GetResult();
                _log($"bgp: started the speaker in gobgpd at {_o.GrpcAddress} (AS {_o.LocalAs}, router id {_o.RouterId})");
            }
            else if (asn != (uint)_o.LocalAs)
                throw new InvalidOperationException($"gobgpd already runs as AS {asn}, not Bgp.LocalAs {_o.LocalAs}; stop it or use another Bgp.GrpcAddress");
            else
            {
                // gobgpd kept running while we were away: adopt what it announces for us.
                _announced.Clear();
                foreach (var prefix in _client.ListLocalPrefixesAsync().GetAwaiter().GetResult())
                {
                    var addr = prefix.Split('/')[0];
                    if (IPAddress.TryParse(addr, out var a))
                        _announced[a.ToString()] = (a.AddressFamily == AddressFamily.InterNetwork ? _nextHopV4 : _nextHopV6) ?? a;
                }
            }
            foreach (var n in _o.Neighbors)
            {
                string? local = IPAddress.TryParse(n.Address, out var na) ? (na.AddressFamily == AddressFamily.InterNetwork ? _nextHopV4 : _nextHopV6)?.ToString() : null;
                _client.AddPeerAsync(n.Address, (uint)n.As, n.Port, (uint)_o.HoldTimeSeconds, (uint)_o.ConnectRetrySeconds, n.Passive, local).GetAwaiter().GetResult();
            }
            _speakerReady = true;
            if (_lastError is not null) _log($"bgp: gobgpd at {_o.GrpcAddress} reachable again");
            _lastError = null;
        }

        var wanted = Desired(out var prefixes);
        foreach (var (addr, nh) in _announced.ToList())
            if (!wanted.ContainsKey(addr))
            {
                _client.DeletePathAsync(IPAddress.Parse(addr), nh).GetAwaiter().GetResult();
                _announced.Remove(addr);
                _withdrawals++;
                _lastChange = DateTimeOffset.UtcNow;
                _log($"bgp: withdrew {addr} ({prefixes.First(p => p.Prefix.StartsWith(addr + "/", StringComparison.Ordinal)).Reason})");
            }
        foreach (var (addr, nh) in wanted)
            if (!_announced.ContainsKey(addr))
            {
                _client.AddPathAsync(IPAddress.Parse(addr), nh).GetAwaiter().GetResult();
                _announced[addr] = nh;
                _announcements++;
                _lastChange = DateTimeOffset.UtcNow;
                _log($"bgp: announced {addr} via {nh}");
            }
        if (!_sinceSessions.IsRunning || _sinceSessions.ElapsedMilliseconds >= 1000)
        {
            _sessions = _client.ListPeersAsync().GetAwaiter().GetResult();
            _sinceSessions.Restart();
        }
        Publish(daemonUp: true, prefixes);
    }

    /// <summary>The addresses to announce now, and every address with the reason it is (not) announced.</summary>
    Dictionary<string, IPAddress> Desired(out List<PrefixStatus> status)
    {
        var r = _readiness;
        var wanted = new Dictionary<string, IPAddress>();
        status = [];
        if (r is null) return wanted;
        foreach (var g in r.Vips.GroupBy(v => IPAddress.Parse(v.Address).ToString()))
        {
            var a = IPAddress.Parse(g.Key);
            bool v4 = a.AddressFamily == AddressFamily.InterNetwork;
            var nh = v4 ? _nextHopV4 : _nextHopV6;
            var weak = g.Where(v => v.Serving < v.MinHealthyBackends).ToList();
            string reason =
                _stopping ? "appliance stopping (SIGTERM)" :
                _drained ? "appliance drained (ctl appliance drain)" :
                !r.Forwarding ? $"dataplane not forwarding: {r.NotForwardingReason}" :
                nh is null ? $"no IPv{(v4 ? 4 : 6)} next hop" :
                weak.Count > 0 ? string.Join("; ", weak.Select(v => $"VIP '{v.Vip}' has {v.Serving} serving backend(s), fewer than MinHealthyBackends {v.MinHealthyBackends}")) :
                "";
            bool announce = reason.Length == 0;
            if (announce) wanted[g.Key] = nh!;
            status.Add(new PrefixStatus($"{g.Key}/{(v4 ? 32 : 128)}", nh?.ToString() ?? "", false, announce ? "ready" : reason, g.Select(v => v.Vip).ToList()));
        }
        return wanted;
    }

    void Publish(bool daemonUp, List<PrefixStatus>? prefixes = null)
    {
        if (prefixes is null) Desired(out prefixes);
        var list = prefixes.Select(p => p with { Announced = daemonUp && _announced.ContainsKey(p.Prefix.Split('/')[0]) }).ToList();
        string mode = _stopping ? "stopping" : _drained ? "drained" : "serving";
        _status = new BgpStatus(true, _o.GrpcAddress, daemonUp, daemonUp ? null : _lastError, mode,
            daemonUp ? _sessions : [], list, _announcements, _withdrawals, _daemonErrors, _lastChange);
    }

    public void Dispose()
    {
        _stop = true;
        _wake.Set();
        _thread.Join(TimeSpan.FromSeconds(5));
        _daemon?.Dispose();
        _client.Dispose();
        _wake.Dispose();
    }
}
