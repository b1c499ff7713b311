using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using static Switchyard.Tests.Mptcp.Mpo;

namespace Switchyard.Tests.Mptcp;

/// <summary>Every way an options area is rejected, with the reason and the offset of the offending option.</summary>
public class MptcpOptionMalformedTests
{
    const ulong K1 = 0x1111111111111111, K2 = 0x2222222222222222;

    [Theory]
    [InlineData(30, 0)]
    [InlineData(30, 1)]
    [InlineData(8, 0)]   // not MPTCP, but the walk cannot go on past it
    [InlineData(2, 1)]
    public void An_option_of_length_zero_or_one_is_malformed(byte kind, byte length)
    {
        Bad(MptcpError.OptionTooShort, [Nop, Nop, kind, length, 0, 0, 0, 0], Ack, offset: 2);
        Bad(MptcpError.OptionTooShort, Cat(Dss(dataAck: 1, ack64: false), [kind, length]), Ack, offset: 8);
    }

    [Fact]
    public void An_option_overrunning_the_options_area_is_malformed()
    {
        var cap = Capable(1, 0x01, K1, K2);
        Bad(MptcpError.OptionOverrun, cap[..12], Ack, offset: 0);               // declares 20, 12 present
        Bad(MptcpError.OptionOverrun, Cat([Nop], cap[..19]), Ack, offset: 1);  // one byte short
        Bad(MptcpError.OptionOverrun, [Nop, Nop, Nop, 30], Ack, offset: 3);    // kind byte without a length byte
        Bad(MptcpError.OptionOverrun, [1, 1, 8, 10, 0, 0, 0, 0, 0], Ack, offset: 2); // a timestamps option cut short
        Bad(MptcpError.OptionOverrun, Cat(Dss(dataAck: 1, ack64: false), [30, 40, 0x20, 0]), Ack, offset: 8);
    }

    [Fact]
    public void A_kind_30_option_without_a_subtype_byte_is_malformed()
    {
        Bad(MptcpError.BadLength, [30, 2, Nop, Nop], Ack, offset: 0);
    }

    public static TheoryData<string, byte[], byte, int> WrongLengths() => new()
    {
        { "MP_CAPABLE 13", [30, 13, 0x01, 0x81, 1, 2, 3, 4, 5, 6, 7, 8, 9], SynAck, 0 },
        { "MP_CAPABLE 8", [30, 8, 0x01, 0x81, 1, 2, 3, 4], Ack, 0 },
        { "MP_CAPABLE 3", [30, 3, 0x01], Syn, 0 },
        { "MP_JOIN 13", Cat(JoinSyn(1, 2), [0])[..13].Select((b, i) => i == 1 ? (byte)13 : b).ToArray(), Syn, 0 },
        { "MP_JOIN 20", [30, 20, 0x10, 0, .. new byte[16]], Ack, 0 },
        { "MP_JOIN 4", [30, 4, 0x10, 0], Syn, 0 },
        { "DSS 3", [30, 3, 0x20], Ack, 0 },
        { "DSS A without room", [30, 4, 0x20, 0x01], Ack, 0 },
        { "DSS A a in 8", [30, 8, 0x20, 0x03, 0, 0, 0, 1], Ack, 0 },
        { "DSS M in 12", [30, 12, 0x20, 0x04, 0, 0, 0, 1, 0, 0, 0, 1], Ack, 0 },
        { "DSS M m in 15", [30, 15, 0x20, 0x0C, .. new byte[11]], Ack, 10 },
        { "DSS flags 0 in 8", [30, 8, 0x20, 0, 0, 0, 0, 0], Ack, 0 }, // only +2 (checksum) is tolerated beyond the flags' length
        { "ADD_ADDR 17", [30, 17, 0x30, 1, .. new byte[13]], Ack, 0 },
        { "ADD_ADDR echo with HMAC (16)", [30, 16, 0x31, 1, .. new byte[12]], Ack, 0 },
        { "ADD_ADDR 9", [30, 9, 0x30, 1, 10, 0, 0, 1, 0], Ack, 0 },
        { "ADD_ADDR 8 without echo or IPVer", [30, 8, 0x30, 1, 10, 0, 0, 1], Ack, 0 },
        { "REMOVE_ADDR without ids", [30, 3, 0x40], Ack, 0 },
        { "REMOVE_ADDR with 9 ids", [30, 12, 0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9], Ack, 0 },
        { "MP_PRIO 5", [30, 5, 0x51, 0, 0], Ack, 0 },
        { "MP_FAIL 11", [30, 11, 0x60, 0, 0, 0, 0, 0, 0, 0, 1], Ack, 0 },
        { "MP_FASTCLOSE 16", [30, 16, 0x70, 0, .. new byte[12]], Rst, 0 },
        { "MP_TCPRST 3", [30, 3, 0x80], Rst, 0 },
        { "MP_TCPRST 5", [30, 5, 0x81, 1, 0], Rst, 0 },
    };

