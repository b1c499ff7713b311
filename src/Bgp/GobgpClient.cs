using System.Net;
using System.Net.Sockets;
using Apipb;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;

namespace Switchyard.Bgp;

/// <summary>One BGP session as gobgpd reports it (ListPeer).</summary>
public sealed record BgpSession(string Neighbor, uint PeerAs, string State, DateTimeOffset? Since, ulong Accepted, ulong Advertised, string RouterId);

/// <summary>
/// The part of gobgpd's gRPC API (GoBGP 3.10, api/gobgp.proto) that an appliance needs: start the speaker,
/// add neighbours, add and delete the VIP routes, list sessions and the routes it announces. Every call has
/// a deadline; failures surface as <see cref="RpcException"/> (daemon absent: StatusCode.Unavailable).
/// </summary>
public sealed class GobgpClient : IDisposable
{
    readonly GrpcChannel _channel;
    readonly GobgpApi.GobgpApiClient _api;
    readonly TimeSpan _timeout;

    public GobgpClient(string hostPort, TimeSpan? timeout = null)
    {
        _channel = GrpcChannel.ForAddress($"http://{hostPort}", new GrpcChannelOptions
        {
            // Fail fast when the daemon is absent instead of retrying inside one call.
            HttpHandler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(1), EnableMultipleHttp2Connections = false },
        });
        _api = new GobgpApi.GobgpApiClient(_channel);
        _timeout = timeout ?? TimeSpan.FromSeconds(3);
    }

    public string Address => _channel.Target;

    DateTime Deadline => DateTime.UtcNow + _timeout;

    /// <summary>The running speaker's AS and router id; AS 0 = gobgpd runs but BGP is not started yet.</summary>
    public async Task<(uint As, string RouterId)> GetGlobalAsync(CancellationToken ct = default)
    {
        var r = await _api.GetBgpAsync(new GetBgpRequest(), deadline: Deadline, cancellationToken: ct);
        return (r.Global?.Asn ?? 0, r.Global?.RouterId ?? "");
    }

    /// <summary>StartBgp. listenPort -1: accept no incoming sessions (the appliance connects out).</summary>
    public async Task StartAsync(uint asn, string routerId, int listenPort, IEnumerable<string> listenAddresses, CancellationToken ct = default)
    {
        var g = new Global { Asn = asn, RouterId = routerId, ListenPort = listenPort };
        g.ListenAddresses.AddRange(listenAddresses);
        await _api.StartBgpAsync(new StartBgpRequest { Global = g }, deadline: Deadline, cancellationToken: ct);
    }

    /// <summary>AddPeer for IPv4 and IPv6 unicast. An existing neighbour of that address is left as it is.</summary>
    public async Task AddPeerAsync(string address, uint peerAs, int port, uint holdTime, uint connectRetry, bool passive, string? localAddress, CancellationToken ct = default)
    {
        var peer = new Peer
        {
            Conf = new PeerConf { NeighborAddress = address, PeerAsn = peerAs },
            Timers = new Timers { Config = new TimersConfig { HoldTime = holdTime, KeepaliveInterval = holdTime / 3, ConnectRetry = connectRetry } },
            Transport = new Transport { RemotePort = (uint)port, PassiveMode = passive, LocalAddress = localAddress ?? "" },
        };
        foreach (var afi in new[] { Family.Types.Afi.Ip, Family.Types.Afi.Ip6 })
            peer.AfiSafis.Add(new AfiSafi { Config = new AfiSafiConfig { Enabled = true, Family = new Family { Afi = afi, Safi = Family.Types.Safi.Unicast } } });
        try { await _api.AddPeerAsync(new AddPeerRequest { Peer = peer }, deadline: Deadline, cancellationToken: ct); }
        catch (RpcException e) when (e.Status.Detail.Contains("already exists", StringComparison.OrdinalIgnoreCase)) { }
    }

    static Family FamilyOf(IPAddress a) => new()
    {
        Afi = a.AddressFamily == AddressFamily.InterNetwork ? Family.Types.Afi.Ip : Family.Types.Afi.Ip6,
        Safi = Family.Types.Safi.Unicast,
    };

    /// <summary>The route for one VIP (/32 or /128) with the given next hop, as gobgp's own CLI builds it.</summary>
    public static Apipb.Path HostRoute(IPAddress vip, IPAddress nextHop)
    {
        bool v4 = vip.AddressFamily == AddressFamily.InterNetwork;
        var nlri = new IPAddressPrefix { Prefix = vip.ToString(), PrefixLen = v4 ? 32u : 128u };
        var path = new Apipb.Path { Family = FamilyOf(vip), Nlri = Any.Pack(nlri) };
        path.Pattrs.Add(Any.Pack(new OriginAttribute { Origin = 0 })); // IGP
        if (v4) path.Pattrs.Add(Any.Pack(new NextHopAttribute { NextHop = nextHop.ToString() }));
        else
        {
            var mp = new MpReachNLRIAttribute { Family = FamilyOf(vip) };
            mp.NextHops.Add(nextHop.ToString());
            mp.Nlris.Add(Any.Pack(nlri));
            path.Pattrs.Add(Any.Pack(mp));
        }
        return path;
    }

    public async Task AddPathAsync(IPAddress vip, IPAddress nextHop, CancellationToken ct = default) =>
        await _api.AddPathAsync(new AddPathRequest { TableType = TableType.Global, Path = HostRoute(vip, nextHop) }, deadline: Deadline, cancellationToken: ct);

    /// <summary>Withdraws the route (gobgpd sends the withdrawal to every established neighbour).</summary>
    public async Task DeletePathAsync(IPAddress vip, IPAddress nextHop, CancellationToken ct = default) =>
        await _api.DeletePathAsync(new DeletePathRequest { TableType = TableType.Global, Family = FamilyOf(vip), Path = HostRoute(vip, nextHop) },
            deadline: Deadline, cancellationToken: ct);

    public async Task<IReadOnlyList<BgpSession>> ListPeersAsync(CancellationToken ct = default)
    {
        var list = new List<BgpSession>();
        using var call = _api.ListPeer(new ListPeerRequest(), deadline: Deadline, cancellationToken: ct);
        await foreach (var r in call.ResponseStream.ReadAllAsync(ct))
        {
            var p = r.Peer;
            ulong accepted = 0, advertised = 0;
            foreach (var a in p.AfiSafis)
                if (a.State is { } s) { accepted += s.Accepted; advertised += s.Advertised; }
            var up = p.Timers?.State?.Uptime;
            list.Add(new BgpSession(
                p.Conf?.NeighborAddress ?? p.State?.NeighborAddress ?? "",
                p.Conf?.PeerAsn ?? 0,
                (p.State?.SessionState ?? PeerState.Types.SessionState.Unknown).ToString().ToLowerInvariant(),
                up is null || up.Seconds == 0 ? null : up.ToDateTimeOffset(),
                accepted, advertised, p.State?.RouterId ?? ""));
        }
        return list;
    }

    /// <summary>The prefixes in gobgpd's global RIB that it originates (the appliance's announcements).</summary>
    public async Task<IReadOnlyList<string>> ListLocalPrefixesAsync(CancellationToken ct = default)
    {
        var list = new List<string>();
        foreach (var afi in new[] { Family.Types.Afi.Ip, Family.Types.Afi.Ip6 })
        {
            using var call = _api.ListPath(new ListPathRequest { TableType = TableType.Global, Family = new Family { Afi = afi, Safi = Family.Types.Safi.Unicast } },
                deadline: Deadline, cancellationToken: ct);
            await foreach (var r in call.ResponseStream.ReadAllAsync(ct))
                if (r.Destination.Paths.Any(p => string.IsNullOrEmpty(p.NeighborIp) || p.NeighborIp is "<nil>" or "0.0.0.0" or "::"))
                    list.Add(r.Destination.Prefix);
        }
        return list;
    }

    public void Dispose() => _channel.Dispose();
}
