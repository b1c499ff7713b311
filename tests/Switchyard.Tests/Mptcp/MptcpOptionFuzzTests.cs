using Switchyard.Dataplane.Datapath.Parsing;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Tests.Parsing;
using static Switchyard.Tests.Mptcp.Mpo;

namespace Switchyard.Tests.Mptcp;

/// <summary>
/// Differential fuzzing of <see cref="MptcpOptions.Parse"/> against <see cref="ReferenceMptcp"/>: random and
/// mutated option areas are parsed from the end and from the start of guarded memory (a read outside the
/// area faults and kills the run), and verdict, error, offset, subtypes and the keys/token must agree.
/// Fixed seeds keep it deterministic.
/// </summary>
public class MptcpOptionFuzzTests
{
    static readonly byte[] FlagChoices = [Syn, SynAck, Ack, Ack | Psh, Rst, Rst | Ack, Fin | Ack, 0, 0xFF];

    static byte[][] Seeds() =>
    [
        Capable(1, 0x81), Capable(1, 0x01, 1, 2), Capable(1, 0x21, 3), Capable(1, 0x81, 4, 5, 6), Capable(1, 0x81, 7, 8, 9, 10),
        Capable(0, 0x81, 11), JoinSyn(0x66840dda, 1, 2, true), JoinSynAck(3, 4), JoinAck(new byte[20]),
        Cat([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], Dss(dataAck: 1, dsn: 2, subflowSeq: 3, dataLevelLength: 4), [1, 1]),
        Dss(true, 1, false, 2, false, 3, 4, 5), AddAddr(1, "192.0.2.1", 80, 9), AddAddr(2, "2001:db8::1", null, null, true),
        AddAddrV0(3, "10.1.2.3"), Cat(RemoveAddr(1, 2, 3), Prio(true)), Cat(FastClose(9), TcpRst(1, 2)), Fail(7), PrioV0(false, 1),
        Experimental(1, 2, 3), [2, 4, 5, 0xB4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7, 30, 4, 0x01, 0x81],
    ];

    static readonly byte[] Interesting = [0, 1, 2, 3, 4, 8, 10, 12, 16, 20, 22, 24, 28, 30, 0x10, 0x20, 0x30, 0x40, 0x50, 0x80, 0xF0, 0xFF];

    /// <summary>Parses at both ends of guarded memory, compares with the reference, returns the verdict.</summary>
    static unsafe MptcpParse CheckOne(GuardedBuffer mem, byte[] opts, byte flags, int payload, string what)
    {
        var expected = ReferenceMptcp.Check(opts, flags, payload);
        var info = new MptcpInfo { OptionCount = 200, SenderKey = 1 };
        var atEnd = MptcpOptions.Parse(mem.PlaceAtEnd(opts), opts.Length, flags, payload, ref info);
        var info2 = new MptcpInfo { Subtypes = MptcpSubtypes.Fail };
        var atStart = MptcpOptions.Parse(mem.PlaceAtStart(opts), opts.Length, flags, payload, ref info2);
        string ctx = $"{what}: {Convert.ToHexString(opts)} flags {flags:x2} payload {payload}";
        Assert.True(atEnd == atStart, $"{ctx}: placement changed the verdict");
        Assert.True(expected.Verdict == atEnd, $"{ctx}: reference {expected.Verdict} ({expected.Error}), parser {atEnd} ({info.Error})");
        if (atEnd == MptcpParse.Malformed)
        {
            Assert.True(expected.Error == info.Error, $"{ctx}: reference {expected.Error}, parser {info.Error}");
            Assert.True(expected.ErrorOffset == info.ErrorOffset, $"{ctx}: error offset {info.ErrorOffset}, reference {expected.ErrorOffset}");
        }
        else
        {
            Assert.True(expected.Subtypes == info.Subtypes, $"{ctx}: subtypes {info.Subtypes}, reference {expected.Subtypes}");
            Assert.True(expected.Count == info.OptionCount, $"{ctx}: count {info.OptionCount}, reference {expected.Count}");
            Assert.True(expected.SenderKey == info.SenderKey && expected.ReceiverKey == info.ReceiverKey, $"{ctx}: keys differ");
            Assert.True(expected.JoinToken == info.JoinToken, $"{ctx}: token differs");
            Assert.Equal(info.Subtypes, info2.Subtypes);
            Assert.Equal(info.SenderKey, info2.SenderKey);
        }
        return atEnd;
    }

    [Fact]
    public void Seeds_parse_as_the_reference_says()
    {
        using var mem = new GuardedBuffer(1);
        foreach (var s in Seeds())
        foreach (var f in FlagChoices)
        foreach (var payload in new[] { 0, 1, 1400 })
            CheckOne(mem, s, f, payload, "seed");
    }

