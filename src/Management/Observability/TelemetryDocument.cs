using System.Globalization;
using System.Text;
using Switchyard.Dataplane.Datapath;
using Switchyard.Management.Host;

namespace Switchyard.Management.Observability;

/// <summary>
/// Renders the state shown by the /switchyard/... telemetry commands as the text document that
/// native/switchyard_telemetry.c serves (format in native/switchyard_telemetry.h). Keys are the
/// counters JSON's names (camelCase), so a telemetry reply and the counters JSON compare one to one.
/// </summary>
public static class TelemetryDocument
{
    public static string Render(ObservabilitySources src)
    {
        var snap = src.Snapshot();
        var workers = src.Workers;
        var sb = new StringBuilder(8 * 1024);
        static string Clean(string s) => s.Replace('\n', ' ').Replace('\r', ' ');
        void Header(char kind, string cmd, string? param = null) =>
            sb.Append('@').Append(kind).Append(' ').Append(cmd).Append(param is null ? "" : " " + Clean(param)).Append('\n');
        void U(string key, long v) => sb.Append("u ").Append(key).Append(' ').Append(Math.Max(0, v).ToString(CultureInfo.InvariantCulture)).Append('\n');
        void S(string key, string v) => sb.Append("s ").Append(key).Append(' ').Append(Clean(v)).Append('\n');
        void V(string v) => sb.Append("v ").Append(Clean(v)).Append('\n');
        string Camel(string s) => char.ToLowerInvariant(s[0]) + s[1..];

        void Block(IEnumerable<WorkerCounters> cs)
        {
            var list = cs.ToArray();
            for (var g = (GlobalCounter)0; g < GlobalCounter.Count; g++) U(Camel(g.ToString()), list.Sum(c => c.Get(g)));
            foreach (var o in Enum.GetValues<Outcome>()) U(Camel(o.ToString()), list.Sum(c => c.Get(o)));
        }
        void Drops(IEnumerable<WorkerCounters> cs)
        {
            var list = cs.ToArray();
            for (var r = (DropReason)1; r < DropReason.Count; r++) U(r.ToString(), list.Sum(c => c.Get(r)));
        }

        Header('d', "/switchyard/info");
        S("version", Metrics.Version);
        U("uptimeSeconds", (long)src.Uptime().TotalSeconds);
        U("generation", snap.Generation);
        U("workers", workers.Count);
        U("vips", snap.Vips.Length);
        U("backends", snap.Backends.Count(b => b.Name is not null));
        U("ports", snap.Ports.Length);
        Block(workers.Select(x => x.Counters));

        Header('l', "/switchyard/vips");
        foreach (var vip in snap.Vips) V(vip.Name);
        for (int v = 0; v < snap.Vips.Length; v++)
        {
            var vip = snap.Vips[v];
            Header('d', "/switchyard/vip", vip.Name);
            S("name", vip.Name);
            S("address", vip.Address.ToString());
            U("port", vip.Port);
            S("protocol", vip.Protocol switch { 6 => "tcp", 17 => "udp", 0 => "any", _ => vip.Protocol.ToString(CultureInfo.InvariantCulture) });
            S("pool", snap.Pools[vip.Pool].Name);
            U("packets", workers.Sum(x => x.Counters.GetVip(v, ServiceCounter.Packets)));
            U("bytes", workers.Sum(x => x.Counters.GetVip(v, ServiceCounter.Bytes)));
            U("newFlows", workers.Sum(x => x.Counters.GetVip(v, ServiceCounter.NewFlows)));
        }

        Header('n', "/switchyard/backends");
        for (int id = 0; id < snap.Backends.Length; id++) if (snap.Backends[id].Name is not null) V(id.ToString(CultureInfo.InvariantCulture));
        for (int id = 0; id < snap.Backends.Length; id++)
        {
            var b = snap.Backends[id];
            if (b.Name is null) continue;
            Header('d', "/switchyard/backend", id.ToString(CultureInfo.InvariantCulture));
            U("id", id);
            S("name", b.Name);
            S("address", b.Address.ToString());
            U("weight", b.Weight);
            U("usable", b.Usable ? 1 : 0);
            S("state", b.State.ToString().ToLowerInvariant());
            U("packets", workers.Sum(x => x.Counters.GetBackend(id, ServiceCounter.Packets)));
            U("bytes", workers.Sum(x => x.Counters.GetBackend(id, ServiceCounter.Bytes)));
            U("newFlows", workers.Sum(x => x.Counters.GetBackend(id, ServiceCounter.NewFlows)));
        }

        Header('n', "/switchyard/workers");
        foreach (var wk in workers) V(wk.Core.ToString(CultureInfo.InvariantCulture));
        foreach (var wk in workers)
        {
            string core = wk.Core.ToString(CultureInfo.InvariantCulture);
            Header('d', "/switchyard/worker", core);
            U("core", wk.Core);
            Block([wk.Counters]);
            Header('d', "/switchyard/drops", core);
            Drops([wk.Counters]);
        }
        Header('d', "/switchyard/drops");
        Drops(workers.Select(x => x.Counters));
        return sb.ToString();
    }
}
