using System.Collections;
using Switchyard.Management.Options;

namespace Switchyard.Tests.Config;

/// <summary>Writes JSON to a temporary file and loads it with a private environment.</summary>
static class ConfigFixtures
{
    public const string ValidJson = """
    {
      // two ports, two workers chosen automatically
      "Eal": { "Vdevs": [ "net_null0", "net_null1" ], "Hugepages": "off" },
      "Ports": [
        { "Name": "outside", "Device": "net_null0", "Addresses": [ "192.0.2.1", "2001:db8::1" ] },
        { "Name": "inside", "Device": "net_null1", "GatewayMac": "02:00:00:00:00:fe", "Addresses": [ "10.0.0.1" ] },
      ],
      "Cores": [ 1, 2 ],
      "Pools": [
        { "Name": "web", "Forwarding": "l2dsr", "MaglevSize": 251,
          "Backends": [
            { "Name": "w1", "Address": "192.0.2.11", "Mac": "02:00:00:00:00:11" },
            { "Name": "w2", "Address": "192.0.2.12", "Mac": "02:00:00:00:00:12", "Weight": 2 },
            { "Name": "w3", "Address": "192.0.2.13", "Mac": "02:00:00:00:00:13", "Enabled": false },
            { "Name": "w4", "Address": "192.0.2.14", "Mac": "02:00:00:00:00:14", "Weight": 0 }
          ] },
        { "Name": "dns", "Forwarding": "gue", "EncapSourceV4": "198.18.200.0/24", "MaglevSize": 101,
          "Backends": [
            { "Name": "d1", "Address": "10.0.1.1", "Port": "inside" },
            { "Name": "d2", "Address": "10.0.1.2", "Port": "inside" }
          ] }
      ],
      "Vips": [
        { "Name": "http", "Address": "192.0.2.100", "Port": 80, "Protocol": "tcp", "Pool": "web" },
        { "Name": "dns", "Address": "192.0.2.53", "Port": 53, "Protocol": "udp", "Pool": "dns" },
        { "Name": "all", "Address": "192.0.2.200", "Protocol": "any", "Pool": "web" }
      ]
    }
    """;

    public static string Write(string json)
    {
        var path = Path.Combine(Path.GetTempPath(), $"switchyard-config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    public static LoadedConfiguration Load(string json, string[]? args = null, IDictionary? env = null)
    {
        var path = Write(json);
        try { return ApplianceConfiguration.Load(path, args ?? [], env ?? new Hashtable()); }
        finally { File.Delete(path); }
    }

    /// <summary>The errors of a configuration expected to be invalid.</summary>
    public static IReadOnlyList<ConfigurationError> Errors(string json, string[]? args = null, IDictionary? env = null)
    {
        var ex = Assert.Throws<ConfigurationException>(() => Load(json, args, env));
        return ex.Errors;
    }

    /// <summary>The valid configuration with override switches applied, as errors (empty if valid).</summary>
    public static IReadOnlyList<ConfigurationError> ErrorsWith(params string[] args)
    {
        try { Load(ValidJson, args); return []; }
        catch (ConfigurationException e) { return e.Errors; }
    }

    public static IReadOnlyDictionary<string, ulong> Macs => new Dictionary<string, ulong>
    {
        ["outside"] = 0x02_00_00_00_00_01,
        ["inside"] = 0x02_00_00_00_00_02,
    };
}
