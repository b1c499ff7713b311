using System.Text;
using System.Text.Json.Nodes;
using Switchyard.Management.Observability;
using static Switchyard.Management.Observability.PrometheusWriter;

namespace Switchyard.Management.Cluster;

/// <summary>The learned-token exchange's families of /metrics (issue 12, item 2), from <see cref="TokenSync.StatusJson"/>.</summary>
public static class ClusterMetrics
{
    public static void Write(PrometheusWriter w, JsonObject s)
    {
        long L(JsonNode? n) => n?.GetValue<long>() ?? 0;
        w.Family("switchyard_cluster_datagrams_total", Kind.Counter, "Token-exchange datagrams, by direction.");
        w.Sample(L(s["datagramsSent"]), ("direction", "sent"));
        w.Sample(L(s["datagramsReceived"]), ("direction", "received"));
        w.Family("switchyard_cluster_entries_total", Kind.Counter, "Token entries sent (per peer) and received.");
        w.Sample(L(s["entriesSent"]), ("direction", "sent"));
        w.Sample(L(s["entriesReceived"]), ("direction", "received"));
        w.Family("switchyard_cluster_rejected_total", Kind.Counter, "Datagrams refused, by reason (bad_mac, replay, malformed, unknown_peer, rate_limited).");
        var r = s["rejected"]!.AsObject();
        w.Sample(L(r["badMac"]), ("reason", "bad_mac"));
        w.Sample(L(r["replay"]), ("reason", "replay"));
        w.Sample(L(r["malformed"]), ("reason", "malformed"));
        w.Sample(L(r["unknownPeer"]), ("reason", "unknown_peer"));
        w.Sample(L(r["rateLimited"]), ("reason", "rate_limited"));
        w.Family("switchyard_cluster_tokens_total", Kind.Counter,
            "What received entries did to the learned-token table (installed, refreshed, collision, forgotten, unknown_backend, table_full, expired).");
        w.Sample(L(s["installed"]), ("result", "installed"));
        w.Sample(L(s["refreshed"]), ("result", "refreshed"));
        w.Sample(L(s["collisions"]), ("result", "collision"));
        w.Sample(L(s["forgotten"]), ("result", "forgotten"));
        w.Sample(L(s["unknownBackend"]), ("result", "unknown_backend"));
        w.Sample(L(s["tableFull"]), ("result", "table_full"));
        w.Sample(L(s["expired"]), ("result", "expired"));
        w.Family("switchyard_cluster_queue_overflows_total", Kind.Counter, "Learned-token events the workers could not queue (the re-announcement carries them).")
            .Sample(L(s["queueOverflows"]));
        w.Family("switchyard_cluster_resyncs_total", Kind.Counter, "Full re-announcements of the table started.").Sample(L(s["resyncs"]));
        if (s["pins"] is JsonObject pins)
        {
            w.Family("switchyard_cluster_pins_total", Kind.Counter,
                "Shared flow pins (issue 12 item 4): sent, received, installed, refreshed, replaced, unknown_backend.");
            w.Sample(L(pins["sent"]), ("result", "sent"));
            w.Sample(L(pins["received"]), ("result", "received"));
            w.Sample(L(pins["installed"]), ("result", "installed"));
            w.Sample(L(pins["refreshed"]), ("result", "refreshed"));
            w.Sample(L(pins["replaced"]), ("result", "replaced"));
            w.Sample(L(pins["unknownBackend"]), ("result", "unknown_backend"));
            w.Family("switchyard_cluster_pins_live", Kind.Gauge, "Live pins from peers in the shared pin table.").Sample(L(pins["live"]));
        }
        var p = s["propagationUs"]!.AsObject();
        w.Family("switchyard_cluster_propagation_seconds", Kind.Gauge, "Learn on a peer's worker to install here, over the last samples.");
        w.Sample(L(p["p50"]) / 1e6, ("quantile", "0.5"));
        w.Sample(L(p["p99"]) / 1e6, ("quantile", "0.99"));
        w.Family("switchyard_cluster_peer_last_heard_seconds", Kind.Gauge, "Seconds since a valid datagram from the peer (absent: never).");
        foreach (var peer in s["peers"]!.AsArray())
            if (peer!["lastHeardMsAgo"] is { } ago) w.Sample(ago.GetValue<long>() / 1000.0, ("peer", peer["peer"]!.ToString()));
    }
}

/// <summary>The `switchyard ctl cluster` text.</summary>
public static class ClusterText
{
    public static string Format(JsonObject s)
    {
        var sb = new StringBuilder();
        var r = s["rejected"]!;
        var p = s["propagationUs"]!;
        sb.Append($"cluster: {s["listen"]}{((bool?)s["bound"] == true ? "" : " (not bound yet)")}; sent {s["datagramsSent"]} datagram(s) / {s["entriesSent"]} entries, " +
                  $"received {s["datagramsReceived"]} / {s["entriesReceived"]}\n");
        sb.Append($"tokens from peers: {s["installed"]} installed, {s["refreshed"]} refreshed, {s["collisions"]} collision(s), {s["forgotten"]} forgotten, " +
                  $"{s["unknownBackend"]} unknown backend, {s["tableFull"]} table full\n");
        sb.Append($"rejected: {r["badMac"]} bad MAC, {r["replay"]} replay/stale, {r["malformed"]} malformed, {r["unknownPeer"]} unknown peer, {r["rateLimited"]} rate-limited; " +
                  $"queue overflows {s["queueOverflows"]}, resyncs {s["resyncs"]}\n");
        sb.Append($"propagation (learned on a peer -> installed here): p50 {p["p50"]} us, p99 {p["p99"]} us, max {p["max"]} us over {p["samples"]} sample(s)\n");
        if (s["pins"] is JsonObject pins && (bool?)pins["enabled"] == true)
            sb.Append($"flow pins (Maglev no longer reproduces them): sent {pins["sent"]}, received {pins["received"]}, installed {pins["installed"]}, " +
                      $"refreshed {pins["refreshed"]}, replaced {pins["replaced"]}, unknown backend {pins["unknownBackend"]}, queue overflows {pins["queueOverflows"]}, " +
                      $"live {pins["live"]} of {pins["capacity"]}\n");
        sb.Append("peers:\n");
        foreach (var x in s["peers"]!.AsArray())
            sb.Append($"  {x!["peer"],-40} {(x["lastHeardMsAgo"] is { } a ? $"heard {a} ms ago" : "never heard"),-22} received {x["received"]}, rejected {x["rejected"]}, restarts {x["restarts"]}\n");
        return sb.ToString();
    }
}
