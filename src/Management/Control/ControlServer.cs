using System.Net.Sockets;
using System.Text;

namespace Switchyard.Management.Control;

/// <summary>
/// The control socket: a Unix domain stream socket (mode 0600, removed on dispose), one JSON request per
/// line, one JSON answer per line (<see cref="ControlCommands"/>). One thread accepts; each connection is
/// served by a thread of its own; the commands themselves serialize on the control plane's lock. A
/// socket file left by a dead process is replaced; one another live process answers on is not (the
/// constructor throws <see cref="IOException"/>).
/// </summary>
public sealed class ControlServer : IDisposable
{
    public const int MaxRequestBytes = 64 * 1024;
    readonly Socket _listener;
    readonly ControlCommands _commands;
    readonly Action<string> _log;
    readonly Thread _accept;
    volatile bool _stopping;

    public string Path { get; }

    public ControlServer(string path, ControlCommands commands, Action<string> log)
    {
        Path = path; _commands = commands; _log = log;
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("the control socket needs Linux");
        var dir = System.IO.Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (File.Exists(path) || Directory.Exists(path))
        {
            if (Directory.Exists(path)) throw new IOException($"control socket path {path} is a directory");
            using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                try
                {
                    probe.Connect(new UnixDomainSocketEndPoint(path));
                    throw new IOException($"control socket {path} is in use by another process");
                }
                catch (SocketException) { /* nobody listens: a stale file */ }
            }
            File.Delete(path);
        }
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        // Created with the umask's mode, then narrowed before anyone is accepted.
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _listener.Listen(16);
        _accept = new Thread(AcceptLoop) { IsBackground = true, Name = "control-accept" };
        _accept.Start();
    }

    void AcceptLoop()
    {
        while (!_stopping)
        {
            Socket client;
            try { client = _listener.Accept(); }
            catch (Exception) when (_stopping) { return; }
            catch (SocketException e) { _log($"control socket: accept failed: {e.Message}"); Thread.Sleep(100); continue; }
            catch (ObjectDisposedException) { return; }
            new Thread(() => Serve(client)) { IsBackground = true, Name = "control-client" }.Start();
        }
    }

    void Serve(Socket client)
    {
        try
        {
            using var stream = new NetworkStream(client, ownsSocket: true);
            var buffer = new List<byte>();
            var chunk = new byte[4096];
            while (!_stopping)
            {
                int n = stream.Read(chunk, 0, chunk.Length);
                if (n == 0) return;
                int start = 0;
                for (int i = 0; i < n; i++)
                {
                    if (chunk[i] != (byte)'\n') continue;
                    buffer.AddRange(chunk.AsSpan(start, i - start).ToArray());
                    start = i + 1;
                    string line = Encoding.UTF8.GetString([.. buffer]).TrimEnd('\r');
                    buffer.Clear();
                    if (line.Length == 0) continue;
                    var answer = _commands.Handle(line);
                    stream.Write(Encoding.UTF8.GetBytes(answer + "\n"));
                }
                buffer.AddRange(chunk.AsSpan(start, n - start).ToArray());
                if (buffer.Count > MaxRequestBytes)
                {
                    stream.Write(Encoding.UTF8.GetBytes($"{{\"ok\":false,\"usage\":true,\"error\":\"request longer than {MaxRequestBytes} bytes\"}}\n"));
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // The client went away: nothing to answer.
        }
    }

    public void Dispose()
    {
        _stopping = true;
        try { _listener.Dispose(); } catch (SocketException) { }
        try { File.Delete(Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// Polls the configuration file (mtime + size, then SHA-256 when those changed) and reloads through the
/// control plane when its content changed. Called once a second from the management loop.
/// </summary>
public sealed class ConfigFileWatcher(string path, Func<ChangeResult> reload, Action<string> log)
{
    (DateTime Mtime, long Size) _stat = Stat(path);
    byte[] _hash = Hash(path);

    static (DateTime, long) Stat(string p)
    {
        try { var f = new FileInfo(p); return f.Exists ? (f.LastWriteTimeUtc, f.Length) : (default, -1); }
        catch (IOException) { return (default, -1); }
    }

    static byte[] Hash(string p)
    {
        try { return System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(p)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    /// <summary>Returns the reload's result when the file changed, else null.</summary>
    public ChangeResult? Poll()
    {
        var stat = Stat(path);
        if (stat == _stat) return null;
        _stat = stat;
        var hash = Hash(path);
        if (hash.AsSpan().SequenceEqual(_hash)) return null;
        _hash = hash;
        log($"configuration file {path} changed: reloading");
        var r = reload();
        log(r.Ok ? $"reload: {r.Message}" : $"reload refused, the running configuration stays: {r.Message}");
        return r;
    }
}