    [Theory, MemberData(nameof(WrongLengths))]
    public void A_length_its_subtype_does_not_define_is_malformed(string what, byte[] option, byte flags, int payload)
    {
        Assert.NotNull(what);
        Bad(MptcpError.BadLength, option, flags, payload, offset: 0);
        Bad(MptcpError.BadLength, Cat([Nop, Nop, Nop, Nop], option), flags, payload, offset: 4); // also when it is not first
    }

    public static TheoryData<string, byte[], byte, int> WrongForFlags() => new()
    {
        { "v1 SYN with a key", Capable(1, 0x81, K1), Syn, 0 },
        { "v1 SYN with both keys", Capable(1, 0x81, K1, K2), Syn, 0 },
        { "v1 SYN/ACK without a key", Capable(1, 0x81), SynAck, 0 },
        { "v1 SYN/ACK with both keys", Capable(1, 0x81, K1, K2), SynAck, 0 },
        { "ACK with one key", Capable(1, 0x81, K1), Ack, 0 },
        { "ACK without payload but with data-level length", Capable(1, 0x81, K1, K2, 0), Ack, 0 },
        { "ACK without payload but with checksum", Capable(1, 0x81, K1, K2, 0, 0), Ack, 0 },
        { "data segment without data-level length", Capable(1, 0x81, K1, K2), Ack | Psh, 100 },
        { "data segment without a key", Capable(1, 0x81), Ack | Psh, 100 },
        { "v0 SYN without the key", Capable(0, 0x81), Syn, 0 },
        { "v0 ACK with one key", Capable(0, 0x81, K1), Ack, 0 },
        { "v0 data segment with data-level length", Capable(0, 0x81, K1, K2, 10), Ack, 10 },
        { "MP_JOIN SYN form on a SYN/ACK", JoinSyn(1, 2), SynAck, 0 },
        { "MP_JOIN SYN form on an ACK", JoinSyn(1, 2), Ack, 0 },
        { "MP_JOIN SYN/ACK form on a SYN", JoinSynAck(1, 2), Syn, 0 },
        { "MP_JOIN ACK form on a SYN", JoinAck(new byte[20]), Syn, 0 },
        { "MP_JOIN ACK form on a SYN/ACK", JoinAck(new byte[20]), SynAck, 0 },
    };

    [Theory, MemberData(nameof(WrongForFlags))]
    public void A_handshake_option_of_the_wrong_length_for_the_tcp_flags_is_malformed(string what, byte[] option, byte flags, int payload)
    {
        Assert.NotNull(what);
        Bad(MptcpError.LengthMismatchesFlags, option, flags, payload, offset: 0);
    }

    [Fact]
    public void A_malformation_after_valid_mptcp_options_still_makes_the_segment_malformed()
    {
        var opts = Cat(Dss(dataAck: 1), AddAddr(1, "10.0.0.1", null, 5), [30, 5, 0x80, 1, 0]);
        var info = Bad(MptcpError.BadLength, opts, Ack | Rst, offset: 28);
        Assert.Equal(28, opts.Length - 5);
        Assert.NotEqual(MptcpError.None, info.Error);
    }
}
