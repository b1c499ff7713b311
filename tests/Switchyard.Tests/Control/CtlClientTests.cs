using Switchyard.Management.Control;
using Switchyard.Tests.Pipeline;

namespace Switchyard.Tests.Control;

/// <summary>`switchyard ctl` argument handling and the protocol's error answers (no appliance needed).</summary>
public class CtlClientTests
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CtlClient.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Help_usage_and_unreachable_socket_have_their_exit_codes()
    {
        var help = Run("--help");
        Assert.Equal(0, help.Code);
        foreach (var word in new[] { "list", "backend add", "backend drain", "keys rotate", "reload", "config", "counters", "watch", "Exit codes" })
            Assert.Contains(word, help.Out);
        Assert.Equal(2, Run().Code);
        Assert.Equal(2, Run("--bogus", "list").Code);
        Assert.Equal(2, Run("--socket").Code);
        var unreachable = Run("--socket", "/nonexistent/switchyard.sock", "list");
        Assert.Equal(1, unreachable.Code);
        Assert.Contains("/nonexistent/switchyard.sock", unreachable.Err);
    }

    [Fact]
    public void No_appliance_is_said_in_words_and_in_json_with_json()
    {
        string dir = Directory.CreateTempSubdirectory("pk-ctl-").FullName;
        try
        {
            string sock = Path.Combine(dir, "switchyard.sock");
            var missing = Run("--socket", sock, "list");
            Assert.Equal(1, missing.Code);
            Assert.StartsWith($"switchyard ctl: no appliance is listening on {sock} (socket file missing)", missing.Err);
            Assert.DoesNotContain("Cannot assign requested address", missing.Err);

            var json = Run("--json", "--socket", sock, "list");
            Assert.Equal(1, json.Code);
            var o = System.Text.Json.Nodes.JsonNode.Parse(json.Err)!.AsObject();
            Assert.False(o["ok"]!.GetValue<bool>());
            Assert.False(o["usage"]!.GetValue<bool>());
            Assert.StartsWith($"no appliance is listening on {sock} (socket file missing)", o["error"]!.GetValue<string>());

            // A socket file nobody accepts on (as one left by a process that is gone): bound, never listening.
            using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            s.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(sock));
            var stale = Run("--socket", sock, "list");
            Assert.Equal(1, stale.Code);
            Assert.Contains($"no appliance is listening on {sock} (the socket file is there but nobody accepts", stale.Err);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void An_unknown_command_is_a_usage_error_before_the_socket_is_tried()
    {
        var r = Run("--socket", "/nonexistent/switchyard.sock", "frobnicate");
        Assert.Equal(2, r.Code);
        Assert.StartsWith("switchyard ctl: unknown command 'frobnicate'; the commands are: list, backend, ", r.Err);
        // Every command of the help text is offered (the list is read from ControlCommands.Syntax, so new ones join it).
        var offered = r.Err[(r.Err.IndexOf("the commands are: ", StringComparison.Ordinal) + "the commands are: ".Length)..r.Err.IndexOf(" (see", StringComparison.Ordinal)];
        Assert.All(offered.Split(", "), c => Assert.Matches("^[a-z]+$", c));
        Assert.Superset(new HashSet<string> { "list", "backend", "keys", "quic", "reload", "config", "counters", "bgp", "appliance", "cluster", "watch" }, offered.Split(", ").ToHashSet());
        var json = Run("--json", "--socket", "/nonexistent/switchyard.sock", "frobnicate");
        Assert.Equal(2, json.Code);
        var o = System.Text.Json.Nodes.JsonNode.Parse(json.Err)!.AsObject();
        Assert.True(o["usage"]!.GetValue<bool>());
        Assert.StartsWith("unknown command 'frobnicate'", o["error"]!.GetValue<string>());
        // Usage errors of the options are JSON too with --json.
        var opt = Run("--json", "--bogus", "list");
        Assert.Equal(2, opt.Code);
        Assert.Equal("unknown option '--bogus' (see switchyard ctl --help)", System.Text.Json.Nodes.JsonNode.Parse(opt.Err)!["error"]!.GetValue<string>());
    }

    [Fact]
    public void Malformed_requests_get_usage_errors_and_refusals_name_the_path()
    {
        using var h = new ControlHarness();
        var c = new ControlCommands(h.Control);
        Assert.Contains("\"usage\":true", c.Handle("not json"));
        Assert.Contains("\"usage\":true", c.Handle("[1,2]"));
        Assert.Contains("\"usage\":true", c.Handle("{\"args\":[1]}"));
        Assert.Contains("\"usage\":true", c.Handle("{\"args\":[]}"));
        Assert.Contains("\"usage\":true", c.Handle("{\"args\":[\"backend\",\"set\",\"web\",\"w1\",\"weight\",\"x\"]}"));
        Assert.Contains("\"usage\":true", c.Handle("{\"args\":[\"backend\",\"drain\",\"web\",\"w1\",\"deadline\"]}"));
        Assert.Contains("\"usage\":true", c.Handle("{\"args\":[\"keys\",\"rotate\",\"7\",\"00\"]}"));
        var refused = c.Handle("{\"args\":[\"backend\",\"add\",\"web\",\"w9\",\"10.0.0.999\",\"mac\",\"02:00:00:00:00:99\"]}");
        Assert.Contains("\"usage\":false", refused);
        Assert.Contains("Pools[0].Backends[3].Address", refused);
        Assert.Contains("not available", c.Handle("{\"args\":[\"counters\"]}"));
        var ok = c.Handle("{\"args\":[\"backend\",\"drain\",\"web\",\"w1\",\"deadline\",\"5\"]}");
        Assert.Contains("\"ok\":true", ok);
        Assert.Contains("\"quiescent\":true", ok);
        var list = c.Handle("{\"args\":[\"list\"]}");
        Assert.Contains("\"state\":\"draining\"", list);
        Assert.Contains("\"http\"", list);
    }

    [Fact]
    public void The_watch_table_shows_state_and_rates_between_two_samples()
    {
        using var h = new ControlHarness();
        var c = new ControlCommands(h.Control);
        System.Text.Json.Nodes.JsonObject Sample() =>
            System.Text.Json.Nodes.JsonNode.Parse(c.Handle("{\"args\":[\"list\"]}"))!["result"]!.AsObject();
        var before = Sample();
        h.Open(30);
        Assert.True(h.Control.Disable("web", "w2").Ok);
        var after = Sample();
        var table = CtlClient.FormatList(after, before, 2.0);
        Assert.Contains("PKT/S", table);
        var w2 = table.Split('\n').Single(l => l.StartsWith("web ") && l.Contains(" w2 "));
        Assert.Contains("disabled", w2);
        long flows = after["backends"]!.AsArray().Single(b => b!["name"]!.ToString() == "w1")!["newFlows"]!.GetValue<long>();
        Assert.True(flows > 0);
        var w1 = table.Split('\n').Single(l => l.StartsWith("web ") && l.Contains(" w1 "));
        Assert.EndsWith($"{flows / 2.0,9:0}", w1);     // flows per second over the 2 s between the samples
    }
}
