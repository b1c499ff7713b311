using System.Diagnostics;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Forwarding;
using static Switchyard.Tests.Forwarding.TestFrames;

namespace Switchyard.Tests.Forwarding;

/// <summary>
/// Independent check of the produced frames: Wireshark's dissectors, with checksum validation on.
/// Fails (never skips) when tshark is missing: the design requires the output to be dissector-checked.
/// </summary>
public unsafe class TsharkTests
{
    // GUE variant 1 has no header to sniff, so tell tshark which port carries which IP version.
    const ushort GuePortV4 = 6080, GuePortV6 = 6081;

    static readonly string[] CheckOptions =
    [
        "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
        "-d", $"udp.port=={GuePortV4},ip", "-d", $"udp.port=={GuePortV6},ipv6",
    ];

    // An ICMP error quotes a truncated TCP segment, whose TCP checksum cannot match: tshark checks it
    // anyway, so TCP checksums count only outside ICMP errors.
    const string BadChecksum = "ip.checksum.status==0 or udp.checksum.status==0"
                               + " or (tcp.checksum.status==0 and not icmp and not icmpv6)"
                               + " or icmp.checksum.status==0 or icmpv6.checksum.status==0";

    static List<byte[]> EncapsulatedFrames()
    {
        var frames = new List<byte[]>();
        foreach (var mode in new[] { ForwardingMode.Ipip, ForwardingMode.Gue, ForwardingMode.Gre })
            foreach (var v6 in new[] { false, true })
                foreach (var vlan in new[] { false, true })
                {
                    var (frame, info) = Tcp(v6, vlan, payload: 333, padding: 3, sport: 40000, dport: 443);
                    using var buf = new FrameBuffer(frame);
                    var e = EncapsulationTests.Params(mode, v6, keepVlan: true, guePort: v6 ? GuePortV6 : GuePortV4);
                    Assert.Equal(EncapResult.Ok, Encapsulation.Encapsulate(buf.Frame, buf.Length, buf.Headroom, info, e, out short d, out ushort n));
                    frames.Add(buf.Read(d, n));
                }
        return frames;
    }

    static List<byte[]> AnswerFrames()
    {
        var frames = new List<byte[]>();
        foreach (var v6 in new[] { false, true })
        {
            var (frame, info) = Tcp(v6, vlan: v6, payload: 1400, sport: 40000, dport: 443);
            using var buf = new FrameBuffer(frame);
            var src = v6 ? Addr128.Parse("2001:db8:1::1") : Addr128.Parse("192.0.2.1");
            Assert.Equal(DropReason.None, IcmpTooBig.Build(buf.Frame, buf.Length, buf.Headroom, info, OurMac, src, 1400, out short d, out ushort n));
            frames.Add(buf.Read(d, n));
        }
        {
            var (frame, info) = NeighborSolicitation(VipV6, ClientV6);
            using var buf = new FrameBuffer(frame);
            Assert.Equal(DropReason.None, Neighbor.NdpAdvertise(buf.Frame, buf.Length, buf.Tailroom, info, OurMac, out ushort n));
            frames.Add(buf.Read(0, n));
        }
        return frames;
    }

    [Fact]
    public void Tshark_sees_the_inner_TCP_ports_and_no_bad_checksum_in_every_encapsulation_and_answer()
    {
        var encapsulated = EncapsulatedFrames();
        var answers = AnswerFrames();
        string dir = Directory.CreateTempSubdirectory("switchyard-fwd-").FullName;
        try
        {
            string good = Path.Combine(dir, "forwarded.pcap");
            Switchyard.Tests.Infrastructure.PcapWriter.WriteAll(good, encapsulated.Concat(answers));

            // Every encapsulated frame dissects down to the inner TCP ports.
            var ports = Tshark(good, ["-Y", "tcp", "-T", "fields", "-e", "frame.number", "-e", "tcp.srcport", "-e", "tcp.dstport"]);
            var lines = ports.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            for (int i = 1; i <= encapsulated.Count; i++)
                Assert.Contains($"{i}\t40000\t443", lines);

            // The checksums tshark verified are good, and there are some of each kind it verifies.
            Assert.Equal("", Tshark(good, ["-Y", BadChecksum]).Trim());
            Assert.Equal("", Tshark(good, ["-Y", "_ws.malformed or (_ws.expert.severity==error and not icmp and not icmpv6)"]).Trim());
            Assert.NotEqual("", Tshark(good, ["-Y", "ip.checksum.status==1"]).Trim());
            Assert.NotEqual("", Tshark(good, ["-Y", "udp.checksum.status==1 and ipv6"]).Trim());   // GUE over IPv6
            Assert.NotEqual("", Tshark(good, ["-Y", "tcp.checksum.status==1"]).Trim());
            Assert.NotEqual("", Tshark(good, ["-Y", "icmp.checksum.status==1"]).Trim());
            Assert.NotEqual("", Tshark(good, ["-Y", "icmpv6.checksum.status==1 and icmpv6.type==2"]).Trim());
            Assert.NotEqual("", Tshark(good, ["-Y", "icmpv6.checksum.status==1 and icmpv6.type==136"]).Trim());

            // Control: the same filter does find a checksum we broke, so an empty answer above means something.
            string bad = Path.Combine(dir, "corrupted.pcap");
            var broken = (byte[])encapsulated[0].Clone();      // IPIP over IPv4, no VLAN: outer header at 14
            broken[14 + 10] ^= 0x5A;
            Switchyard.Tests.Infrastructure.PcapWriter.WriteAll(bad, [broken]);
            Assert.NotEqual("", Tshark(bad, ["-Y", BadChecksum]).Trim());
        }
        finally
        {
            // SWITCHYARD_KEEP_PCAP=1 keeps the files for a look in Wireshark when this fails.
            if (Environment.GetEnvironmentVariable("SWITCHYARD_KEEP_PCAP") != "1") Directory.Delete(dir, recursive: true);
        }
    }

    static string Tshark(string file, string[] args)
    {
        string exe = File.Exists("/usr/bin/tshark") ? "/usr/bin/tshark" : "tshark";
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-r");
        psi.ArgumentList.Add(file);
        foreach (var a in CheckOptions) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Assert.Fail($"tshark is required for this test and could not be started: {ex.Message}");
            throw;
        }
        using (p)
        {
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"tshark {string.Join(' ', psi.ArgumentList)} exited {p.ExitCode}: {stderr.Result}");
            return stdout;
        }
    }
}
