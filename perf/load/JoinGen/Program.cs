// joingen: routable MPTCP tokens (token format v1) for the load harness's join-enc mix.
//   joingen CONFIG POOL COUNT
// Reads Mptcp.TokenKeys, Mptcp.ServerIdBits and the ServerIds of POOL's backends from CONFIG (the
// harness's switchyard.json, comments allowed) and prints COUNT tokens, one 8-hex-digit line each,
// minted by Switchyard.Minting.TokenMinter: one minter per backend holding every key, tokens dealt
// round-robin over the backends, the minting key id rotating 0, 1, 2, ... on every token of a
// backend. Every token is unique and decrypts to one of the pool's server ids. The minter's nonce
// counter starts at a random point, so two runs print different (equally valid) tokens.
using System.Globalization;
using System.Text.Json;
using Switchyard.Minting;

//   joingen CONFIG POOL COUNT quic
// prints COUNT QUIC-LB connection IDs (hex) instead, minted by Switchyard.Minting.QuicLbMinter under
// QuicLb.Configs[0] for the QuicServerIds of POOL's backends, round-robin: the load harness's quic mix.
if (args.Length is not (3 or 4) || !int.TryParse(args[2], out int count) || count < 1 || (args.Length == 4 && args[3] != "quic"))
{
    Console.Error.WriteLine("usage: joingen CONFIG POOL COUNT [quic]");
    return 2;
}
using var doc = JsonDocument.Parse(File.ReadAllText(args[0]),
    new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
var root = doc.RootElement;
if (args.Length == 4) return QuicCids(root, args[1], count);
var mptcp = root.GetProperty("Mptcp");
int bits = mptcp.TryGetProperty("ServerIdBits", out var b) ? b.GetInt32() : 10;
var keys = new Dictionary<int, byte[]>();
foreach (var k in mptcp.GetProperty("TokenKeys").EnumerateArray())
    keys[k.GetProperty("Id").GetInt32()] = Convert.FromHexString(k.GetProperty("Key").GetString()!);
var serverIds = root.GetProperty("Pools").EnumerateArray()
    .Where(p => p.GetProperty("Name").GetString() == args[1])
    .SelectMany(p => p.GetProperty("Backends").EnumerateArray())
    .Where(be => be.TryGetProperty("ServerId", out _))
    .Select(be => (uint)be.GetProperty("ServerId").GetInt32()).ToArray();
if (keys.Count == 0 || serverIds.Length == 0)
{
    Console.Error.WriteLine($"joingen: {args[0]} has no Mptcp.TokenKeys or no backend with a ServerId in pool {args[1]}");
    return 1;
}
var keyIds = keys.Keys.Order().ToArray();
var minters = serverIds.Select(s => new TokenMinter(keys, keyIds[0], bits, s)).ToArray();
var perServer = new int[minters.Length];
using var stdout = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false };
for (int i = 0; i < count; i++)
{
    int s = i % minters.Length;
    minters[s].SetCurrentKey(keyIds[perServer[s]++ % keyIds.Length]);
    stdout.WriteLine(minters[s].Mint().ToString("x8", CultureInfo.InvariantCulture));
}
Console.Error.WriteLine($"joingen: {count} tokens for server ids {string.Join(",", serverIds)} (k = {bits}), key ids {string.Join(",", keyIds)}");
return 0;

static int QuicCids(JsonElement root, string pool, int count)
{
    var c = root.GetProperty("QuicLb").GetProperty("Configs")[0];
    byte[] key = c.TryGetProperty("Key", out var k) && k.GetString() is { Length: > 0 } hex ? Convert.FromHexString(hex) : [];
    var config = new Switchyard.Dataplane.Datapath.Quic.QuicLbConfig(c.GetProperty("ConfigId").GetInt32(),
        c.GetProperty("ServerIdLength").GetInt32(), c.GetProperty("NonceLength").GetInt32(), key);
    var ids = root.GetProperty("Pools").EnumerateArray()
        .Where(p => p.GetProperty("Name").GetString() == pool)
        .SelectMany(p => p.GetProperty("Backends").EnumerateArray())
        .Where(be => be.TryGetProperty("QuicServerId", out _))
        .Select(be => be.GetProperty("QuicServerId").GetString()!).ToArray();
    if (ids.Length == 0) { Console.Error.WriteLine($"joingen: no backend of pool {pool} has a QuicServerId"); return 1; }
    var minters = ids.Select(id => new QuicLbMinter(config, Convert.FromHexString(id))).ToArray();
    using var stdout = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false };
    for (int i = 0; i < count; i++) stdout.WriteLine(Convert.ToHexStringLower(minters[i % minters.Length].Mint()));
    Console.Error.WriteLine($"joingen: {count} QUIC-LB CIDs for server ids {string.Join(",", ids)} under config {config.ConfigId} ({config.Algorithm})");
    return 0;
}
