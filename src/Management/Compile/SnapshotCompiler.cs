using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Management.Options;

namespace Switchyard.Management.Compile;

/// <summary>
/// Compiles options into the immutable <see cref="DataplaneSnapshot"/> the workers read. One instance
/// lives as long as the process: it owns the backend id allocator (ids stay stable across reloads)
/// and the generation counter. Not thread-safe; the management thread is its only caller.
/// Validates first: an invalid configuration throws <see cref="ConfigurationException"/> and never
/// produces a snapshot, and a failed compile leaves the allocator and generation untouched.
/// </summary>
public sealed class SnapshotCompiler
{
    long _generation;

    public BackendIdAllocator Ids { get; } = new();

    /// <summary>Generation of the last snapshot produced (0 before the first).</summary>
    public long Generation => _generation;

    /// <param name="portMacs">Port name -> MAC reported by the device (used when the port sets no Mac).</param>
    /// <param name="portIndexes">Port name -> the index workers use for it (Snapshot.Ports[index],
    /// BackendEntry.EgressPort); must be 0..n-1. Default: configuration order.</param>
    /// <param name="runtimeState">Runtime state of a configured backend (pool, backend) from the control
    /// plane: Active, Draining, Down or Disabled (default: Active for all). Enabled=false in the options
    /// makes it Disabled whatever this says.</param>
    public DataplaneSnapshot Compile(ApplianceOptions o, IReadOnlyDictionary<string, ulong> portMacs, IReadOnlyDictionary<string, int>? portIndexes = null,
        Func<string, string, BackendState>? runtimeState = null)
    {
        var errors = OptionsValidator.Validate(o);
        if (errors.Count > 0) throw new ConfigurationException(errors);

        // ---- ports (everything that can still fail comes before ids are allocated)
        int nPorts = o.Ports.Length;
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < nPorts; i++)
        {
            int idx = i;
            if (portIndexes is not null && !portIndexes.TryGetValue(o.Ports[i].Name, out idx))
                throw new ArgumentException($"no port index given for port '{o.Ports[i].Name}'", nameof(portIndexes));
            if (idx < 0 || idx >= nPorts || index.ContainsValue(idx))
                throw new ArgumentException($"port indexes must be a permutation of 0..{nPorts - 1}; '{o.Ports[i].Name}' has {idx}", nameof(portIndexes));
            index[o.Ports[i].Name] = idx;
        }
        var ports = new PortEntry[nPorts];
        var macErrors = new List<ConfigurationError>();
        for (int i = 0; i < nPorts; i++)
        {
            var p = o.Ports[i];
            ulong mac;
            if (p.Mac is not null) ValueParsers.TryParseMac(p.Mac, out mac);
            else if (!portMacs.TryGetValue(p.Name, out mac) || mac == 0)
            {
                macErrors.Add(new($"Ports[{i}].Mac", $"device '{p.Device}' reported no MAC address; set one"));
                continue;
            }
            ulong gw = 0;
            if (p.GatewayMac is not null) ValueParsers.TryParseMac(p.GatewayMac, out gw);
            ports[index[p.Name]] = new PortEntry
            {
                Name = p.Name,
                Mac = mac,
                Mtu = p.Mtu,
                GatewayMac = gw,
                Addresses = [.. p.Addresses.Select(a => { ValueParsers.TryParseAddress(a, out var x, out _); return x; })],
                RxQueues = (ushort)WorkerLayout.RxQueues(o, p),
                TxQueues = (ushort)WorkerLayout.TxQueues(o, p),
            };
        }
        if (macErrors.Count > 0) throw new ConfigurationException(macErrors);

        // ---- backend ids: all or nothing
        var keys = new List<(string, string)>();
        foreach (var pool in o.Pools) foreach (var b in pool.Backends) keys.Add((pool.Name, b.Name));
        int[] ids = Ids.Assign(keys, o.Dataplane.MaxBackends);

