using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Switchyard.Dataplane.Datapath;
using Switchyard.Management.Options;

namespace Switchyard.Management.Control;

/// <summary>
/// The control protocol: one JSON object per line, <c>{"args": ["backend", "drain", "web", "w1"]}</c> (the
/// same words as <c>switchyard ctl</c>), answered by one JSON object per line:
/// <c>{"ok": true, "message": ..., "generation": N, "quiescent": true, "elapsedMs": 0.4}</c> plus a
/// <c>"result"</c> for queries, or <c>{"ok": false, "usage": false, "error": "...", "errors": [{"path", "reason"}]}</c>.
/// <c>usage: true</c> marks a malformed command (the CLI exits 2), false a refused change (exit 1).
/// Never throws: any failure becomes an error answer.
/// </summary>
public sealed partial class ControlCommands(ControlPlane control, Func<string>? countersJson = null, Func<(string Path, string[] Args)>? configSource = null)
{
    public const string Syntax = """
        list                                         VIPs and backends: state, weight, counters
        backend add POOL NAME ADDRESS [mac MAC] [weight N] [server-id N] [port PORT] [announced-port N]
        backend del POOL NAME                        remove (pinned flows follow Pools[].RemovedFlows)
        backend set POOL NAME weight N               change the weight (0: no new flows)
        backend drain POOL NAME [deadline SECONDS]   no new flows; existing flows and joins continue
        backend disable POOL NAME | backend enable POOL NAME
        backend health POOL NAME up|down [REASON]    set the health state by hand (as a health check would)
        keys list | keys rotate ID HEXKEY | keys remove ID
        quic list | quic set ID SIDLEN NONCELEN HEXKEY|plain [self-length] | quic remove ID   QUIC-LB configurations
        reload                                       re-read the configuration file (validated)
        config                                       the running configuration as JSON
        counters                                     the counters JSON
        bgp                                          BGP sessions, announced prefixes (and why not), exception path
        appliance drain | appliance undrain          withdraw every VIP from the routers (forwarding continues) / announce again
        cluster [samples]                            learned tokens shared with the other appliances: peers, sent/received/
                                                     rejected/installed/collisions, propagation delay (samples: the last ones)
        """;

    /// <summary>Scale-out (issue 12): `bgp` and `appliance drain|undrain`; null in processes without it.</summary>
    public Bgp.ScaleOut? ScaleOut { get; init; }

    sealed class UsageError(string message) : Exception(message);

    public string Handle(string line)
    {
        try
        {
            JsonNode? req;
            try { req = JsonNode.Parse(line); }
            catch (JsonException e) { return Error(true, $"request is not JSON: {e.Message}"); }
            if (req is not JsonObject obj || obj["args"] is not JsonArray arr)
                return Error(true, "request must be a JSON object with \"args\": [words...]");
            var args = new List<string>();
            foreach (var a in arr)
            {
                if (a is not JsonValue v || !v.TryGetValue<string>(out var s)) return Error(true, "every element of \"args\" must be a string");
                args.Add(s);
            }
            return Execute(args);
        }
        catch (UsageError e) { return Error(true, e.Message); }
        catch (Exception e) { return Error(false, $"internal error: {e.GetType().Name}: {e.Message}"); }
    }

    static string Error(bool usage, string message, IReadOnlyList<ConfigurationError>? errors = null)
    {
        var o = new JsonObject { ["ok"] = false, ["usage"] = usage, ["error"] = message };
        if (errors is { Count: > 0 })
            o["errors"] = new JsonArray([.. errors.Select(e => (JsonNode)new JsonObject { ["path"] = e.Path, ["reason"] = e.Reason })]);
        return o.ToJsonString();
    }

    static string Ok(string message, JsonNode? result = null)
    {
        var o = new JsonObject { ["ok"] = true, ["message"] = message };
        if (result is not null) o["result"] = result;
        return o.ToJsonString();
    }

    static string Answer(ChangeResult r)
    {
        if (!r.Ok) return Error(false, r.Message, r.Errors);
        return new JsonObject
        {
            ["ok"] = true, ["message"] = r.Message, ["generation"] = r.Generation, ["quiescent"] = r.Quiescent,
            ["elapsedMs"] = Math.Round(r.Elapsed.TotalMilliseconds, 3),
            ["compileMs"] = Math.Round(r.CompileTime.TotalMilliseconds, 3),
            ["graceMs"] = Math.Round(r.GraceTime.TotalMilliseconds, 3),
        }.ToJsonString();
    }

