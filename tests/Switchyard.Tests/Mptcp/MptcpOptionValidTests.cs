using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using static Switchyard.Tests.Mptcp.Mpo;

namespace Switchyard.Tests.Mptcp;

/// <summary>Well-formed MPTCP options, laid out as Linux sends them (surrounding options and NOP padding included).</summary>
public class MptcpOptionValidTests
{
    // Linux option blocks around the MPTCP option (net/ipv4/tcp_output.c order): MSS, SACK-permitted,
    // timestamps, NOP + window scale on a SYN; NOP NOP timestamps afterwards.
    static readonly byte[] SynPrefix = [2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 1, 3, 3, 7];
    static readonly byte[] TsPrefix = [1, 1, 8, 10, 0, 0, 0x12, 0x40, 0x9a, 0xbc, 0xde, 0xf0];

    const ulong KeyA = 0x3c5c9d2e8f1a7b64, KeyB = 0xa1b2c3d4e5f60718;

    [Fact]
    public void Mp_capable_v1_syn_has_no_key_and_records_version_and_flags()
    {
        var info = Ok(Cat(SynPrefix, Capable(1, 0x81)), Syn);
        Assert.Equal(MptcpSubtypes.Capable, info.Subtypes);
        Assert.Equal(1, info.OptionCount);
        Assert.Equal(1, info.Version);
        Assert.Equal(0x81, info.CapFlags);
        Assert.Equal(4, info.CapLength);
        Assert.False(info.HasSenderKey);
        Assert.False(info.HasReceiverKey);
        Assert.Equal(0UL, info.SenderKey);
        Assert.True(info.ChecksumRequired);
        Assert.False(info.DenyJoinId0);
        Assert.True(info.CapAcceptedByLinux);
    }

    [Fact]
    public void Mp_capable_v1_syn_ack_carries_the_listeners_key_as_sender_key()
    {
        var info = Ok(Cat(SynPrefix, Capable(1, 0x01, senderKey: KeyB)), SynAck);
        Assert.Equal(12, info.CapLength);
        Assert.True(info.HasSenderKey);
        Assert.Equal(KeyB, info.SenderKey);
        Assert.False(info.HasReceiverKey);
        Assert.False(info.ChecksumRequired);
    }

    [Fact]
    public void Mp_capable_third_ack_carries_both_keys_and_the_c_flag()
    {
        // Linux with net.mptcp.allow_join_initial_addr_port=0 sets C (0x20) in every MP_CAPABLE it sends.
        var info = Ok(Cat(TsPrefix, Capable(1, 0x21, KeyA, KeyB)), Ack);
        Assert.Equal(20, info.CapLength);
        Assert.Equal(KeyA, info.SenderKey);
        Assert.Equal(KeyB, info.ReceiverKey);
        Assert.True(info.HasSenderKey && info.HasReceiverKey);
        Assert.True(info.DenyJoinId0);
        Assert.False(info.HasDataLevelLength);
        Assert.True(info.CapAcceptedByLinux);
    }

    [Fact]
    public void Mp_capable_on_the_first_data_segment_carries_data_level_length_followed_by_two_nops()
    {
        var info = Ok(Cat(TsPrefix, Capable(1, 0x01, KeyA, KeyB, dataLevelLength: 517), [Nop, Nop]), Ack | Psh, payload: 517);
        Assert.Equal(22, info.CapLength);
        Assert.True(info.HasDataLevelLength);
        Assert.Equal(517, info.CapDataLevelLength);
        Assert.False(info.CapHasChecksum);
        Assert.Equal(KeyB, info.ReceiverKey);
    }

    [Fact]
    public void Mp_capable_on_a_data_segment_may_carry_a_checksum()
    {
        var info = Ok(Cat(TsPrefix, Capable(1, 0x81, KeyA, KeyB, 100, 0xBEEF)), Ack | Psh, payload: 100);
        Assert.Equal(24, info.CapLength);
        Assert.True(info.CapHasChecksum);
        Assert.Equal(0xBEEF, info.CapChecksum);
        Assert.Equal(100, info.CapDataLevelLength);
    }

