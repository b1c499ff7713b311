using System.Net;
using System.Net.Sockets;
using Switchyard.Dataplane.Native;
using Switchyard.Management.Host;
using Switchyard.Management.Options;

namespace Switchyard.Management.Observability;

/// <summary>
/// The appliance's observability: the HTTP endpoint (GET /metrics in the Prometheus text format,
/// GET /counters with the counters JSON) and the /switchyard/... DPDK telemetry commands, refreshed
/// every <c>TelemetryIntervalSeconds</c> by a background thread of its own. Failures are logged and
/// never stop the appliance: an address already in use leaves the appliance running without the
/// endpoint. Nothing here touches the workers; it only reads what the sources give.
/// </summary>
public sealed class ObservabilityService : IDisposable
{
    readonly ObservabilityOptions _o;
    readonly ObservabilitySources _src;
    readonly Action<string> _log;
    MetricsHttpServer? _http;
    Thread? _refresher;
    readonly ManualResetEventSlim _stop = new();
    bool _telemetry;

    public ObservabilityService(ObservabilityOptions options, ObservabilitySources sources, Action<string> log)
    {
        _o = options; _src = sources; _log = log;
    }

    /// <summary>Right after rte_eal_init, before the workers start: with PacketCapture on, keeps DPDK's
    /// multi-process channel open for dpdk-dumpcap, and says in the log what capture will and will not do.</summary>
    public static void PrepareEal(ObservabilityOptions o, bool hugepages, Action<string> log)
    {
        if (!o.PacketCapture)
        {
            log("packet capture: off (Observability.PacketCapture); dpdk-dumpcap cannot attach");
            return;
        }
        Telemetry.KeepMultiProcessOpen();
        log(hugepages
            ? "packet capture: on; dpdk-dumpcap can attach (workers run without DPDK lcore ids, hence without mempool caches)"
            : "packet capture: on, but EAL runs with --no-huge: dpdk-dumpcap cannot attach without hugepages");
    }

    /// <summary>The HTTP endpoint's address, once started (null when disabled or when binding failed).</summary>
    public IPEndPoint? Endpoint => _http?.Endpoint;

    /// <summary>Binds the endpoint and registers the telemetry commands (when DPDK's EAL is up), each
    /// independently: a failure is logged with its reason and the other still starts.</summary>
    public void Start()
    {
        if (!string.IsNullOrEmpty(_o.PrometheusListen))
        {
            if (!OptionsValidator.TryParseListen(_o.PrometheusListen, out var ep, out string? why))
                _log($"metrics endpoint disabled: Observability.PrometheusListen '{_o.PrometheusListen}' {why}");
            else
            {
                try
                {
                    _http = new MetricsHttpServer(ep!, _o.MaxConnections, Handle);
                    _http.Start();
                    string host = _http.Endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{_http.Endpoint.Address}]" : _http.Endpoint.Address.ToString();
                    _log($"metrics: serving http://{host}:{_http.Endpoint.Port}/metrics and /counters");
                }
                catch (SocketException e)
                {
                    _log($"metrics endpoint disabled: cannot listen on {_o.PrometheusListen}: {e.Message}");
                }
            }
        }
        if (_o.Telemetry && Dpdk.IsInitialised)
        {
            try
            {
                Telemetry.Register();
                Telemetry.Publish(TelemetryDocument.Render(_src));
                _telemetry = true;
                _log("telemetry: /switchyard/info, /switchyard/vips, /switchyard/vip,<name>, /switchyard/backends, " +
                     "/switchyard/backend,<id>, /switchyard/workers, /switchyard/worker,<core>, /switchyard/drops[,<core>] registered");
            }
            catch (Exception e) when (e is DpdkException or DllNotFoundException or EntryPointNotFoundException)
            {
                _log($"telemetry commands unavailable: {e.Message}");
            }
        }
        if (_telemetry)
        {
            _refresher = new Thread(Refresh) { IsBackground = true, Name = "switchyard-telemetry" };
            _refresher.Start();
        }
    }

    void Refresh()
    {
        var interval = TimeSpan.FromSeconds(Math.Max(1, _o.TelemetryIntervalSeconds));
        while (!_stop.Wait(interval))
        {
            try { Telemetry.Publish(TelemetryDocument.Render(_src)); }
            catch (Exception e) { _log($"telemetry refresh failed: {e.Message}"); }
        }
    }

    /// <summary>Publishes the telemetry state now (e.g. right after a new snapshot).</summary>
    public void RefreshTelemetry()
    {
        if (_telemetry) Telemetry.Publish(TelemetryDocument.Render(_src));
    }

    HttpReply Handle(string path) => path switch
    {
        "/metrics" => new HttpReply(200, PrometheusWriter.ContentType, Metrics.Render(_src)),
        "/counters" => new HttpReply(200, "application/json; charset=utf-8",
            CountersReport.ToJson(_src.Snapshot(), _src.Workers, _src.Ports(), _src.Uptime(), final: false)),
        "/" => new HttpReply(200, "text/plain; charset=utf-8", "switchyard: GET /metrics (Prometheus text format 0.0.4) or /counters (JSON)\n"),
        _ => new HttpReply(404, "text/plain; charset=utf-8", $"Not Found: {path}; try /metrics or /counters\n"),
    };

    /// <summary>Stops the endpoint and the refresher. The telemetry commands stay registered (DPDK cannot
    /// unregister them) and keep answering from the last publication, which never calls into .NET.</summary>
    public void Dispose()
    {
        _stop.Set();
        _refresher?.Join(TimeSpan.FromSeconds(5));
        _http?.Dispose();
        _http = null;
    }
}
