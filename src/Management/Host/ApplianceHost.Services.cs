using Switchyard.Management.Control;

namespace Switchyard.Management.Host;

public sealed partial class ApplianceHost
{
    /// <summary>What runs beside the workers, off their cores: health checks, metrics and telemetry, the control
    /// socket and the configuration file watch. Every change they make goes through the control plane.</summary>
    sealed class Services : IDisposable
    {
        public required CountersReport.WorkerView[] Views { get; init; }
        public required Health.HealthChecker Health { get; init; }
        public required Observability.ObservabilityService Observability { get; init; }
        public ControlServer? ControlSocket { get; set; }
        public ConfigFileWatcher? Watcher { get; init; }
        public long HealthSeenGeneration { get; set; }
        public required StartedPorts Ports { get; init; }

        public static Services Start(ApplianceHost host, ControlPlane control, List<HostWorker> workers, StartedPorts ports)
        {
            var o = host._o;
            var views = workers.Select(w => new CountersReport.WorkerView(w.Loop.Core, w.Counters)).ToArray();
            // Health checks run off the worker cores; every transition goes through the control plane's one change path.
            var health = new Health.HealthChecker(control.Running, t =>
            {
                var r = control.SetHealth(t.Pool, t.Backend, t.Up, t.Reason);
                if (!r.Ok) host.Log($"health {t.Pool}/{t.Backend} {(t.Up ? "up" : "down")} not applied: {r.Message}");
            }, host._log);
            health.Start();
            var observability = new Observability.ObservabilityService(o.Observability,
                new(() => control.Current, views, () => host.PortStats(ports), () => host._uptime.Elapsed,
                    BackendStates: () => control.Backends().Select(b => (b.Pool, b.Name, b.State.ToString().ToLowerInvariant())),
                    Health: health.Backends,
                    Bgp: host._scaleOut is { Enabled: true } so ? () => new(so.Announcer?.Status ?? Bgp.BgpStatus.Off, so.Exception?.Counters) : null,
                    Cluster: () => host._scaleOut?.TokenSync?.StatusJson()), host.Log);
            observability.Start();
            var socket = host.StartControlServer(control,
                () => host.WithBgp(CountersReport.ToJson(control.Current, views, host.PortStats(ports), host._uptime.Elapsed, final: false)));
            var watcher = host._configPath is { } path && o.Control.WatchConfigFile
                ? new ConfigFileWatcher(path, () => control.Reload(path, host._configArgs, what: "reload (file changed)"), host.Log) : null;
            return new Services
            {
                Views = views, Health = health, Observability = observability, ControlSocket = socket, Watcher = watcher,
                HealthSeenGeneration = control.Current.Generation, Ports = ports,
            };
        }

        public void StopControlSocket()
        {
            ControlSocket?.Dispose();
            ControlSocket = null;
        }

        public void Dispose()
        {
            StopControlSocket();
            Observability.Dispose();
            Health.Dispose();
        }
    }

    ControlServer? StartControlServer(ControlPlane control, Func<string> counters)
    {
        if (string.IsNullOrEmpty(_o.Control.Socket)) { Log("control socket: off (Control.Socket is empty)"); return null; }
        var commands = new ControlCommands(control, counters, _configPath is null ? null : () => (_configPath, _configArgs)) { ScaleOut = _scaleOut };
        try
        {
            var server = new ControlServer(_o.Control.Socket, commands, Log);
            Log($"control socket: {server.Path} (switchyard ctl --socket {server.Path} ...)");
            return server;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            // The appliance still forwards; only live operations are unavailable, and the log says why.
            Log($"control socket {_o.Control.Socket} not available, running without live operations: {e.Message}");
            return null;
        }
    }
}
