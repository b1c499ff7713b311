using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Management.Compile;
using Switchyard.Management.Options;
using Switchyard.Minting;
using static Switchyard.Tests.Config.ConfigFixtures;

namespace Switchyard.Tests.Config;

/// <summary>The MPTCP settings: each mistake reported at its JSON path, and a valid configuration compiled.</summary>
public class MptcpConfigTests
{
    const string Key0 = "000102030405060708090a0b0c0d0e0f", Key1 = "f0e0d0c0b0a090807060504030201000";

    public const string MptcpJson = """
    {
      "Eal": { "Vdevs": [ "net_null0", "net_null1" ], "Hugepages": "off" },
      "Ports": [
        { "Name": "outside", "Device": "net_null0", "Addresses": [ "192.0.2.1" ] },
        { "Name": "inside", "Device": "net_null1", "Addresses": [ "10.0.0.1" ] },
      ],
      "Cores": [ 1 ],
      "Pools": [
        { "Name": "web", "Forwarding": "l2dsr", "MaglevSize": 251,
          "Backends": [
            { "Name": "w1", "Address": "10.0.0.11", "Mac": "02:00:00:00:00:11", "Port": "inside", "ServerId": 1, "AnnouncedPort": 8001 },
            { "Name": "w2", "Address": "10.0.0.12", "Mac": "02:00:00:00:00:12", "Port": "inside", "ServerId": 2, "AnnouncedPort": 8002 },
            { "Name": "w3", "Address": "10.0.0.13", "Mac": "02:00:00:00:00:13", "Port": "inside" }
          ] }
      ],
      "Vips": [
        { "Name": "http", "Address": "192.0.2.100", "Port": 80, "Protocol": "tcp", "Pool": "web",
          "Joins": [ "encrypted-token", "learned-token", "announced-port" ] },
        { "Name": "direct", "Address": "192.0.2.101", "Port": 443, "Protocol": "tcp", "Pool": "web", "Joins": [ "announced-address" ] },
        { "Name": "dns", "Address": "192.0.2.102", "Port": 53, "Protocol": "udp", "Pool": "web" }
      ],
      "Mptcp": {
        "TokenKeys": [ { "Id": 0, "Key": "000102030405060708090a0b0c0d0e0f" }, { "Id": 1, "Key": "f0e0d0c0b0a090807060504030201000" } ],
        "ServerIdBits": 10,
        "LearnedTokenCapacity": 4096,
        "LearnedTokenIdleTimeoutSeconds": 120
      }
    }
    """;

    const string KeysLine = "\"TokenKeys\": [ { \"Id\": 0, \"Key\": \"000102030405060708090a0b0c0d0e0f\" }, { \"Id\": 1, \"Key\": \"f0e0d0c0b0a090807060504030201000\" } ],";

    static IReadOnlyList<ConfigurationError> ErrorsOf(string json, params string[] args)
    {
        try { Load(json, args); return []; }
        catch (ConfigurationException e) { return e.Errors; }
    }

    [Fact]
    public void The_mptcp_configuration_is_valid() => Assert.Empty(ErrorsOf(MptcpJson));