    [Fact]
    public void Random_option_areas_never_read_out_of_bounds_and_agree_with_the_reference()
    {
        var rng = new Random(8684);
        using var mem = new GuardedBuffer(1);
        var seeds = Seeds();
        var verdicts = new int[3];
        for (int i = 0; i < 60_000; i++)
        {
            int len = rng.Next(0, 61);
            var opts = new byte[len];
            // Mostly plausible framing: a run of options with kind 30 likely and lengths near the real ones.
            int p = 0;
            while (p < len)
            {
                int pick = rng.Next(10);
                if (pick == 0) { opts[p++] = Nop; continue; }
                if (pick == 1) { opts[p++] = (byte)rng.Next(256); continue; }
                if (pick <= 4) // a well-formed option from the seeds, so that Ok verdicts are common too
                {
                    var seed = seeds[rng.Next(seeds.Length)];
                    for (int k = 0; k < seed.Length && p < len; k++) opts[p++] = seed[k];
                    continue;
                }
                opts[p++] = pick < 8 ? (byte)30 : (byte)rng.Next(2, 35);
                if (p < len) opts[p++] = rng.Next(4) == 0 ? Interesting[rng.Next(Interesting.Length)] : (byte)rng.Next(0, 32);
                if (p < len) opts[p++] = (byte)((rng.Next(16) << 4) | rng.Next(16));
                int body = rng.Next(0, 24);
                for (int k = 0; k < body && p < len; k++) opts[p++] = (byte)rng.Next(256);
            }
            verdicts[(int)CheckOne(mem, opts, FlagChoices[rng.Next(FlagChoices.Length)], rng.Next(3) == 0 ? 0 : rng.Next(1, 1500), "random")]++;
        }
        // The generator must reach every verdict often enough to mean something.
        Assert.All(verdicts, v => Assert.True(v > 500, $"verdicts None/Ok/Malformed = {string.Join('/', verdicts)}"));
    }

    [Fact]
    public void Mutated_seeds_never_read_out_of_bounds_and_agree_with_the_reference()
    {
        var rng = new Random(30);
        using var mem = new GuardedBuffer(1);
        var seeds = Seeds();
        for (int i = 0; i < 40_000; i++)
        {
            var opts = (byte[])seeds[rng.Next(seeds.Length)].Clone();
            int edits = rng.Next(1, 4);
            for (int e = 0; e < edits; e++)
            {
                switch (rng.Next(4))
                {
                    case 0 when opts.Length > 0: opts[rng.Next(opts.Length)] = Interesting[rng.Next(Interesting.Length)]; break;
                    case 1 when opts.Length > 0: opts[rng.Next(opts.Length)] ^= (byte)(1 << rng.Next(8)); break;
                    case 2 when opts.Length > 0: opts = opts[..rng.Next(opts.Length)]; break; // truncate
                    default: opts = [.. opts, (byte)rng.Next(256)]; break;
                }
            }
            CheckOne(mem, opts, FlagChoices[rng.Next(FlagChoices.Length)], rng.Next(2) * rng.Next(1, 100), "mutated");
        }
    }

    [Fact]
    public unsafe void Parse_allocates_nothing()
    {
        var areas = Seeds().Concat([[30, 0], [30, 13, 0x01], Cat(Dss(dataAck: 1), AddAddr(1, "10.0.0.1", 1, 2))]).ToArray();
        var handles = areas.Select(a => GCHandle.Alloc(a, GCHandleType.Pinned)).ToArray();
        try
        {
            var ptrs = handles.Select(h => (nint)h.AddrOfPinnedObject()).ToArray();
            var lens = areas.Select(a => a.Length).ToArray();
            var info = new MptcpInfo();
            long sink = 0;
            for (int i = 0; i < 20_000; i++) // warm up (tiered JIT) before measuring
                sink += (int)MptcpOptions.Parse((byte*)ptrs[i % ptrs.Length], lens[i % lens.Length], FlagChoices[i % FlagChoices.Length], i & 1, ref info);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20_000; i++)
                sink += (int)MptcpOptions.Parse((byte*)ptrs[i % ptrs.Length], lens[i % lens.Length], FlagChoices[i % FlagChoices.Length], i & 1, ref info);
            long after = GC.GetAllocatedBytesForCurrentThread();
            Assert.Equal(0, after - before);
            Assert.NotEqual(-1, sink);
        }
        finally
        {
            foreach (var h in handles) h.Free();
        }
    }
}

/// <summary>
/// A slow, obviously-correct reading of the same rules, written as tables of allowed lengths over managed
/// arrays: first split the area into options, then judge each kind-30 option on its own.
/// </summary>
static class ReferenceMptcp
{
    public sealed record Result(MptcpParse Verdict, MptcpError Error, int ErrorOffset, MptcpSubtypes Subtypes, int Count,
        ulong SenderKey, ulong ReceiverKey, uint JoinToken);

