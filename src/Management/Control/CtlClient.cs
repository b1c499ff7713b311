using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Switchyard.Management.Options;

namespace Switchyard.Management.Control;

/// <summary><c>switchyard ctl</c>: sends one command to the control socket and prints the answer.</summary>
public static class CtlClient
{
    public static readonly string Usage = $"""
        switchyard ctl: live operations on a running appliance (through its control socket)

        Usage:
          switchyard ctl [--socket PATH] [--json] COMMAND [ARGS...]
          switchyard ctl [--socket PATH] watch [SECONDS]     refreshing table with rates, until Ctrl-C
          switchyard ctl --socket A --socket B ... COMMAND    the same command on several appliances (a cluster), in order;
                                                           then each one's generation and Maglev digests, and whether
                                                           the digests agree (exit 1 if a command failed or they differ)

        Commands:
        {string.Join("\n", ControlCommands.Syntax.Split('\n').Select(l => "  " + l))}

        Options:
          --socket PATH   control socket (default {ControlOptions.DefaultSocket}; the appliance's Control.Socket)
          --json          print the appliance's JSON answer as is
          --help

        Every change goes through one path (validate, compile, publish, wait until every worker has passed a
        quiescent point) and is answered once it is in effect on every worker. A refused change (invalid
        value, unknown backend, setting that requires a restart) prints each JSON path and reason.
        Exit codes: 0 ok, 1 refused or failed (message on stderr), 2 usage.
        """;