    [Fact]
    public void Mp_capable_v0_syn_carries_the_sender_key_and_is_told_apart_by_its_version()
    {
        var syn = Ok(Cat(SynPrefix, Capable(0, 0x81, senderKey: KeyA)), Syn);
        Assert.Equal(0, syn.Version);
        Assert.Equal(12, syn.CapLength);
        Assert.Equal(KeyA, syn.SenderKey);
        Assert.False(syn.CapAcceptedByLinux); // Linux speaks v1 only

        var synAck = Ok(Capable(0, 0x81, senderKey: KeyB), SynAck);
        Assert.Equal(KeyB, synAck.SenderKey);

        var ack = Ok(Cat(TsPrefix, Capable(0, 0x81, KeyA, KeyB)), Ack, payload: 10); // v0 has no data-carrying form
        Assert.Equal(0, ack.Version);
        Assert.Equal(KeyA, ack.SenderKey);
        Assert.Equal(KeyB, ack.ReceiverKey);
    }

    [Fact]
    public void Mp_capable_flag_and_version_values_are_recorded_not_judged()
    {
        var future = Ok(Capable(2, 0x01), Syn);              // Linux answers v1 to a future version on the SYN
        Assert.Equal(2, future.Version);
        Assert.True(future.CapAcceptedByLinux);

        var lateFuture = Ok(Capable(2, 0x01, KeyA, KeyB), Ack); // ...but not on later packets
        Assert.Equal(2, lateFuture.Version);
        Assert.False(lateFuture.CapAcceptedByLinux);

        var extensibility = Ok(Capable(1, 0x41), Syn);        // B set: Linux ignores the option
        Assert.Equal(0x41, extensibility.CapFlags);
        Assert.False(extensibility.CapAcceptedByLinux);

        var noSha256 = Ok(Capable(1, 0x80), Syn);
        Assert.False(noSha256.CapAcceptedByLinux);
    }

    [Fact]
    public void Mp_join_syn_carries_the_receivers_token_nonce_address_id_and_backup_bit()
    {
        // token 0x66840dda = SHA-256(key 0x0102030405060708)[0..3] (RFC 8684 §3.2)
        var info = Ok(Cat(SynPrefix, JoinSyn(0x66840dda, 0x8e0f6b21, addressId: 2, backup: true)), Syn);
        Assert.Equal(MptcpSubtypes.Join, info.Subtypes);
        Assert.Equal(MptcpJoinPhase.Syn, info.JoinPhase);
        Assert.Equal(0x66840ddaU, info.JoinToken);
        Assert.Equal(0x8e0f6b21U, info.JoinNonce);
        Assert.Equal(2, info.JoinAddressId);
        Assert.True(info.JoinBackup);

        // The test infrastructure's own encoder (FrameBuilder's TcpOptions) agrees.
        var other = Ok(Infrastructure.TcpOptions.MpJoinSyn(0xcd266215, 7, addressId: 1), Syn);
        Assert.Equal(0xcd266215U, other.JoinToken);
        Assert.Equal(7U, other.JoinNonce);
        Assert.False(other.JoinBackup);
    }

    [Fact]
    public void Mp_join_syn_ack_carries_the_truncated_hmac_and_nonce()
    {
        var info = Ok(Cat(SynPrefix, JoinSynAck(0x0123456789abcdef, 0xfeedf00d, addressId: 0)), SynAck);
        Assert.Equal(MptcpJoinPhase.SynAck, info.JoinPhase);
        Assert.Equal(0x0123456789abcdefUL, info.JoinTruncatedHmac);
        Assert.Equal(0xfeedf00dU, info.JoinNonce);
        Assert.Equal(0U, info.JoinToken);
        Assert.False(info.JoinBackup);
    }

    [Fact]
    public void Mp_join_third_ack_points_at_its_160_bit_hmac()
    {
        var hmac = Enumerable.Range(1, 20).Select(i => (byte)(i * 11)).ToArray();
        var opts = Cat(TsPrefix, JoinAck(hmac));
        var info = Ok(opts, Ack);
        Assert.Equal(MptcpJoinPhase.Ack, info.JoinPhase);
        Assert.Equal(TsPrefix.Length + 4, info.JoinHmacOffset);
        Assert.Equal(hmac, opts.AsSpan(info.JoinHmacOffset, 20).ToArray());
    }