        // Ids of removed backends stay in the array as unusable entries, so a flow pinned to one is
        // re-steered instead of indexing past the end.
        var backends = new BackendEntry[Ids.Count];
        for (int id = 0; id < backends.Length; id++)
            backends[id] = new BackendEntry(Ids.NameOf(id).Backend, default, 0, 0, 0, BackendState.Removed);

        // ---- pools
        var pools = new PoolEntry[o.Pools.Length];
        var poolIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var poolOptions = new PoolOptions[o.Pools.Length];
        var backendIdOf = new Dictionary<(string Pool, string Backend), int>();
        int k = 0;
        for (int i = 0; i < o.Pools.Length; i++)
        {
            var pool = o.Pools[i];
            poolIndex[pool.Name] = i;
            poolOptions[i] = pool;
            var maglevInput = new List<MaglevBackend>();
            int[] serverIds = pool.Backends.Any(b => b.ServerId is not null)
                ? Enumerable.Repeat(-1, 1 << o.Mptcp.ServerIdBits).ToArray() : [];
            foreach (var b in pool.Backends)
            {
                int id = ids[k++];
                if (b.ServerId is { } sid) serverIds[sid] = id;
                backendIdOf[(pool.Name, b.Name)] = id;
                ValueParsers.TryParseAddress(b.Address, out var addr, out _);
                int egress = index[b.Port ?? o.Ports[0].Name];
                ulong mac;
                if (b.Mac is not null) ValueParsers.TryParseMac(b.Mac, out mac);
                else mac = ports[egress].GatewayMac; // encapsulated: the validator made sure the port has one
                // Weight 0: no new flows, pinned flows stay (it remains Active). Enabled=false, Down and
                // Draining take it out of Maglev; only Active and Draining keep pinned flows.
                var state = !b.Enabled ? BackendState.Disabled : runtimeState?.Invoke(pool.Name, b.Name) ?? BackendState.Active;
                if (state == BackendState.Removed) throw new ArgumentException($"runtime state of configured backend {pool.Name}/{b.Name} cannot be Removed", nameof(runtimeState));
                var (header0, header8) = BackendEntry.MacHeader(mac, ports[egress].Mac);
                backends[id] = new BackendEntry(b.Name, addr, mac, (byte)egress, (uint)b.Weight, state)
                    { Pool = i, EgressMac = ports[egress].Mac, EgressMtu = ports[egress].Mtu, MacHeader0 = header0, MacHeader1 = header8 };
                if (state == BackendState.Active && b.Weight > 0) maglevInput.Add(new MaglevBackend(id, b.Name, (uint)b.Weight));
            }
            Addr128 v4 = default, v6 = default;
            ulong v4Mask = 0, v6Mask = 0;
            if (pool.EncapSourceV4 is not null) ValueParsers.TryParseCidr(pool.EncapSourceV4, out v4, out _, out _, out v4Mask, out _);
            if (pool.EncapSourceV6 is not null) ValueParsers.TryParseCidr(pool.EncapSourceV6, out v6, out _, out _, out v6Mask, out _);
            pools[i] = new PoolEntry
            {
                Name = pool.Name,
                Mode = pool.Forwarding,
                Fragments = pool.Fragments,
                Maglev = Maglev.Build(maglevInput.ToArray(), pool.MaglevSize),
                GuePort = (ushort)pool.GuePort,
                EncapSourceV4 = v4,
                EncapSourceV4HostMask = (uint)v4Mask,
                EncapSourceV6 = v6,
                EncapSourceV6HostMask = v6Mask,
                TcpIdleTicks = (uint)pool.TcpIdleTimeoutSeconds * 1000u, // ticks are milliseconds
                UdpIdleTicks = (uint)pool.UdpIdleTimeoutSeconds * 1000u,
                HandshakeIdleTicks = (uint)Math.Min(pool.HandshakeTimeoutSeconds, pool.TcpIdleTimeoutSeconds) * 1000u,
                ServerIdToBackend = serverIds,
                RemovedFlows = pool.RemovedFlows,
                QuicServerIds = QuicLbCompile.ServerIds(pool, ids.AsSpan(k - pool.Backends.Length, pool.Backends.Length)),
            };
        }

