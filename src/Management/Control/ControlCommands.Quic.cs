using System.Text.Json.Nodes;

namespace Switchyard.Management.Control;

public sealed partial class ControlCommands
{
    string Quic(List<string> a)
    {
        const string Usage = "usage: quic list | quic set ID SIDLEN NONCELEN HEXKEY|plain [self-length] | quic remove ID";
        if (a.Count < 2) throw new UsageError(Usage);
        switch (a[1])
        {
            case "list":
                Need(a, 2, 2, "quic list");
                // Key material never leaves the process: whether a config is encrypted, not its key.
                return Ok("quic", new JsonObject
                {
                    ["configs"] = new JsonArray([.. control.Running.QuicLb.Configs.Select(c => (JsonNode)new JsonObject
                    {
                        ["configId"] = c.ConfigId,
                        ["serverIdLength"] = c.ServerIdLength,
                        ["nonceLength"] = c.NonceLength,
                        ["encrypted"] = !string.IsNullOrEmpty(c.Key),
                        ["selfEncodedLength"] = c.SelfEncodedLength,
                    })]),
                });
            case "set":
                Need(a, 6, 7, "quic set ID SIDLEN NONCELEN HEXKEY|plain [self-length]");
                if (a.Count == 7 && a[6] != "self-length") throw new UsageError($"unknown quic set option '{a[6]}': self-length");
                return Answer(control.SetQuicConfig(Int("ID", a[2], 0, 6), Int("SIDLEN", a[3], 1, 15), Int("NONCELEN", a[4], 4, 18),
                    a[5] == "plain" ? null : a[5], selfEncodedLength: a.Count == 7));
            case "remove":
                Need(a, 3, 3, "quic remove ID");
                return Answer(control.RemoveQuicConfig(Int("ID", a[2], 0, 6)));
            default: throw new UsageError($"unknown quic command '{a[1]}': list, set or remove");
        }
    }
}
