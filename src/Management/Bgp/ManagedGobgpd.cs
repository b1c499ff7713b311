using System.Diagnostics;
using Switchyard.Management.Options;

namespace Switchyard.Management.Bgp;

/// <summary>
/// gobgpd as a child of the appliance (Bgp.Daemon.Manage): started with its gRPC API on Bgp.GrpcAddress and no
/// configuration file (the announcer configures it through the API), restarted a second after it dies, killed
/// at exit. It runs in the appliance's network namespace, so BGP leaves through the exception path's tap.
/// </summary>
sealed class ManagedGobgpd : IDisposable
{
    readonly GobgpdOptions _o;
    readonly string _api;
    readonly Action<string> _log;
    readonly Thread _thread;
    volatile bool _stop;
    Process? _process;
    readonly object _gate = new();

    public ManagedGobgpd(GobgpdOptions o, string api, Action<string> log)
    {
        _o = o; _api = api; _log = log;
        _thread = new Thread(Supervise) { IsBackground = true, Name = "sy-gobgpd" };
    }

    public int Restarts { get; private set; }
    const string SetPriv = "/usr/bin/setpriv";

    public void Start() => _thread.Start();

    void Supervise()
    {
        while (!_stop)
        {
            Process p;
            try
            {
                // setpriv --pdeathsig KILL (util-linux): gobgpd dies with the appliance even on SIGKILL, so its BGP
                // sessions never outlive the dataplane they announce (a killed appliance must not keep attracting traffic).
                var psi = new ProcessStartInfo(File.Exists(SetPriv) ? SetPriv : _o.Path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                if (File.Exists(SetPriv)) foreach (var a in new[] { "--pdeathsig", "KILL", "--", _o.Path }) psi.ArgumentList.Add(a);
                psi.ArgumentList.Add($"--api-hosts={_api}");
                psi.ArgumentList.Add("--log-plain");
                psi.ArgumentList.Add("--pprof-disable");
                foreach (var a in _o.Args) psi.ArgumentList.Add(a);
                p = Process.Start(psi) ?? throw new InvalidOperationException("Process.Start returned null");
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                _log($"bgp: cannot start gobgpd ({_o.Path}): {e.Message}; retrying in 5 s");
                for (int i = 0; i < 50 && !_stop; i++) Thread.Sleep(100);
                continue;
            }
            lock (_gate) _process = p;
            _log($"bgp: started gobgpd (pid {p.Id}, API {_api})");
            p.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } d && d.Contains("level=error", StringComparison.Ordinal)) _log($"gobgpd: {d}"); };
            p.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } d && d.Contains("level=error", StringComparison.Ordinal)) _log($"gobgpd: {d}"); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            p.WaitForExit();
            if (_stop) break;
            _log($"bgp: gobgpd (pid {p.Id}) exited with code {p.ExitCode}; restarting in 1 s");
            Restarts++;
            for (int i = 0; i < 10 && !_stop; i++) Thread.Sleep(100);
        }
    }

    public void Dispose()
    {
        _stop = true;
        lock (_gate)
        {
            try { if (_process is { HasExited: false }) { _process.Kill(); _process.WaitForExit(3000); } }
            catch (InvalidOperationException) { }
        }
        _thread.Join(TimeSpan.FromSeconds(5));
    }
}
