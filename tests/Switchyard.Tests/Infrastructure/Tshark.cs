using System.Text.Json;

namespace Switchyard.Tests.Infrastructure;

/// <summary>One packet's requested fields. A field that occurs several times (tunnels, repeated options) has several
/// values; a field absent from the packet has none.</summary>
public sealed class TsharkPacket
{
    public int Number { get; init; }
    public required IReadOnlyDictionary<string, string[]> Fields { get; init; }

    public string[] All(string field) => Fields.TryGetValue(field, out var v) ? v : [];
    /// <summary>The first value of a field, or null when the packet has none.</summary>
    public string? this[string field] => All(field) is { Length: > 0 } v ? v[0] : null;
    public bool Has(string field) => All(field).Length > 0;
}

/// <summary>
/// The independent dissector for integration tests: runs Wireshark's tshark on a pcap file with checksum validation
/// switched on for IPv4, TCP and UDP (ICMP and ICMPv6 are always validated).
///
/// Checksum status fields (tshark 4.0, FT_UINT8, printed as numbers by -T fields): ip.checksum.status,
/// tcp.checksum.status, udp.checksum.status, icmp.checksum.status, icmpv6.checksum.status.
/// Values: 0 = Bad, 1 = Good, 2 = Unverified, 3 = Not present (e.g. UDP checksum 0), 4 = Illegal.
/// There is no status field for the IPv6 header (it has no checksum). For a non-first IP fragment, tshark
/// shows no transport layer (and validates the transport checksum only in the reassembled packet).
/// </summary>
public static class Tshark
{
    public const string StatusBad = "0", StatusGood = "1", StatusUnverified = "2", StatusNotPresent = "3", StatusIllegal = "4";

    public static readonly string[] ChecksumStatusFields =
        ["ip.checksum.status", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status", "icmpv6.checksum.status"];

    static readonly string[] Prefs =
    [
        "-o", "ip.check_checksum:TRUE",
        "-o", "tcp.check_checksum:TRUE",
        "-o", "udp.check_checksum:TRUE",
    ];

    const string Aggregator = "\u001f"; // a byte that never occurs in a field value, unlike the default ','

    static string? _path;

    /// <summary>The tshark executable. Throws (the test fails, it is not skipped) when it is missing.</summary>
    public static string Executable => _path ??= ProcessRunner.Which("tshark") ?? throw new InvalidOperationException(
        "tshark is not installed: packet-level tests need Wireshark's dissector as an independent check (Debian: apt-get install -y tshark)");

    /// <summary>Runs `tshark -r file -T fields -e f1 -e f2 ...` (plus the checksum status fields) and returns one entry per packet.</summary>
    /// <param name="extraArgs">More tshark arguments, e.g. decode-as rules ("-d", "udp.port==6080,ip").</param>
    public static List<TsharkPacket> Fields(string pcap, IEnumerable<string> fields, string? displayFilter = null, bool twoPass = true,
        IEnumerable<string>? extraArgs = null)
    {
        var wanted = new List<string> { "frame.number" };
        foreach (var f in fields.Concat(ChecksumStatusFields)) if (!wanted.Contains(f)) wanted.Add(f);
        var args = new List<string> { "-r", pcap, "-n", "-T", "fields", "-E", "header=n", "-E", "separator=/t", "-E", "occurrence=a",
            "-E", $"aggregator={Aggregator}" };
        if (twoPass) args.Add("-2"); // so reassembly results are known when each packet is printed
        args.AddRange(Prefs);
        if (extraArgs is not null) args.AddRange(extraArgs);
        if (displayFilter is not null) { args.Add("-Y"); args.Add(displayFilter); }
        foreach (var f in wanted) { args.Add("-e"); args.Add(f); }
        var r = ProcessRunner.Run(Executable, args, TimeSpan.FromSeconds(120));
        if (r.ExitCode != 0) throw new InvalidOperationException(r.Describe("tshark " + string.Join(' ', args)));
        var list = new List<TsharkPacket>();
        foreach (var line in r.StdOut.Split('\n'))
        {
            if (line.Length == 0) continue;
            var cols = line.TrimEnd('\r').Split('\t');
            var dict = new Dictionary<string, string[]>();
            for (int i = 0; i < wanted.Count; i++)
                dict[wanted[i]] = i < cols.Length && cols[i].Length > 0 ? cols[i].Split(Aggregator) : [];
            list.Add(new TsharkPacket { Number = int.Parse(dict["frame.number"][0]), Fields = dict });
        }
        return list;
    }

    /// <summary>The full dissection as JSON (`-T json`): one element per packet, layers under _source.layers.</summary>
    public static JsonDocument Json(string pcap, string? displayFilter = null)
    {
        var args = new List<string> { "-r", pcap, "-n", "-T", "json", "-2" };
        args.AddRange(Prefs);
        if (displayFilter is not null) { args.Add("-Y"); args.Add(displayFilter); }
        var r = ProcessRunner.Run(Executable, args, TimeSpan.FromSeconds(120));
        if (r.ExitCode != 0) throw new InvalidOperationException(r.Describe("tshark " + string.Join(' ', args)));
        return JsonDocument.Parse(r.StdOut);
    }

    /// <summary>The protocol stack per packet (frame.protocols, e.g. "eth:ethertype:vlan:ethertype:ip:tcp").</summary>
    public static List<string> Protocols(string pcap) =>
        Fields(pcap, ["frame.protocols"]).Select(p => p["frame.protocols"] ?? "").ToList();

    /// <summary>Every checksum status in the packet that is not Good, as "field=value" (empty: all good or none present).</summary>
    public static List<string> ChecksumProblems(TsharkPacket p) =>
        ChecksumStatusFields.SelectMany(f => p.All(f).Where(v => v != StatusGood).Select(v => $"{f}={Describe(v)}")).ToList();

    /// <summary>Fails unless every checksum tshark could verify in the file is Good.</summary>
    public static void AssertChecksumsGood(string pcap)
    {
        var bad = Fields(pcap, []).Select(p => (p.Number, Problems: ChecksumProblems(p))).Where(x => x.Problems.Count > 0).ToList();
        if (bad.Count > 0)
            throw new Xunit.Sdk.XunitException("tshark reports checksum problems:\n" +
                string.Join("\n", bad.Select(b => $"  frame {b.Number}: {string.Join(", ", b.Problems)}")));
    }

    public static string Describe(string status) => status switch
    {
        StatusBad => "Bad", StatusGood => "Good", StatusUnverified => "Unverified", StatusNotPresent => "NotPresent", StatusIllegal => "Illegal",
        _ => status,
    };
}