    [Theory]
    [InlineData("Vips:0:Joins:0=encrypted", "Vips[0].Joins[0]", "must be one of")]
    [InlineData("Vips:0:Joins:1=encrypted-token", "Vips[0].Joins[1]", "listed twice")]
    [InlineData("Vips:2:Joins:0=learned-token", "Vips[2].Joins[0]", "TCP VIP")]
    [InlineData("Pools:0:Backends:0:ServerId=1024", "Pools[0].Backends[0].ServerId", "0..1023")]
    [InlineData("Pools:0:Backends:0:ServerId=-1", "Pools[0].Backends[0].ServerId", "0..1023")]
    [InlineData("Pools:0:Backends:1:ServerId=1", "Pools[0].Backends[1].ServerId", "also Backends[0]")]
    [InlineData("Pools:0:Backends:2:ServerId=7", "", "", "Mptcp:ServerIdBits=2")] // 7 > 3: see the next case
    [InlineData("Mptcp:TokenKeys:0:Key=zz0102030405060708090a0b0c0d0e0f", "Mptcp.TokenKeys[0].Key", "32 hex digits")]
    [InlineData("Mptcp:TokenKeys:0:Key=0001020304", "Mptcp.TokenKeys[0].Key", "32 hex digits")]
    [InlineData("Mptcp:TokenKeys:1:Id=3", "Mptcp.TokenKeys[1].Id", "0, 1 or 2")]
    [InlineData("Mptcp:TokenKeys:1:Id=-1", "Mptcp.TokenKeys[1].Id", "0, 1 or 2")]
    [InlineData("Mptcp:TokenKeys:1:Id=0", "Mptcp.TokenKeys[1].Id", "duplicate key id 0")]
    [InlineData("Vips:0:Port=0", "Vips[0].Joins[2]", "needs a VIP with a port")]
    [InlineData("Pools:0:Backends:0:AnnouncedPort=80", "Pools[0].Backends[0].AnnouncedPort", "is the port of VIP 'http'")]
    [InlineData("Pools:0:Backends:0:AnnouncedPort=70000", "Pools[0].Backends[0].AnnouncedPort", "1..65535")]
    [InlineData("Pools:0:Backends:1:AnnouncedPort=8001", "Pools[0].Backends[1].AnnouncedPort", "also announced by Backends[0]")]
    [InlineData("Mptcp:ServerIdBits=16", "Mptcp.ServerIdBits", "1..15")]
    [InlineData("Mptcp:ServerIdBits=0", "Mptcp.ServerIdBits", "1..15")]
    [InlineData("Mptcp:LearnedTokenCapacity=5000", "Mptcp.LearnedTokenCapacity", "power of two")]
    [InlineData("Mptcp:LearnedTokenCapacity=512", "Mptcp.LearnedTokenCapacity", "power of two")]
    [InlineData("Mptcp:LearnedTokenIdleTimeoutSeconds=0", "Mptcp.LearnedTokenIdleTimeoutSeconds", "1..")]
    public void Each_mptcp_mistake_is_reported_at_its_exact_path(string setting, string path, string reason, params string[] more)
    {
        var errors = ErrorsOf(MptcpJson, [$"--{setting}", .. more.Select(m => $"--{m}")]);
        if (path == "")
        {
            // ServerIdBits 2 leaves server ids 0..3: 7 and nothing else is out of range.
            var e2 = Assert.Single(errors);
            Assert.Equal("Pools[0].Backends[2].ServerId", e2.Path);
            Assert.Contains("0..3", e2.Reason);
            return;
        }
        var e = Assert.Single(errors);
        Assert.Equal(path, e.Path);
        Assert.Contains(reason, e.Reason);
    }

    [Fact]
    public void Encrypted_token_without_keys_is_reported_on_the_join_mode()
    {
        var json = MptcpJson.Replace(KeysLine, "");
        Assert.DoesNotContain("TokenKeys", json);
        var e = Assert.Single(ErrorsOf(json));
        Assert.Equal("Vips[0].Joins[0]", e.Path);
        Assert.Contains("Mptcp.TokenKeys", e.Reason);
    }

    [Fact]
    public void Encrypted_token_without_any_server_id_is_reported_on_the_join_mode()
    {
        var json = MptcpJson.Replace("\"ServerId\": 1, ", "").Replace("\"ServerId\": 2, ", "");
        var e = Assert.Single(ErrorsOf(json));
        Assert.Equal("Vips[0].Joins[0]", e.Path);
        Assert.Contains("ServerId", e.Reason);
    }

    [Fact]
    public void Announced_port_without_any_announced_port_is_reported_on_the_join_mode()
    {
        var json = MptcpJson.Replace("\"AnnouncedPort\": 8001 ", "").Replace("\"AnnouncedPort\": 8002 ", "")
            .Replace("\"ServerId\": 1, ", "\"ServerId\": 1 ").Replace("\"ServerId\": 2, ", "\"ServerId\": 2 ");
        var e = Assert.Single(ErrorsOf(json));
        Assert.Equal("Vips[0].Joins[2]", e.Path);
        Assert.Contains("AnnouncedPort", e.Reason);
    }

    [Fact]
    public void An_announced_port_that_is_another_vips_port_on_the_same_address_is_reported()
    {
        var errors = ErrorsOf(MptcpJson, "--Vips:1:Address=192.0.2.100", "--Vips:1:Port=8002");
        var e = Assert.Single(errors);
        Assert.Equal("Vips[0].Joins[2]", e.Path);
        Assert.Contains("'direct'", e.Reason);
    }

    [Fact]
    public void More_than_three_token_keys_are_reported()
    {
        var errors = ErrorsOf(MptcpJson, "--Mptcp:TokenKeys:2:Id=2", $"--Mptcp:TokenKeys:2:Key={Key0}",
            "--Mptcp:TokenKeys:3:Id=1", $"--Mptcp:TokenKeys:3:Key={Key1}");
        Assert.Contains(errors, e => e.Path == "Mptcp.TokenKeys" && e.Reason.Contains("at most 3"));
    }

