using System.Collections;
using SwitchyardCommandLine = Switchyard.Management.Host.CommandLine;
using Switchyard.Management.Options;
using static Switchyard.Tests.Config.ConfigFixtures;

namespace Switchyard.Tests.Config;

/// <summary>
/// Issue 16: each configuration mistake a new user made is told in words that say what is wrong: every error
/// in one run (an unknown key does not hide the others), JSON syntax errors by 1-based line and column, an
/// empty file as empty, a missing file with the directory searched, a port that is no number with its range,
/// and one server listed twice in a pool.
/// </summary>
public class ConfigErrorMessageTests
{
    [Fact]
    public void An_unknown_key_does_not_hide_the_other_errors()
    {
        var errors = Errors(ValidJson
            .Replace("\"MaglevSize\": 251", "\"MaglevSise\": 251")                       // unknown key (a typo)
            .Replace("\"Pool\": \"dns\"", "\"Pool\": \"nosuch\"")                        // validation errors
            .Replace("\"Address\": \"192.0.2.12\"", "\"Address\": \"192.0.2.300\""));
        Assert.Equal(["Pools[0].Backends[1].Address", "Pools[0].MaglevSise", "Vips[1].Pool"], errors.Select(e => e.Path).Order(StringComparer.Ordinal).ToArray());
        Assert.Contains("unknown setting", errors.Single(e => e.Path == "Pools[0].MaglevSise").Reason);
        Assert.Contains("nosuch", errors.Single(e => e.Path == "Vips[1].Pool").Reason);
    }

    [Fact]
    public void A_wrong_type_is_reported_with_every_other_shape_error_and_no_error_from_a_default()
    {
        // Pools[1] is a gue pool without MACs: validated with Forwarding left at its default (l2dsr), its backends
        // would be told they need one. Shape errors are reported alone.
        var errors = ErrorsWith("--Pools:1:Forwarding=vxlan", "--Pools:0:Colour=red", "--Vips:0:Port=http");
        Assert.Equal(["Pools[0].Colour", "Pools[1].Forwarding", "Vips[0].Port"], errors.Select(e => e.Path).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void A_json_syntax_error_gives_the_1_based_line_and_column_in_words()
    {
        var e = Assert.Single(Errors("{\n  \"Run\": {\n    \"DurationSeconds\": 5,\n  }\n  x\n}\n"));
        Assert.Equal("JSON syntax error at line 5, column 3: 'x' is invalid after a value. Expected either ',', '}', or ']'", e.Reason);
        // Columns count characters, not UTF-8 bytes.
        var u = Assert.Single(Errors("{ \"Demo\": { \"Prefix\": \"é\" } x }"));
        Assert.StartsWith("JSON syntax error at line 1, column 29:", u.Reason);   // byte 30
    }

    [Fact]
    public void An_empty_file_and_a_file_of_comments_are_named_as_such()
    {
        Assert.StartsWith("the file is empty", Assert.Single(Errors("")).Reason);
        Assert.StartsWith("the file is empty", Assert.Single(Errors(" \n\t\n")).Reason);
        Assert.StartsWith("the file holds no JSON value, only comments", Assert.Single(Errors("// nothing yet\n")).Reason);
    }

    [Fact]
    public void A_missing_file_names_the_directory_searched()
    {
        string dir = Directory.CreateTempSubdirectory("pk-cfg-").FullName;
        string cwd = Environment.CurrentDirectory;
        try
        {
            var ex = Assert.Throws<ConfigurationException>(() => ApplianceConfiguration.Load(Path.Combine(dir, "appliance.json"), [], new Hashtable()));
            Assert.Equal($"configuration file not found: no appliance.json in {dir}", ex.Errors[0].Reason);
            // The default name, relative: the directory is the current one, and the reason says how to name another file.
            var bare = Assert.Throws<ConfigurationException>(() => ApplianceConfiguration.Load(Path.GetRelativePath(cwd, Path.Combine(dir, "nosuch.json")), [], new Hashtable()));
            Assert.Contains($"no nosuch.json in {dir}", bare.Errors[0].Reason);
            var def = Assert.Throws<ConfigurationException>(() => ApplianceConfiguration.Load("pk-surely-absent.json", [], new Hashtable()));
            Assert.Equal($"configuration file not found: no pk-surely-absent.json in {cwd} (the current directory; name the file with --config FILE; the Debian package's is /etc/switchyard/appliance.json)",
                def.Errors[0].Reason);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_port_that_is_no_number_is_told_its_range()
    {
        var e = Assert.Single(Errors(ValidJson.Replace("\"Port\": 80", "\"Port\": \"http\"")));
        Assert.Equal("Vips[0].Port", e.Path);
        Assert.Equal("'http' is not a whole number (1..65535, or 0 for every port)", e.Reason);
        var gue = Assert.Single(ErrorsWith("--Pools:1:GuePort=x"));
        Assert.Equal("'x' is not a whole number (1..65535)", gue.Reason);
        Assert.DoesNotContain("2147483647", gue.Reason);
    }

    [Fact]
    public void One_server_twice_in_a_pool_is_refused()
    {
        var e = Assert.Single(Errors(ValidJson.Replace("\"192.0.2.12\"", "\"192.0.2.11\"")));
        Assert.Equal("Pools[0].Backends[1].Address", e.Path);
        Assert.Equal("192.0.2.11 is already the address of Backends[0] ('w1') in pool 'web'; one entry per server (a larger share is its Weight)", e.Reason);
        // The same address in two pools is two services of one server: allowed.
        Load(ValidJson.Replace("\"10.0.1.1\"", "\"192.0.2.11\"").Replace("{ \"Name\": \"dns\", \"Forwarding\": \"gue\", \"EncapSourceV4\": \"198.18.200.0/24\",",
            "{ \"Name\": \"dns\", \"Forwarding\": \"l2dsr\",").Replace("\"Port\": \"inside\" }", "\"Port\": \"inside\", \"Mac\": \"02:00:00:00:01:01\" }"));
    }

    [Fact]
    public void Check_takes_the_file_as_its_argument()
    {
        var cl = SwitchyardCommandLine.Parse(["--check", "/etc/switchyard/appliance.json"]);
        Assert.True(cl.Check);
        Assert.Equal("/etc/switchyard/appliance.json", cl.ConfigPath);
        var plain = SwitchyardCommandLine.Parse(["--check", "--config", "x.json"]);
        Assert.Equal("x.json", plain.ConfigPath);
        Assert.Equal("appliance.json", SwitchyardCommandLine.Parse(["--check"]).ConfigPath);
    }
}