    /// <summary>The first words of the commands (ControlCommands.Syntax) and watch: anything else is a usage error
    /// (exit 2) found before the socket is tried.</summary>
    static readonly string[] Commands = [.. ControlCommands.Syntax.Split('\n')
        .Where(l => l.Length > 0 && char.IsAsciiLetterLower(l[0]))   // an indented line continues a description
        .Select(l => l.Split(' ')[0]).Append("watch").Distinct()];

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string socket = ControlOptions.DefaultSocket;
        // --json is known before any error is reported, wherever it stands among the options.
        bool json = args.TakeWhile(a => a.StartsWith('-')).Contains("--json");
        var sockets = new List<string>();
        var words = new List<string>();
        int Fail(bool usage, string message)
        {
            if (json) stderr.WriteLine(new JsonObject { ["ok"] = false, ["usage"] = usage, ["error"] = message }.ToJsonString(Indented));
            else stderr.WriteLine($"switchyard ctl: {message}");
            return usage ? 2 : 1;
        }
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (words.Count > 0) { words.Add(a); continue; }
            switch (a)
            {
                case "-h" or "--help": stdout.WriteLine(Usage); return 0;
                case "--json": json = true; break;
                case "--socket" or "-s":
                    if (i + 1 >= args.Length) return Fail(true, "--socket needs a path");
                    sockets.Add(socket = args[++i]);
                    break;
                default:
                    if (a.StartsWith("--socket=", StringComparison.Ordinal)) { sockets.Add(socket = a["--socket=".Length..]); break; }
                    if (a.StartsWith('-')) return Fail(true, $"unknown option '{a}' (see switchyard ctl --help)");
                    words.Add(a);
                    break;
            }
        }
        if (words.Count == 0) return Fail(true, "no command (see switchyard ctl --help)");
        if (!Commands.Contains(words[0]))
            return Fail(true, $"unknown command '{words[0]}'; the commands are: {string.Join(", ", Commands)} (see switchyard ctl --help)");
        if (sockets.Distinct().Count() > 1)
        {
            if (words[0] == "watch") return Fail(true, "watch takes one --socket");
            return FanOut([.. sockets.Distinct()], words, json, stdout, stderr);
        }
        try
        {
            using var conn = new Connection(socket);
            if (words[0] == "watch") return Watch(conn, words, stdout, stderr);
            var answer = conn.Send(words);
            return Print(words, answer, json, stdout, stderr);
        }
        catch (SocketException e)
        {
            return Fail(false, Unreachable(socket, e));
        }
        catch (IOException e)
        {
            return Fail(false, $"control socket {socket}: {e.Message}");
        }
    }

    /// <summary>Why the control socket cannot be reached, in the operator's words (the socket error alone, e.g.
    /// "Cannot assign requested address" for a missing file, says nothing useful).</summary>
    static string Unreachable(string socket, SocketException e)
    {
        string hint = "(is the appliance running, with this Control.Socket? see --socket)";
        if (!File.Exists(socket) && !Directory.Exists(socket))
            return $"no appliance is listening on {socket} (socket file missing) {hint}";
        if ((File.GetAttributes(socket) & FileAttributes.Directory) != 0)
            return $"{socket} is a directory, not the appliance's control socket";
        return e.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => $"no appliance is listening on {socket} (the socket file is there but nobody accepts: left by a process that is gone?) {hint}",
            SocketError.AccessDenied => $"permission denied on {socket} (the control socket is for root only: run as root)",
            _ => $"cannot reach the control socket {socket}: {e.Message} {hint}",
        };
    }

    /// <summary>Issue 12, item 3: one command applied to several appliances in turn, then each one's generation and
    /// per-pool Maglev digest (ctl list), so an operator sees that a cluster change reached every appliance and that
    /// they all compute the same tables. Exit 0 only if every command succeeded and every pool's digest agrees.</summary>
    static int FanOut(IReadOnlyList<string> sockets, List<string> words, bool json, TextWriter stdout, TextWriter stderr)
    {
        var rows = new JsonArray();
        bool allOk = true;
        foreach (var s in sockets)
        {
            var row = new JsonObject { ["socket"] = s };
            try
            {
                using var conn = new Connection(s);
                var answer = conn.Send(words);
                bool ok = answer["ok"]?.GetValue<bool>() == true;
                allOk &= ok;
                row["ok"] = ok;
                row["answer"] = answer;
                var list = words[0] == "list" && ok ? answer["result"]!.AsObject() : conn.Send(["list"])["result"]?.AsObject();
                row["generation"] = list?["generation"]?.DeepClone();
                row["pools"] = list?["pools"]?.DeepClone();
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
                allOk = false;
                row["ok"] = false;
                row["answer"] = new JsonObject { ["ok"] = false, ["error"] = e is SocketException se ? Unreachable(s, se) : $"control socket {s}: {e.Message}" };
            }
            rows.Add(row);
        }
        // Pools whose digest is not the same on every appliance that answered.
        var digests = rows.Where(r => r!["pools"] is JsonArray).SelectMany(r => r!["pools"]!.AsArray().Select(p => (Pool: p!["name"]!.ToString(), Digest: p["digest"]!.ToString())))
            .GroupBy(x => x.Pool).ToDictionary(g => g.Key, g => g.Select(x => x.Digest).Distinct().ToList());
        var differ = digests.Where(kv => kv.Value.Count > 1 || rows.Count(r => r!["pools"] is JsonArray a && a.Any(p => p!["name"]!.ToString() == kv.Key)) != rows.Count)
            .Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        if (json)
        {
            stdout.WriteLine(new JsonObject { ["ok"] = allOk && differ.Count == 0, ["appliances"] = rows, ["digestsDiffer"] = new JsonArray([.. differ.Select(d => (JsonNode)d)]) }.ToJsonString(Indented));
            return allOk && differ.Count == 0 ? 0 : 1;
        }
        foreach (var r in rows)
        {
            var answer = r!["answer"]!;
            string what = r["ok"]!.GetValue<bool>() ? (answer["message"]?.ToString() ?? "ok") : $"FAILED: {answer["error"]}";
            string pools = r["pools"] is JsonArray ps ? string.Join(", ", ps.Select(p => $"{p!["name"]} {p["digest"]}")) : "-";
            stdout.WriteLine($"{r["socket"]}: {what}; generation {r["generation"]?.ToString() ?? "-"}; maglev {pools}");
        }
        stdout.WriteLine(differ.Count == 0 ? $"every pool's Maglev digest agrees on the {rows.Count} appliances"
                                           : $"Maglev digests DIFFER for pool(s): {string.Join(", ", differ)}");
        if (!allOk) stderr.WriteLine("switchyard ctl: the command failed on some appliance(s)");
        return allOk && differ.Count == 0 ? 0 : 1;
    }

    /// <summary>One connection to the control socket; requests and answers are single lines.</summary>
    public sealed class Connection : IDisposable
    {
        readonly Socket _s;
        readonly NetworkStream _stream;
        readonly StreamReader _reader;

        public Connection(string path)
        {
            _s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            _s.Connect(new UnixDomainSocketEndPoint(path));
            _stream = new NetworkStream(_s, ownsSocket: true);
            _reader = new StreamReader(_stream, Encoding.UTF8);
        }

        public JsonObject Send(IEnumerable<string> words)
        {
            var req = new JsonObject { ["args"] = new JsonArray([.. words.Select(w => (JsonNode)JsonValue.Create(w))]) };
            _stream.Write(Encoding.UTF8.GetBytes(req.ToJsonString() + "\n"));
            var line = _reader.ReadLine() ?? throw new IOException("the appliance closed the connection without answering");
            return JsonNode.Parse(line) as JsonObject ?? throw new IOException($"unexpected answer: {line}");
        }

        public void Dispose() { _reader.Dispose(); _stream.Dispose(); }
    }

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static int Print(List<string> words, JsonObject answer, bool json, TextWriter stdout, TextWriter stderr)
    {
        bool ok = answer["ok"]?.GetValue<bool>() == true;
        if (json) { (ok ? stdout : stderr).WriteLine(answer.ToJsonString(Indented)); return ok ? 0 : answer["usage"]?.GetValue<bool>() == true ? 2 : 1; }
        if (!ok)
        {
            stderr.WriteLine($"switchyard ctl: {answer["error"]}");
            if (answer["errors"] is JsonArray errs && errs.Count > 1)
                foreach (var e in errs) stderr.WriteLine($"  {e!["path"]}: {e["reason"]}");
            return answer["usage"]?.GetValue<bool>() == true ? 2 : 1;
        }
        var result = answer["result"];
        switch (words[0])
        {
            case "list": stdout.Write(FormatList(result!.AsObject(), null, 0)); break;
            case "config" or "counters": stdout.WriteLine(result!.ToJsonString(Indented)); break;
            case "bgp": stdout.Write(Switchyard.Management.Bgp.BgpText.Format(result!.AsObject())); break;
            case "cluster": stdout.Write(Switchyard.Management.Cluster.ClusterText.Format(result!.AsObject())); break;
            case "keys" when result is not null:
                stdout.WriteLine($"server id bits: {result["serverIdBits"]}; key ids: {string.Join(", ", result["keyIds"]!.AsArray().Select(x => x!.ToString()))}");
                break;
            default:
                stdout.WriteLine($"{answer["message"]} ({answer["elapsedMs"]} ms)");
                break;
        }
        return 0;
    }

    static int Watch(Connection conn, List<string> words, TextWriter stdout, TextWriter stderr)
    {
        double seconds = 1;
        if (words.Count > 2 || (words.Count == 2 && (!double.TryParse(words[1], NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) || seconds is < 0.1 or > 3600)))
        {
            stderr.WriteLine("switchyard ctl: usage: watch [SECONDS] (0.1..3600)");
            return 2;
        }
        bool tty = !Console.IsOutputRedirected;
        var stop = new ManualResetEventSlim();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Set(); };
        JsonObject? previous = null;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        double last = 0;
        while (true)
        {
            var answer = conn.Send(["list"]);
            if (answer["ok"]?.GetValue<bool>() != true) { stderr.WriteLine($"switchyard ctl: {answer["error"]}"); return 1; }
            var now = answer["result"]!.AsObject();
            double t = sw.Elapsed.TotalSeconds;
            if (tty) stdout.Write("\x1b[H\x1b[2J");
            stdout.Write($"{DateTime.UtcNow:HH:mm:ss} UTC, every {seconds} s (Ctrl-C to stop)\n");
            stdout.Write(FormatList(now, previous, t - last));
            stdout.Flush();
            previous = now; last = t;
            if (stop.Wait(TimeSpan.FromSeconds(seconds))) return 0;
        }
    }

    /// <summary>The `list` table; with a previous sample, packet and flow rates per second.</summary>
    public static string FormatList(JsonObject list, JsonObject? previous, double interval)
    {
        var sb = new StringBuilder();
        bool rates = previous is not null && interval > 0;
        sb.Append(CultureInfo.InvariantCulture, $"generation {list["generation"]}\n");
        sb.Append(CultureInfo.InvariantCulture, $"{"VIP",-24} {"ADDRESS",-28} {"PORT",5} {"PROTO",5} {"POOL",-12} {"PACKETS",12} {"NEWFLOWS",10}{(rates ? $" {"PKT/S",10} {"FLOWS/S",9}" : "")}\n");
        foreach (var v in list["vips"]!.AsArray())
        {
            string rate = rates ? Rates(v!, previous!["vips"]!.AsArray().FirstOrDefault(p => p!["name"]!.ToString() == v!["name"]!.ToString()), interval) : "";
            sb.Append(CultureInfo.InvariantCulture, $"{v!["name"],-24} {v["address"],-28} {v["port"],5} {v["protocol"],5} {v["pool"],-12} {v["packets"],12} {v["newFlows"],10}{rate}\n");
        }
        sb.Append('\n');
        if (list["pools"] is JsonArray pools && pools.Count > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{"POOL",-12} {"MAGLEV",7} {"DIGEST",-12}\n");
            foreach (var p in pools) sb.Append(CultureInfo.InvariantCulture, $"{p!["name"],-12} {p["maglevSize"],7} {p["digest"],-12}\n");
            sb.Append('\n');
        }
        sb.Append(CultureInfo.InvariantCulture, $"{"POOL",-12} {"BACKEND",-16} {"ID",4} {"ADDRESS",-28} {"WEIGHT",6} {"STATE",-9} {"ADMIN",-9} {"HEALTH",-6} {"PACKETS",12} {"NEWFLOWS",10}{(rates ? $" {"PKT/S",10} {"FLOWS/S",9}" : "")}\n");
        foreach (var b in list["backends"]!.AsArray())
        {
            string rate = rates ? Rates(b!, previous!["backends"]!.AsArray().FirstOrDefault(p => p!["pool"]!.ToString() == b!["pool"]!.ToString() && p["name"]!.ToString() == b["name"]!.ToString()), interval) : "";
            string admin = b!["admin"]!.ToString();
            if (b["drainDeadline"] is { } d) admin += $" until {d}";
            sb.Append(CultureInfo.InvariantCulture, $"{b["pool"],-12} {b["name"],-16} {b["id"],4} {b["address"],-28} {b["weight"],6} {b["state"],-9} {admin,-9} {b["health"],-6} {b["packets"],12} {b["newFlows"],10}{rate}\n");
        }
        return sb.ToString();
    }

    static string Rates(JsonNode now, JsonNode? before, double interval)
    {
        if (before is null) return $" {"-",10} {"-",9}";
        double p = (now["packets"]!.GetValue<long>() - before["packets"]!.GetValue<long>()) / interval;
        double f = (now["newFlows"]!.GetValue<long>() - before["newFlows"]!.GetValue<long>()) / interval;
        return string.Create(CultureInfo.InvariantCulture, $" {p,10:0} {f,9:0}");
    }
}