    [Fact]
    public void Dss_as_linux_sends_it_has_64_bit_data_ack_and_mapping_padded_with_two_nops()
    {
        var opts = Cat(TsPrefix, Dss(dataAck: 0x1122334455667788, dsn: 0x99aabbccddeeff00, subflowSeq: 1, dataLevelLength: 1448), [Nop, Nop]);
        Assert.Equal(40, opts.Length);
        var info = Ok(opts, Ack | Psh, payload: 1448);
        Assert.Equal(MptcpSubtypes.Dss, info.Subtypes);
        Assert.Equal(MptcpDssFlags.DataAck | MptcpDssFlags.DataAck8 | MptcpDssFlags.Mapping | MptcpDssFlags.Dsn8, info.DssFlags);
        Assert.True(info.HasDataAck && info.HasMapping);
        Assert.Equal(0x1122334455667788UL, info.DataAck);
        Assert.Equal(0x99aabbccddeeff00UL, info.DataSequence);
        Assert.Equal(1U, info.SubflowSequence);
        Assert.Equal(1448, info.DataLevelLength);
        Assert.False(info.DssHasChecksum);
        Assert.False(info.DataFin);
    }

    public static TheoryData<bool, bool, bool, bool, bool, bool> DssShapes()
    {
        var d = new TheoryData<bool, bool, bool, bool, bool, bool>();
        foreach (var hasAck in new[] { false, true })
        foreach (var ack64 in hasAck ? new[] { false, true } : [false])
        foreach (var hasMap in new[] { false, true })
        foreach (var dsn64 in hasMap ? new[] { false, true } : [false])
        foreach (var csum in hasMap ? new[] { false, true } : [false])
        foreach (var fin in new[] { false, true })
            d.Add(hasAck, ack64, hasMap, dsn64, csum, fin);
        return d;
    }

    [Theory, MemberData(nameof(DssShapes))]
    public void Dss_length_follows_its_flags_and_every_field_is_read(bool hasAck, bool ack64, bool hasMap, bool dsn64, bool csum, bool fin)
    {
        ulong ackValue = ack64 ? 0x0102030405060708UL : 0x0a0b0c0dUL;
        ulong dsnValue = dsn64 ? 0xf1f2f3f4f5f6f7f8UL : 0xe1e2e3e4UL;
        var opt = Dss(fin, hasAck ? ackValue : null, ack64, hasMap ? dsnValue : null, dsn64, 0x01020304, 1000, csum ? (ushort)0xABCD : null);
        Assert.Equal(4 + (hasAck ? (ack64 ? 8 : 4) : 0) + (hasMap ? (dsn64 ? 14 : 10) : 0) + (csum ? 2 : 0), opt.Length);
        var info = Ok(opt, Ack, payload: 1000);
        Assert.Equal(hasAck, info.HasDataAck);
        Assert.Equal(hasMap, info.HasMapping);
        Assert.Equal(fin, info.DataFin);
        Assert.Equal(csum, info.DssHasChecksum);
        Assert.Equal(hasAck ? ackValue : 0, info.DataAck);
        Assert.Equal(hasMap ? dsnValue : 0, info.DataSequence);
        Assert.Equal(hasMap ? 0x01020304U : 0, info.SubflowSequence);
        Assert.Equal(hasMap ? 1000 : 0, info.DataLevelLength);
        Assert.Equal(csum ? 0xABCD : 0, info.DssChecksum);
    }

    [Fact]
    public void Dss_data_fin_without_payload_uses_data_level_length_one()
    {
        var info = Ok(Cat(TsPrefix, Dss(dataFin: true, dataAck: 5000, dsn: 9000, subflowSeq: 0, dataLevelLength: 1), [Nop, Nop]), Ack | Fin);
        Assert.True(info.DataFin);
        Assert.Equal(1, info.DataLevelLength);
        Assert.Equal(9000UL, info.DataSequence);
    }

    [Fact]
    public void Dss_tolerates_two_checksum_bytes_without_a_mapping_as_linux_does()
    {
        var info = Ok([30, 10, 0x20, 0x01, 0, 0, 0, 42, 0x12, 0x34], Ack);
        Assert.Equal(42UL, info.DataAck);
        Assert.False(info.HasMapping);
        Assert.True(info.DssHasChecksum);
    }

    public static TheoryData<string, ushort?, bool> AddAddrShapes() => new()
    {
        { "192.0.2.10", null, false }, { "192.0.2.10", 4321, false }, { "192.0.2.10", null, true }, { "192.0.2.10", 4321, true },
        { "2001:db8::1:2", null, false }, { "2001:db8::1:2", 8443, false }, { "2001:db8::1:2", null, true }, { "2001:db8::1:2", 8443, true },
    };