    public static Result Check(byte[] a, byte flags, int payload)
    {
        // Pass 1: framing only. A framing error ends the list; options before it are still judged first.
        var options = new List<(int Offset, byte[] Bytes)>();
        (MptcpError Error, int Offset)? framing = null;
        int i = 0;
        while (i < a.Length)
        {
            if (a[i] == 0) break;
            if (a[i] == 1) { i++; continue; }
            if (i + 1 >= a.Length) { framing = (MptcpError.OptionOverrun, i); break; }
            int len = a[i + 1];
            if (len < 2) { framing = (MptcpError.OptionTooShort, i); break; }
            if (i + len > a.Length) { framing = (MptcpError.OptionOverrun, i); break; }
            if (a[i] == 30) options.Add((i, a[i..(i + len)]));
            i += len;
        }
        // Pass 2: each kind-30 option on its own, in order; the first error in the area wins.
        var seen = MptcpSubtypes.None;
        ulong sk = 0, rk = 0; uint tok = 0;
        foreach (var (off, o) in options)
        {
            var err = Judge(o, flags, payload);
            if (err != MptcpError.None) return Bad(err, off);
            int sub = o[2] >> 4;
            if (sub == 0 && (seen & MptcpSubtypes.Capable) == 0)
            {
                if (o.Length >= 12) sk = BinaryPrimitives.ReadUInt64BigEndian(o.AsSpan(4));
                if (o.Length >= 20) rk = BinaryPrimitives.ReadUInt64BigEndian(o.AsSpan(12));
            }
            if (sub == 1 && (seen & MptcpSubtypes.Join) == 0 && o.Length == 12) tok = BinaryPrimitives.ReadUInt32BigEndian(o.AsSpan(4));
            seen |= (MptcpSubtypes)(1 << sub);
        }
        if (framing is { } fe) return Bad(fe.Error, fe.Offset);
        return new(options.Count == 0 ? MptcpParse.None : MptcpParse.Ok, MptcpError.None, 0, seen, options.Count, sk, rk, tok);
    }

    static Result Bad(MptcpError e, int offset) => new(MptcpParse.Malformed, e, offset, MptcpSubtypes.None, 0, 0, 0, 0);

    static MptcpError Judge(byte[] o, byte flags, int payload)
    {
        int len = o.Length;
        if (len < 3) return MptcpError.BadLength;
        int sub = o[2] >> 4, nib = o[2] & 0xF;
        bool syn = (flags & Syn) != 0, ack = (flags & Ack) != 0;
        switch (sub)
        {
            case 0:
            {
                if (!new[] { 4, 12, 20, 22, 24 }.Contains(len)) return MptcpError.BadLength;
                int[] want = nib == 0 ? (syn ? [12] : [20])
                    : syn ? (ack ? [12] : [4])
                    : payload > 0 ? [22, 24] : [20];
                return want.Contains(len) ? MptcpError.None : MptcpError.LengthMismatchesFlags;
            }
            case 1:
            {
                if (!new[] { 12, 16, 24 }.Contains(len)) return MptcpError.BadLength;
                int want = syn && !ack ? 12 : syn ? 16 : 24;
                return len == want ? MptcpError.None : MptcpError.LengthMismatchesFlags;
            }
            case 2:
            {
                if (len < 4) return MptcpError.BadLength;
                int f = o[3];
                int need = 4;
                if ((f & 1) != 0) need += (f & 2) != 0 ? 8 : 4;
                if ((f & 4) != 0) need += ((f & 8) != 0 ? 8 : 4) + 4 + 2;
                return len == need || len == need + 2 ? MptcpError.None : MptcpError.BadLength;
            }
            case 3:
            {
                bool echo = (nib & 1) != 0;
                int[] allowed = echo ? [8, 10, 20, 22] : [16, 18, 28, 30];
                if (!echo && nib == 4 && (len == 8 || len == 10)) return MptcpError.None; // RFC 6824 IPv4
                if (!echo && nib == 6 && (len == 20 || len == 22)) return MptcpError.None; // RFC 6824 IPv6
                return allowed.Contains(len) ? MptcpError.None : MptcpError.BadLength;
            }
            case 4: return len >= 4 && len <= 11 ? MptcpError.None : MptcpError.BadLength;
            case 5: return len == 3 || len == 4 ? MptcpError.None : MptcpError.BadLength;
            case 6: case 7: return len == 12 ? MptcpError.None : MptcpError.BadLength;
            case 8: return len == 4 ? MptcpError.None : MptcpError.BadLength;
            default: return MptcpError.None;
        }
    }
}
