using System.Net;
using System.Net.Sockets;
using System.Text;
using Switchyard.Management.Observability;
using Switchyard.Management.Options;
using Switchyard.Tests.Config;

namespace Switchyard.Tests.Observability;

public class MetricsHttpServerTests
{
    static MetricsHttpServer Start(Func<string, HttpReply>? handler = null, int max = 8)
    {
        var s = new MetricsHttpServer(new IPEndPoint(IPAddress.Loopback, 0), max,
            handler ?? (p => p == "/metrics" ? new HttpReply(200, PrometheusWriter.ContentType, "up 1\n") : new HttpReply(404, "text/plain", "no\n")));
        s.Start();
        return s;
    }

    /// <summary>Sends raw bytes, half-closes, reads the whole reply (the server always closes).</summary>
    static string Raw(IPEndPoint ep, byte[] request, bool halfClose = true)
    {
        using var c = new TcpClient();
        c.Connect(ep);
        c.ReceiveTimeout = 15000;
        var st = c.GetStream();
        st.Write(request);
        if (halfClose) c.Client.Shutdown(SocketShutdown.Send);
        using var ms = new MemoryStream();
        // A connection the server refuses (all slots taken) may end in a reset: that reads as "no reply".
        try { st.CopyTo(ms); } catch (IOException) { }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static string Raw(IPEndPoint ep, string request) => Raw(ep, Encoding.ASCII.GetBytes(request));

    [Fact]
    public async Task Get_metrics_answers_200_with_the_prometheus_content_type_and_length()
    {
        using var s = Start();
        using var http = new HttpClient();
        var r = await http.GetAsync($"http://127.0.0.1:{s.Endpoint.Port}/metrics?x=1");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", r.Content.Headers.ContentType!.ToString());
        Assert.Equal(5, r.Content.Headers.ContentLength);
        Assert.Equal("up 1\n", await r.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://127.0.0.1:{s.Endpoint.Port}/nope")).StatusCode);
    }

    [Fact]
    public void Head_gets_headers_only_and_other_methods_get_405()
    {
        using var s = Start();
        string head = Raw(s.Endpoint, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", head);
        Assert.Contains("Content-Length: 5\r\n", head);
        Assert.EndsWith("\r\n\r\n", head);
        Assert.StartsWith("HTTP/1.1 405 ", Raw(s.Endpoint, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"));
    }

    [Fact]
    public void Garbage_oversized_and_truncated_requests_get_an_error_or_a_close_and_the_server_keeps_serving()
    {
        using var s = Start();
        var rnd = new Random(4);
        for (int i = 0; i < 20; i++)
        {
            var junk = new byte[rnd.Next(1, 600)];
            rnd.NextBytes(junk);
            string r = Raw(s.Endpoint, [.. junk, .. "\r\n\r\n"u8.ToArray()]);
            Assert.StartsWith("HTTP/1.1 400 ", r);
        }
        Assert.StartsWith("HTTP/1.1 400 ", Raw(s.Endpoint, "GET\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 400 ", Raw(s.Endpoint, "GET /metrics SPDY/3\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 431 ", Raw(s.Endpoint, "GET /metrics HTTP/1.1\r\nX: " + new string('a', 10000) + "\r\n\r\n"));
        Assert.Equal("", Raw(s.Endpoint, "GET /metr"));            // closed before the head ended: no reply
        Assert.Equal("", Raw(s.Endpoint, Array.Empty<byte>()));
        Assert.StartsWith("HTTP/1.1 200 OK", Raw(s.Endpoint, "GET /metrics HTTP/1.0\n\n")); // bare LF line ends
    }

    [Fact]
    public void A_handler_exception_is_a_500_not_a_crash()
    {
        using var s = Start(_ => throw new InvalidOperationException("boom"));
        string r = Raw(s.Endpoint, "GET /metrics HTTP/1.1\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 500 ", r);
        Assert.Contains("boom", r);
    }

    [Fact]
    public void Slow_clients_holding_every_slot_are_dropped_after_the_head_timeout_and_extra_connections_closed()
    {
        using var s = Start(max: 4);
        var idle = Enumerable.Range(0, 4).Select(_ => { var c = new TcpClient(); c.Connect(s.Endpoint); c.GetStream().Write("GET /met"u8); return c; }).ToList();
        try
        {
            Thread.Sleep(300);
            // All four slots are taken: a fifth connection is closed at once without an answer.
            Assert.Equal("", Raw(s.Endpoint, "GET /metrics HTTP/1.1\r\n\r\n"));
            Assert.True(s.Refused >= 1);
            // After the head timeout the idle ones are gone and requests are served again.
            var deadline = DateTime.UtcNow + MetricsHttpServer.HeadTimeout + TimeSpan.FromSeconds(10);
            string r = "";
            while (DateTime.UtcNow < deadline && !r.StartsWith("HTTP/1.1 200"))
            {
                Thread.Sleep(250);
                r = Raw(s.Endpoint, "GET /metrics HTTP/1.1\r\n\r\n");
            }
            Assert.StartsWith("HTTP/1.1 200 OK", r);
            foreach (var c in idle)
            {
                c.ReceiveTimeout = 2000;
                Assert.Equal(0, c.GetStream().Read(new byte[16])); // the server closed it
            }
        }
        finally { foreach (var c in idle) c.Dispose(); }
    }

    [Fact]
    public async Task Many_concurrent_requests_are_all_answered()
    {
        using var s = Start(max: 64);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16 });
        var tasks = Enumerable.Range(0, 200).Select(_ => http.GetStringAsync($"http://127.0.0.1:{s.Endpoint.Port}/metrics"));
        var bodies = await Task.WhenAll(tasks);
        Assert.All(bodies, b => Assert.Equal("up 1\n", b));
    }

    [Fact]
    public void Binding_a_taken_port_throws_a_socket_exception()
    {
        using var s = Start();
        Assert.Throws<SocketException>(() => new MetricsHttpServer(s.Endpoint, 4, _ => default));
    }
}

public class ObservabilityOptionsTests
{
    static IEnumerable<string> Paths(params string[] args) => ConfigFixtures.ErrorsWith(args).Select(e => e.Path);

    [Fact]
    public void Defaults_are_valid_and_listen_on_loopback_9469()
    {
        var o = ConfigFixtures.Load(ConfigFixtures.ValidJson).Options.Observability;
        Assert.Equal("127.0.0.1:9469", o.PrometheusListen);
        Assert.True(o.Telemetry);
        Assert.Empty(ConfigFixtures.ErrorsWith());
    }

    [Theory]
    [InlineData("[::1]:9469")]
    [InlineData("localhost:0")]
    [InlineData("127.0.0.2:80")]
    [InlineData("")]
    public void Loopback_addresses_and_empty_are_accepted(string listen) =>
        Assert.Empty(ConfigFixtures.ErrorsWith($"--Observability:PrometheusListen={listen}"));

    [Fact]
    public void A_non_loopback_address_is_refused_unless_explicitly_allowed()
    {
        var e = ConfigFixtures.ErrorsWith("--Observability:PrometheusListen=0.0.0.0:9469");
        var err = Assert.Single(e);
        Assert.Equal("Observability.PrometheusListen", err.Path);
        Assert.Contains("AllowNonLoopback", err.Reason);
        Assert.Empty(ConfigFixtures.ErrorsWith("--Observability:PrometheusListen=0.0.0.0:9469", "--Observability:AllowNonLoopback=true"));
    }

    [Theory]
    [InlineData("9469")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:-1")]
    [InlineData("::1:9469")]
    [InlineData("example.com:9469")]
    public void Malformed_listen_addresses_are_refused_with_the_path(string listen) =>
        Assert.Equal(["Observability.PrometheusListen"], Paths($"--Observability:PrometheusListen={listen}"));

    [Fact]
    public void Interval_and_connection_limits_are_checked()
    {
        Assert.Equal(["Observability.TelemetryIntervalSeconds"], Paths("--Observability:TelemetryIntervalSeconds=0"));
        Assert.Equal(["Observability.MaxConnections"], Paths("--Observability:MaxConnections=0"));
    }
}