    [Theory, MemberData(nameof(AddAddrShapes))]
    public void Add_addr_family_port_and_hmac_are_inferred_from_its_length_and_echo_bit(string address, ushort? port, bool echo)
    {
        const ulong hmac = 0x5a5b5c5d5e5f6061;
        var opt = AddAddr(7, address, port, echo ? null : hmac, echo);
        bool v6 = address.Contains(':');
        Assert.Equal((v6 ? 20 : 8) + (port is null ? 0 : 2) + (echo ? 0 : 8), opt.Length); // the RFC 8684 table
        var info = Ok(opt, Ack);
        Assert.Equal(MptcpSubtypes.AddAddr, info.Subtypes);
        Assert.False(info.AddAddrV0);
        Assert.Equal(v6, info.AddAddrIsV6);
        Assert.Equal(Addr128.Parse(address), info.AddAddr);
        Assert.Equal(7, info.AddAddrId);
        Assert.Equal(port is not null, info.AddAddrHasPort);
        Assert.Equal(port ?? 0, info.AddAddrPort);
        Assert.Equal(echo, info.AddAddrEcho);
        Assert.Equal(!echo, info.AddAddrHasHmac);
        Assert.Equal(echo ? 0 : hmac, info.AddAddrHmac);
    }

    [Fact]
    public void Add_addr_in_the_rfc6824_form_is_recognised_by_its_ip_version_nibble()
    {
        var v4 = Ok(AddAddrV0(3, "198.51.100.7", 80), Ack);
        Assert.True(v4.AddAddrV0);
        Assert.False(v4.AddAddrIsV6 || v4.AddAddrEcho || v4.AddAddrHasHmac);
        Assert.Equal(Addr128.Parse("198.51.100.7"), v4.AddAddr);
        Assert.Equal(80, v4.AddAddrPort);

        var v6 = Ok(AddAddrV0(4, "2001:db8::9"), Ack);
        Assert.True(v6.AddAddrV0 && v6.AddAddrIsV6);
        Assert.False(v6.AddAddrHasPort);
        Assert.Equal(Addr128.Parse("2001:db8::9"), v6.AddAddr);
    }

