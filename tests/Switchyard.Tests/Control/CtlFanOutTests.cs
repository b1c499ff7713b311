using System.Text.Json.Nodes;
using Switchyard.Management.Control;

namespace Switchyard.Tests.Control;

/// <summary>Issue 12, item 3: `ctl list` shows a digest of each pool's Maglev table (by backend name, so appliances with
/// different backend-id histories agree), and `ctl --socket A --socket B ... COMMAND` applies one change to several
/// appliances and reports each one's generation and digests.</summary>
public class CtlFanOutTests
{
    sealed class Appliance : IDisposable
    {
        public ControlHarness Harness { get; } = new();
        public string Socket { get; } = Path.Combine(Path.GetTempPath(), $"cs-ctl-{Guid.NewGuid():N}.sock");
        readonly ControlServer _server;
        public Appliance() { _server = new ControlServer(Socket, new ControlCommands(Harness.Control), _ => { }); }
        public string Digest(string pool = "web") =>
            JsonNode.Parse(new ControlCommands(Harness.Control).Handle("{\"args\":[\"list\"]}"))!["result"]!["pools"]!.AsArray()
                .Single(p => p!["name"]!.ToString() == pool)!["digest"]!.ToString();
        public void Dispose() { _server.Dispose(); Harness.Dispose(); File.Delete(Socket); }
    }

    static (int Code, string Out, string Err) Ctl(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CtlClient.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void One_change_reaches_several_appliances_and_their_maglev_digests_agree_or_the_difference_is_reported()
    {
        using var a = new Appliance();
        using var b = new Appliance();
        Assert.Equal(a.Digest(), b.Digest());
        Assert.Matches("^[0-9a-f]{12}$", a.Digest());
        // b's backend ids diverge from a's (a backend added and removed there only): ids differ, tables mean the same.
        Assert.Equal(0, Ctl("--socket", b.Socket, "backend", "add", "web", "tmp", "10.0.0.77", "mac", "02:00:00:00:00:77").Code);
        Assert.NotEqual(a.Digest(), b.Digest());
        Assert.Equal(0, Ctl("--socket", b.Socket, "backend", "del", "web", "tmp").Code);
        Assert.Equal(a.Digest(), b.Digest());

        var before = a.Digest();
        var add = Ctl("--socket", a.Socket, "--socket", b.Socket, "backend", "add", "web", "w9", "10.0.0.99", "mac", "02:00:00:00:00:99");
        Assert.True(add.Code == 0, add.Out + add.Err);
        Assert.Contains("every pool's Maglev digest agrees on the 2 appliances", add.Out);
        Assert.NotEqual(before, a.Digest());
        Assert.Equal(a.Digest(), b.Digest());
        foreach (var s in new[] { a.Socket, b.Socket }) Assert.Contains($"{s}: ", add.Out);
        Assert.Contains($"web {a.Digest()}", add.Out);

        // A change made on one appliance only: the fan-out's `list` shows the pools whose digests differ, exit 1.
        Assert.Equal(0, Ctl("--socket", a.Socket, "backend", "set", "web", "w9", "weight", "5").Code);
        var list = Ctl("--socket", a.Socket, "--socket", b.Socket, "--json", "list");
        Assert.Equal(1, list.Code);
        var json = JsonNode.Parse(list.Out)!;
        Assert.Equal("web", Assert.Single(json["digestsDiffer"]!.AsArray())!.ToString());
        Assert.Equal(2, json["appliances"]!.AsArray().Count);
        Assert.All(json["appliances"]!.AsArray(), r => Assert.True(r!["generation"]!.GetValue<long>() > 1));

        // A failing appliance (unreachable socket) fails the fan-out and is named.
        var gone = Ctl("--socket", a.Socket, "--socket", "/nonexistent/cs.sock", "backend", "set", "web", "w9", "weight", "5");
        Assert.Equal(1, gone.Code);
        Assert.Contains("/nonexistent/cs.sock: FAILED", gone.Out);
        Assert.Equal(2, Ctl("--socket", a.Socket, "--socket", b.Socket, "watch").Code);
    }

    [Fact]
    public void The_list_table_shows_each_pools_digest()
    {
        using var h = new ControlHarness();
        var list = JsonNode.Parse(new ControlCommands(h.Control).Handle("{\"args\":[\"list\"]}"))!["result"]!.AsObject();
        var table = CtlClient.FormatList(list, null, 0);
        var pool = list["pools"]!.AsArray()[0]!;
        Assert.Contains("DIGEST", table);
        Assert.Contains(pool["digest"]!.ToString(), table);
        // The digest follows the flow-hash seed too: appliances with different seeds would send moved flows elsewhere.
        using var other = new ControlHarness(o => o.Dataplane.FlowHashSeed ^= 1);
        var otherList = JsonNode.Parse(new ControlCommands(other.Control).Handle("{\"args\":[\"list\"]}"))!["result"]!;
        Assert.NotEqual(pool["digest"]!.ToString(), otherList["pools"]![0]!["digest"]!.ToString());
    }
}
