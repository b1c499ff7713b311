using System.Text.Json;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;

namespace Switchyard.Management.Host;

/// <summary>Port statistics as read from DPDK, for the report.</summary>
public readonly record struct PortStatsView(string Name, ulong RxPackets, ulong TxPackets, ulong RxBytes, ulong TxBytes,
    ulong RxMissed, ulong RxErrors, ulong TxErrors, ulong RxNoMbuf);

/// <summary>
/// The counters JSON: totals, every drop reason by name, per worker, per VIP, per backend and per
/// port. Invariants (see <see cref="WorkerCounters"/>) hold per worker and for the totals.
/// Written while running (atomically, to Run.CountersFile) and at exit (stdout and the file).
/// </summary>
public static class CountersReport
{
    public sealed record WorkerView(int Core, WorkerCounters Counters);

    public static void Write(Utf8JsonWriter w, DataplaneSnapshot snap, IReadOnlyList<WorkerView> workers,
        IReadOnlyList<PortStatsView> ports, TimeSpan uptime, bool final)
    {
        w.WriteStartObject();
        w.WriteString("timestamp", DateTimeOffset.UtcNow);
        w.WriteNumber("uptimeSeconds", Math.Round(uptime.TotalSeconds, 3));
        w.WriteBoolean("final", final);
        w.WriteNumber("generation", snap.Generation);

        w.WritePropertyName("totals");
        WriteBlock(w, workers.Select(x => x.Counters).ToArray());
        w.WriteStartArray("workers");
        foreach (var wk in workers)
        {
            w.WriteStartObject();
            w.WriteNumber("core", wk.Core);
            w.WritePropertyName("counters");
            WriteBlock(w, [wk.Counters]);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartArray("vips");
        for (int v = 0; v < snap.Vips.Length; v++)
        {
            var vip = snap.Vips[v];
            w.WriteStartObject();
            w.WriteString("name", vip.Name);
            w.WriteString("address", vip.Address.ToString());
            w.WriteNumber("port", vip.Port);
            w.WriteString("protocol", vip.Protocol switch { 6 => "tcp", 17 => "udp", 0 => "any", _ => vip.Protocol.ToString() });
            w.WriteString("pool", snap.Pools[vip.Pool].Name);
            WriteService(w, c => c.GetVip(v, ServiceCounter.Packets), c => c.GetVip(v, ServiceCounter.Bytes), c => c.GetVip(v, ServiceCounter.NewFlows), workers);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartArray("backends");
        for (int id = 0; id < snap.Backends.Length; id++)
        {
            var b = snap.Backends[id];
            if (b.Name is null) continue; // an id not (or no longer) in use
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("name", b.Name);
            w.WriteString("address", b.Address.ToString());
            w.WriteNumber("weight", b.Weight);
            w.WriteBoolean("usable", b.Usable);
            w.WriteString("state", b.State.ToString().ToLowerInvariant());
            WriteService(w, c => c.GetBackend(id, ServiceCounter.Packets), c => c.GetBackend(id, ServiceCounter.Bytes), c => c.GetBackend(id, ServiceCounter.NewFlows), workers);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartArray("ports");
        foreach (var p in ports)
        {
            w.WriteStartObject();
            w.WriteString("name", p.Name);
            w.WriteNumber("rxPackets", p.RxPackets);
            w.WriteNumber("txPackets", p.TxPackets);
            w.WriteNumber("rxBytes", p.RxBytes);
            w.WriteNumber("txBytes", p.TxBytes);
            w.WriteNumber("rxMissed", p.RxMissed);
            w.WriteNumber("rxErrors", p.RxErrors);
            w.WriteNumber("txErrors", p.TxErrors);
            w.WriteNumber("rxNoMbuf", p.RxNoMbuf);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static void WriteService(Utf8JsonWriter w, Func<WorkerCounters, long> packets, Func<WorkerCounters, long> bytes,
        Func<WorkerCounters, long> flows, IReadOnlyList<WorkerView> workers)
    {
        w.WriteNumber("packets", workers.Sum(x => packets(x.Counters)));
        w.WriteNumber("bytes", workers.Sum(x => bytes(x.Counters)));
        w.WriteNumber("newFlows", workers.Sum(x => flows(x.Counters)));
    }

    static string Camel(string s) => char.ToLowerInvariant(s[0]) + s[1..];

    static void WriteBlock(Utf8JsonWriter w, WorkerCounters[] cs)
    {
        w.WriteStartObject();
        for (var g = (GlobalCounter)0; g < GlobalCounter.Count; g++)
            w.WriteNumber(Camel(g.ToString()), cs.Sum(c => c.Get(g)));
        foreach (Outcome o in Enum.GetValues<Outcome>())
            w.WriteNumber(Camel(o.ToString()), cs.Sum(c => c.Get(o)));
        w.WriteStartObject("drops");
        for (var r = (DropReason)1; r < DropReason.Count; r++)
            w.WriteNumber(r.ToString(), cs.Sum(c => c.Get(r)));
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static string ToJson(DataplaneSnapshot snap, IReadOnlyList<WorkerView> workers, IReadOnlyList<PortStatsView> ports, TimeSpan uptime, bool final)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
            Write(w, snap, workers, ports, uptime, final);
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Write to path.tmp and rename, so a reader never sees half a file.</summary>
    public static void WriteFileAtomically(string path, string json)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, json);
        File.Move(tmp, path, overwrite: true);
    }
}