        // ---- VIPs and the addresses ARP/NDP answer for
        var vips = new List<VipEntry>(o.Vips.Length);
        var local = new List<Addr128>();
        var localPort = new List<byte>();
        for (int i = 0; i < nPorts; i++)
            foreach (var a in ports[i].Addresses) { local.Add(a); localPort.Add((byte)i); }
        var vipAddresses = new HashSet<Addr128>();
        for (int i = 0; i < o.Vips.Length; i++)
        {
            var v = o.Vips[i];
            ValueParsers.TryParseAddress(v.Address, out var addr, out _);
            ValueParsers.TryParseProtocol(v.Protocol, out byte proto);
            int pool = poolIndex[v.Pool];
            vips.Add(new VipEntry(v.Name, addr, (ushort)v.Port, proto, pool) { JoinModes = VipEntry.PackJoinModes(v.Joins), QuicLb = v.QuicLb });
            // A VIP is answered on every port (255): clients may arrive on any of them.
            if (vipAddresses.Add(addr)) { local.Add(addr); localPort.Add(255); }
        }
        // Announced ports: VIP:P, announced by one backend, is a service of its own whose every packet
        // goes to that backend. Its joins are "placed" by that mapping; so is everything after them.
        // These come after the configured VIPs, so configured VIP indexes keep their meaning.
        for (int i = 0; i < o.Vips.Length; i++)
        {
            var v = o.Vips[i];
            if (!v.Joins.Contains(JoinMode.AnnouncedPort)) continue;
            var pool = poolOptions[poolIndex[v.Pool]];
            foreach (var b in pool.Backends)
                if (b.AnnouncedPort is { } p)
                    vips.Add(new VipEntry($"{v.Name}/announced:{b.Name}", vips[i].Address, (ushort)p, vips[i].Protocol, vips[i].Pool)
                    {
                        JoinModes = VipEntry.PackJoinModes([JoinMode.AnnouncedPort]),
                        AnnouncedBackend = backendIdOf[(pool.Name, b.Name)],
                    });
        }
        if (vips.Count > o.Dataplane.MaxVips)
            throw new ConfigurationException("Dataplane.MaxVips",
                $"{o.Dataplane.MaxVips} is fewer than the {vips.Count} services (VIPs plus announced ports)");

        var snapshot = new DataplaneSnapshot
        {
            Generation = _generation + 1,
            Ports = ports,
            Vips = [.. vips],
            VipTable = new VipTable(vips.ToArray()),
            Pools = pools,
            Backends = backends,
            LocalAddresses = new LocalAddressSet(local.ToArray(), localPort.ToArray()),
            FlowHashSeed = o.Dataplane.FlowHashSeed,
            TokenKeys = o.Mptcp.TokenKeys.Length == 0 ? null : new TokenKeys(o.Mptcp.ServerIdBits,
                o.Mptcp.TokenKeys.Select(t => { OptionsValidator.TryParseKey(t.Key, out var key); return (t.Id, key); }).ToArray()),
            LearnedTokenIdleTicks = (uint)o.Mptcp.LearnedTokenIdleTimeoutSeconds * 1000u,
            ResetUnplaceableJoins = o.Mptcp.ResetUnplaceableJoins,
            QuicLb = QuicLbCompile.Configs(o.QuicLb),
        };
        // Backends no longer configured give up their name: one added again later gets a fresh id, so a
        // flow entry or learned token of the old one can never lead to the newcomer.
        Ids.RetireAllExcept(keys);
        _generation = snapshot.Generation;
        return snapshot;
    }
}