    static void Need(List<string> a, int min, int max, string syntax)
    {
        if (a.Count < min || a.Count > max) throw new UsageError($"usage: {syntax}");
    }

    static int Int(string what, string s, int min, int max)
    {
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
            throw new UsageError($"{what}: '{s}' must be an integer {min}..{max}");
        return v;
    }

    string Execute(List<string> a)
    {
        if (a.Count == 0) throw new UsageError("no command (see switchyard ctl --help)");
        switch (a[0])
        {
            case "list": Need(a, 1, 1, "list"); return Ok("list", List());
            case "config": Need(a, 1, 1, "config"); return Ok("config", JsonNode.Parse(control.RunningJson()));
            case "counters":
                Need(a, 1, 1, "counters");
                if (countersJson is null) return Error(false, "counters are not available in this process");
                return Ok("counters", JsonNode.Parse(countersJson()));
            case "reload":
                Need(a, 1, 1, "reload");
                if (configSource is null) return Error(false, "this process was not started from a configuration file");
                var (path, args) = configSource();
                return Answer(control.Reload(path, args, what: "reload (ctl)"));
            case "keys": return Keys(a);
            case "quic": return Quic(a); // ControlCommands.Quic.cs
            case "backend": return Backend(a);
            case "bgp":
                Need(a, 1, 1, "bgp");
                return ScaleOut is null ? Error(false, "BGP is not available in this process") : Ok("bgp", ScaleOut.StatusJson());
            case "cluster":
                if (a.Count > 2 || (a.Count == 2 && a[1] != "samples")) throw new UsageError("usage: cluster [samples]");
                return ScaleOut?.TokenSync is { } sync ? Ok("cluster", sync.StatusJson(samples: a.Count == 2))
                    : Error(false, "the learned-token exchange is not enabled (Cluster.Enabled)");
            case "appliance":
                if (a.Count != 2 || a[1] is not ("drain" or "undrain")) throw new UsageError("usage: appliance drain | appliance undrain");
                if (ScaleOut?.Announcer is null) return Error(false, "BGP is not enabled (Bgp.Enabled): there is nothing to withdraw");
                return Ok(ScaleOut.SetDrained(a[1] == "drain"));
            default: throw new UsageError($"unknown command '{a[0]}' (see switchyard ctl --help)");
        }
    }

    string Keys(List<string> a)
    {
        if (a.Count < 2) throw new UsageError("usage: keys list | keys rotate ID HEXKEY | keys remove ID");
        switch (a[1])
        {
            case "list":
                Need(a, 2, 2, "keys list");
                var run = control.Running;
                // Key material never leaves the process: ids only.
                return Ok("keys", new JsonObject
                {
                    ["serverIdBits"] = run.Mptcp.ServerIdBits,
                    ["keyIds"] = new JsonArray([.. run.Mptcp.TokenKeys.Select(k => (JsonNode)JsonValue.Create(k.Id))]),
                });
            case "rotate":
                Need(a, 4, 4, "keys rotate ID HEXKEY");
                return Answer(control.RotateKey(Int("ID", a[2], 0, 2), a[3]));
            case "remove":
                Need(a, 3, 3, "keys remove ID");
                return Answer(control.RemoveKey(Int("ID", a[2], 0, 2)));
            default: throw new UsageError($"unknown keys command '{a[1]}': list, rotate or remove");
        }
    }