    [Fact]
    public void A_valid_mptcp_configuration_compiles_to_join_modes_announced_services_server_ids_and_keys()
    {
        var o = Load(MptcpJson).Options;
        var s = new SnapshotCompiler().Compile(o, Macs);

        // Join modes, in order.
        Assert.Equal(VipEntry.PackJoinModes([JoinMode.EncryptedToken, JoinMode.LearnedToken, JoinMode.AnnouncedPort]), s.Vips[0].JoinModes);
        Assert.Equal(VipEntry.PackJoinModes([JoinMode.AnnouncedAddress]), s.Vips[1].JoinModes);
        Assert.Equal(0u, s.Vips[2].JoinModes);
        Assert.Equal(-1, s.Vips[0].AnnouncedBackend);

        // Announced ports: one extra service per announcing backend, after the configured VIPs.
        int w1 = Array.FindIndex(s.Backends, b => b.Name == "w1"), w2 = Array.FindIndex(s.Backends, b => b.Name == "w2"),
            w3 = Array.FindIndex(s.Backends, b => b.Name == "w3");
        Assert.Equal(5, s.Vips.Length);
        var a1 = s.Vips[3];
        Assert.Equal("http/announced:w1", a1.Name);
        Assert.Equal((ushort)8001, a1.Port);
        Assert.Equal(s.Vips[0].Address, a1.Address);
        Assert.Equal((byte)6, a1.Protocol);
        Assert.Equal(w1, a1.AnnouncedBackend);
        Assert.Equal(VipEntry.PackJoinModes([JoinMode.AnnouncedPort]), a1.JoinModes);
        Assert.Equal("http/announced:w2", s.Vips[4].Name);
        Assert.Equal(w2, s.Vips[4].AnnouncedBackend);
        Assert.Equal(3, s.VipTable.Lookup(Addr128.Parse("192.0.2.100"), 8001, 6));
        Assert.Equal(4, s.VipTable.Lookup(Addr128.Parse("192.0.2.100"), 8002, 6));
        Assert.Equal(-1, s.VipTable.Lookup(Addr128.Parse("192.0.2.101"), 8001, 6));

        // Server id -> backend id, 2^ServerIdBits entries.
        var map = s.Pools[0].ServerIdToBackend;
        Assert.Equal(1024, map.Length);
        Assert.Equal(w1, map[1]);
        Assert.Equal(w2, map[2]);
        Assert.Equal(2, map.Count(x => x >= 0));
        Assert.DoesNotContain(w3, map);

        // Keys 0 and 1, k = 10: a token minted with the same key decrypts to the server id.
        var keys = s.TokenKeys!;
        Assert.Equal(10, keys.ServerIdBits);
        Assert.True(keys.HasKey(0));
        Assert.True(keys.HasKey(1));
        Assert.False(keys.HasKey(2));
        var minter = new TokenMinter(new Dictionary<int, byte[]> { [1] = Convert.FromHexString(Key1) }, 1, 10, 2);
        uint token = minter.Mint();
        Assert.True(TokenCipher.TryDecryptServerId(token, keys, out uint sid));
        Assert.Equal(2u, sid);

        Assert.Equal(120_000u, s.LearnedTokenIdleTicks);
        Assert.True(s.ResetUnplaceableJoins);
        Assert.False(new SnapshotCompiler().Compile(Load(MptcpJson, ["--Mptcp:ResetUnplaceableJoins=false"]).Options, Macs).ResetUnplaceableJoins);
    }

    [Fact]
    public void Without_token_keys_the_snapshot_has_none_and_pools_without_server_ids_have_an_empty_map()
    {
        var json = MptcpJson.Replace("\"encrypted-token\", ", "").Replace(KeysLine, "").Replace("\"ServerId\": 1, ", "").Replace("\"ServerId\": 2, ", "");
        var s = new SnapshotCompiler().Compile(Load(json).Options, Macs);
        Assert.Null(s.TokenKeys);
        Assert.Empty(s.Pools[0].ServerIdToBackend);
        Assert.Equal(VipEntry.PackJoinModes([JoinMode.LearnedToken, JoinMode.AnnouncedPort]), s.Vips[0].JoinModes);
    }

    [Fact]
    public void Too_few_max_vips_for_the_announced_services_is_reported()
    {
        var o = Load(MptcpJson).Options;
        o.Dataplane.MaxVips = 4;
        var ex = Assert.Throws<ConfigurationException>(() => new SnapshotCompiler().Compile(o, Macs));
        Assert.Equal("Dataplane.MaxVips", Assert.Single(ex.Errors).Path);
    }
}