    [Fact]
    public void Remove_addr_lists_one_to_eight_address_ids()
    {
        var one = Ok(Cat(RemoveAddr(0), [Nop]), Ack);
        Assert.Equal(MptcpSubtypes.RemoveAddr, one.Subtypes);
        Assert.Equal(1, one.RemoveAddrCount);
        Assert.Equal(0, one.RemoveAddrId(0));

        var eight = Ok(RemoveAddr(1, 2, 3, 4, 5, 6, 7, 255), Ack);
        Assert.Equal(8, eight.RemoveAddrCount);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 255], Enumerable.Range(0, 8).Select(eight.RemoveAddrId).ToArray());
    }

    [Fact]
    public void Mp_prio_sets_backup_and_accepts_the_rfc6824_form_with_an_address_id()
    {
        var v1 = Ok(Cat(Prio(true), [Nop]), Ack);
        Assert.Equal(MptcpSubtypes.Prio, v1.Subtypes);
        Assert.True(v1.PrioBackup);
        Assert.False(v1.PrioHasAddressId);

        var cleared = Ok(Prio(false), Ack);
        Assert.False(cleared.PrioBackup);

        var v0 = Ok(PrioV0(true, 5), Ack);
        Assert.True(v0.PrioBackup && v0.PrioHasAddressId);
        Assert.Equal(5, v0.PrioAddressId);
    }

    [Fact]
    public void Mp_fail_carries_a_64_bit_data_sequence_number()
    {
        var info = Ok(Fail(0x0000000100000002), Ack);
        Assert.Equal(MptcpSubtypes.Fail, info.Subtypes);
        Assert.Equal(0x0000000100000002UL, info.FailDataSequence);
    }

    [Fact]
    public void Mp_fastclose_carries_the_option_receivers_key()
    {
        var info = Ok(FastClose(KeyB), Ack | Rst);
        Assert.Equal(MptcpSubtypes.FastClose, info.Subtypes);
        Assert.Equal(KeyB, info.FastCloseKey);
    }

    [Fact]
    public void Mp_tcprst_carries_its_flags_and_reason()
    {
        var info = Ok(TcpRst(0x1, 6), Rst); // transient, middlebox interference
        Assert.Equal(MptcpSubtypes.TcpRst, info.Subtypes);
        Assert.Equal(1, info.TcpRstFlags);
        Assert.Equal(6, info.TcpRstReason);
    }

    [Fact]
    public void Dss_and_add_addr_in_one_segment_are_both_recorded()
    {
        var opts = Cat(Dss(dataAck: 77), AddAddr(1, "203.0.113.5", 4321, 0x1111222233334444), [Nop, Nop]);
        var info = Ok(opts, Ack);
        Assert.Equal(MptcpSubtypes.Dss | MptcpSubtypes.AddAddr, info.Subtypes);
        Assert.Equal(2, info.OptionCount);
        Assert.Equal(77UL, info.DataAck);
        Assert.Equal(Addr128.Parse("203.0.113.5"), info.AddAddr);
        Assert.Equal(4321, info.AddAddrPort);
        Assert.Equal(0x1111222233334444UL, info.AddAddrHmac);
    }

    [Fact]
    public void Mp_fastclose_and_mp_tcprst_on_a_reset_are_both_recorded()
    {
        var info = Ok(Cat(FastClose(KeyA), TcpRst(0, 1)), Rst | Ack);
        Assert.Equal(MptcpSubtypes.FastClose | MptcpSubtypes.TcpRst, info.Subtypes);
        Assert.Equal(KeyA, info.FastCloseKey);
        Assert.Equal(1, info.TcpRstReason);
    }

    [Fact]
    public void Remove_addr_may_accompany_mp_capable()
    {
        var info = Ok(Cat(Capable(1, 0x01, KeyA, KeyB), RemoveAddr(3), [Nop]), Ack);
        Assert.Equal(MptcpSubtypes.Capable | MptcpSubtypes.RemoveAddr, info.Subtypes);
        Assert.Equal(KeyB, info.ReceiverKey);
        Assert.Equal(3, info.RemoveAddrId(0));
    }

    [Fact]
    public void A_repeated_subtype_keeps_the_fields_of_its_first_occurrence_and_counts_both()
    {
        var info = Ok(Cat(Dss(dataAck: 1), Dss(dataAck: 2)), Ack);
        Assert.Equal(MptcpSubtypes.Dss, info.Subtypes);
        Assert.Equal(2, info.OptionCount);
        Assert.Equal(1UL, info.DataAck);
    }

    [Fact]
    public void Options_after_end_of_option_list_are_ignored()
    {
        Assert.Equal(MptcpParse.None, Parse(Cat([Nop, Eol], Capable(1, 0x01)), Syn, 0, out _));
        // Even bytes that would be malformed as options are padding after EOL.
        Assert.Equal(MptcpParse.None, Parse([2, 4, 5, 0xB4, Eol, 30, 0, 1, 30], Syn, 0, out _));
        var info = Ok(Cat(Capable(1, 0x01), [Eol], JoinSyn(1, 2), [30, 1]), Syn);
        Assert.Equal(MptcpSubtypes.Capable, info.Subtypes);
        Assert.Equal(1, info.OptionCount);
    }

    [Fact]
    public void A_segment_without_kind_30_options_has_no_mptcp_option()
    {
        Assert.Equal(MptcpParse.None, Parse([], Syn, 0, out var empty));
        Assert.Equal(MptcpSubtypes.None, empty.Subtypes);
        Assert.Equal(MptcpParse.None, Parse(SynPrefix, Syn, 0, out var plain));
        Assert.Equal(0, plain.OptionCount);
        Assert.Equal(MptcpParse.None, Parse([Nop, Nop, Nop, Nop], Ack, 0, out _));
    }

    [Fact]
    public void Experimental_and_unassigned_subtypes_are_ignored_but_flagged()
    {
        var exp = Ok(Cat(Experimental(0xde, 0xad, 0xbe, 0xef), Dss(dataAck: 9)), Ack);
        Assert.Equal(MptcpSubtypes.Experimental | MptcpSubtypes.Dss, exp.Subtypes);
        Assert.Equal(9UL, exp.DataAck);

        var unassigned = Ok([30, 6, 0x90, 1, 2, 3, 30, 3, 0xE0], Ack); // subtypes 9 and 14, any length >= 3
        Assert.Equal((MptcpSubtypes)((1 << 9) | (1 << 14)), unassigned.Subtypes);
        Assert.True(unassigned.Has(MptcpSubtypes.Unassigned));
        Assert.Equal(2, unassigned.OptionCount);
    }

    [Fact]
    public void Parse_resets_stale_contents_of_the_info()
    {
        var info = Ok(JoinSyn(5, 6), Syn);
        Assert.Equal(MptcpSubtypes.Join, info.Subtypes);
        Assert.Equal(0UL, info.SenderKey);
        Assert.Equal(1, info.OptionCount);
    }
}