    string Backend(List<string> a)
    {
        if (a.Count < 4) throw new UsageError("usage: backend add|del|set|drain|disable|enable|health POOL NAME ...");
        string pool = a[2], name = a[3];
        switch (a[1])
        {
            case "add":
                if (a.Count < 5 || (a.Count - 5) % 2 != 0)
                    throw new UsageError("usage: backend add POOL NAME ADDRESS [mac MAC] [weight N] [server-id N] [port PORT] [announced-port N]");
                var b = new BackendOptions { Name = name, Address = a[4] };
                for (int i = 5; i < a.Count; i += 2)
                {
                    string v = a[i + 1];
                    switch (a[i])
                    {
                        case "mac": b.Mac = v; break;
                        case "weight": b.Weight = Int("weight", v, 0, 65535); break;
                        case "server-id": b.ServerId = Int("server-id", v, 0, 32767); break;
                        case "port": b.Port = v; break;
                        case "announced-port": b.AnnouncedPort = Int("announced-port", v, 1, 65535); break;
                        default: throw new UsageError($"unknown backend attribute '{a[i]}': mac, weight, server-id, port or announced-port");
                    }
                }
                return Answer(control.AddBackend(pool, b));
            case "del":
                Need(a, 4, 4, "backend del POOL NAME");
                return Answer(control.RemoveBackend(pool, name));
            case "set":
                if (a.Count != 6 || a[4] != "weight") throw new UsageError("usage: backend set POOL NAME weight N");
                return Answer(control.SetWeight(pool, name, Int("weight", a[5], 0, 65535)));
            case "drain":
                if (a.Count != 4 && (a.Count != 6 || a[4] != "deadline")) throw new UsageError("usage: backend drain POOL NAME [deadline SECONDS]");
                TimeSpan? deadline = a.Count == 6 ? TimeSpan.FromSeconds(Int("deadline", a[5], 0, 365 * 86400)) : null;
                return Answer(control.Drain(pool, name, deadline));
            case "disable": Need(a, 4, 4, "backend disable POOL NAME"); return Answer(control.Disable(pool, name));
            case "enable": Need(a, 4, 4, "backend enable POOL NAME"); return Answer(control.Enable(pool, name));
            case "health":
                if (a.Count < 5 || a[4] is not ("up" or "down")) throw new UsageError("usage: backend health POOL NAME up|down [REASON]");
                return Answer(control.SetHealth(pool, name, a[4] == "up", a.Count > 5 ? string.Join(' ', a.Skip(5)) : "set by ctl"));
            default: throw new UsageError($"unknown backend command '{a[1]}': add, del, set, drain, disable, enable or health");
        }
    }

    JsonObject List()
    {
        var snap = control.Current;
        var counters = control.WorkerCounters;
        var vips = new JsonArray();
        for (int v = 0; v < snap.Vips.Length; v++)
        {
            var e = snap.Vips[v];
            long packets = 0, flows = 0;
            foreach (var c in counters)
                if (v < c.MaxVips) { packets += c.GetVip(v, ServiceCounter.Packets); flows += c.GetVip(v, ServiceCounter.NewFlows); }
            vips.Add(new JsonObject
            {
                ["name"] = e.Name, ["address"] = e.Address.ToString(), ["port"] = e.Port,
                ["protocol"] = e.Protocol switch { 6 => "tcp", 17 => "udp", 0 => "any", _ => e.Protocol.ToString(CultureInfo.InvariantCulture) },
                ["pool"] = snap.Pools[e.Pool].Name, ["packets"] = packets, ["newFlows"] = flows,
            });
        }
        var backends = new JsonArray();
        foreach (var b in control.Backends())
            backends.Add(new JsonObject
            {
                ["pool"] = b.Pool, ["name"] = b.Name, ["id"] = b.Id, ["address"] = b.Address, ["weight"] = b.Weight,
                ["state"] = b.State.ToString().ToLowerInvariant(), ["admin"] = b.Admin.ToString().ToLowerInvariant(),
                ["health"] = b.HealthUp ? "up" : "down", ["healthReason"] = b.HealthReason,
                ["drainDeadline"] = b.DrainDeadline?.ToString("O", CultureInfo.InvariantCulture),
                ["packets"] = b.Packets, ["bytes"] = b.Bytes, ["newFlows"] = b.NewFlows,
            });
        // Issue 12, item 3: a digest of each pool's Maglev table (by backend name), equal on appliances that agree.
        var pools = new JsonArray();
        foreach (var p in snap.Pools)
            pools.Add(new JsonObject { ["name"] = p.Name, ["maglevSize"] = p.Maglev.Length, ["digest"] = MaglevDigest.Of(snap, p) });
        return new JsonObject { ["generation"] = snap.Generation, ["vips"] = vips, ["backends"] = backends, ["pools"] = pools };
    }
}
