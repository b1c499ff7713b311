using System.Text;
using System.Text.Json.Nodes;
using Switchyard.Management.Observability;
using static Switchyard.Management.Observability.PrometheusWriter;

namespace Switchyard.Management.Bgp;

/// <summary>The BGP and exception-path families of /metrics (issue 12).</summary>
public static class BgpMetrics
{
    public sealed record Sample(BgpStatus Status, ExceptionPathCounters? Exception);

    public static void Write(PrometheusWriter w, Sample s)
    {
        var b = s.Status;
        if (b.Enabled)
        {
            w.Family("switchyard_bgp_daemon_up", Kind.Gauge, "1 while gobgpd's gRPC API answers, else 0 (forwarding continues either way).")
                .Sample(b.DaemonUp ? 1 : 0, ("daemon", b.Daemon));
            w.Family("switchyard_bgp_session_established", Kind.Gauge, "1 when the BGP session with the neighbour is established.");
            foreach (var n in b.Sessions) w.Sample(n.State == "established" ? 1 : 0, ("neighbor", n.Neighbor), ("state", n.State));
            w.Family("switchyard_bgp_announced", Kind.Gauge, "1 while the VIP prefix is announced, 0 while it is withdrawn.");
            foreach (var p in b.Prefixes) w.Sample(p.Announced ? 1 : 0, ("prefix", p.Prefix), ("next_hop", p.NextHop));
            w.Family("switchyard_bgp_drained", Kind.Gauge, "1 while the appliance is drained (ctl appliance drain) or stopping.")
                .Sample(b.Mode is "drained" or "stopping" ? 1 : 0);
            w.Family("switchyard_bgp_announcements_total", Kind.Counter, "Routes added to gobgpd.").Sample(b.Announcements);
            w.Family("switchyard_bgp_withdrawals_total", Kind.Counter, "Routes withdrawn through gobgpd.").Sample(b.Withdrawals);
            w.Family("switchyard_bgp_daemon_errors_total", Kind.Counter, "Failed calls to gobgpd's API.").Sample(b.DaemonErrors);
        }
        if (s.Exception is { } x)
        {
            w.Family("switchyard_exception_frames_total", Kind.Counter, "Frames moved by the exception path's thread, by direction.");
            w.Sample(x.ToKernel, ("direction", "to_kernel"));
            w.Sample(x.FromKernel, ("direction", "from_kernel"));
            w.Family("switchyard_exception_dropped_total", Kind.Counter, "Frames the exception path's thread dropped, by where.");
            w.Sample(x.TapTxDropped, ("where", "tap_tx"));
            w.Sample(x.FromKernelDropped, ("where", "from_kernel_ring"));
        }
    }
}

/// <summary>The `switchyard ctl bgp` table.</summary>
public static class BgpText
{
    public static string Format(JsonObject s)
    {
        var sb = new StringBuilder();
        sb.Append($"bgp: {s["mode"]}, gobgpd {s["daemon"]} {((bool?)s["daemonUp"] == true ? "up" : $"DOWN ({s["daemonError"]})")}; " +
                  $"{s["announcements"]} announcement(s), {s["withdrawals"]} withdrawal(s)\n");
        sb.Append("sessions:\n");
        foreach (var x in s["sessions"]!.AsArray())
            sb.Append($"  {x!["neighbor"],-40} AS {x["peerAs"],-10} {x["state"],-12} since {x["since"] ?? "-"}\n");
        sb.Append("prefixes:\n");
        foreach (var p in s["prefixes"]!.AsArray())
            sb.Append($"  {p!["prefix"],-44} {((bool?)p["announced"] == true ? "announced" : "withdrawn"),-10} via {p["nextHop"],-16} {p["reason"]}\n");
        if (s["exceptionPath"] is JsonObject e)
            sb.Append($"exception path: {e["interface"]}: {e["toKernel"]} to the kernel, {e["fromKernel"]} from it, " +
                      $"{e["tapTxDropped"]} + {e["fromKernelDropped"]} dropped\n");
        return sb.ToString();
    }
}
