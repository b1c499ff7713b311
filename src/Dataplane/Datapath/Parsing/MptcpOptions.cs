using System.Runtime.CompilerServices;

namespace Switchyard.Dataplane.Datapath.Parsing;

/// <summary>
/// Decoder for the MPTCP (TCP option kind 30) options of one TCP segment, RFC 8684 with the
/// RFC 6824 (v0) forms told apart where the wire allows it. Layouts: RFC 8684 §3 and Appendix A figures.
/// Design (layout, bounds, memory ordering, costs): docs/internals.md, "The MPTCP option parser".
/// </summary>
public static unsafe class MptcpOptions
{
    public const byte Kind = 30;
    const byte Eol = 0, Nop = 1;

    // Subtypes (RFC 8684 IANA registry).
    public const int MpCapable = 0, MpJoin = 1, Dss = 2, AddAddr = 3, RemoveAddr = 4, MpPrio = 5,
        MpFail = 6, MpFastClose = 7, MpTcpRst = 8, MpExperimental = 15;

    // Option lengths in bytes, kind and length bytes included.
    const int CapSyn = 4, CapSynAck = 12, CapAck = 20, CapAckData = 22, CapAckDataCsum = 24;
    const int JoinSyn = 12, JoinSynAck = 16, JoinAck = 24;
    const int DssBase = 4, DssMap32 = 10, DssMap64 = 14, DssChecksum = 2;
    const int AddAddrV4 = 16, AddAddrV4Port = 18, AddAddrV6 = 28, AddAddrV6Port = 30; // with HMAC (E = 0)
    const int AddAddrHmac = 8;
    const int RemoveAddrBase = 3, RemoveAddrMaxIds = 8;  // Linux MPTCP_RM_IDS_MAX
    const int PrioV1 = 3, PrioV0 = 4, FailLength = 12, FastCloseLength = 12, TcpRstLength = 4;

    /// <summary>
    /// Walks the TCP options area and decodes every kind-30 option into <paramref name="info"/>
    /// (reset first). <paramref name="tcpFlags"/> and <paramref name="payloadLength"/> (TCP payload
    /// bytes) pick the MP_CAPABLE/MP_JOIN length the segment must carry. EOL ends the walk: bytes
    /// after it are padding and ignored.
    /// </summary>
    public static MptcpParse Parse(byte* options, int length, byte tcpFlags, int payloadLength, ref MptcpInfo info)
    {
        info = default;
        if (options == null || length <= 0) return MptcpParse.None;
        byte* p = options;
        byte* end = options + length;
        while (p < end)
        {
            byte kind = *p;
            if (kind == Eol) break;
            if (kind == Nop) { p++; continue; }
            if (end - p < 2) return Fail(ref info, MptcpError.OptionOverrun, p - options);
            int len = p[1];
            if (len < 2) return Fail(ref info, MptcpError.OptionTooShort, p - options);
            if (len > end - p) return Fail(ref info, MptcpError.OptionOverrun, p - options);
            if (kind == Kind)
            {
                var error = Decode(p, len, tcpFlags, payloadLength, (int)(p - options), ref info);
                if (error != MptcpError.None) return Fail(ref info, error, p - options);
            }
            p += len;
        }
        return info.OptionCount == 0 ? MptcpParse.None : MptcpParse.Ok;
    }

    static MptcpParse Fail(ref MptcpInfo info, MptcpError error, long offset)
    {
        info.Error = error;
        info.ErrorOffset = (ushort)offset;
        return MptcpParse.Malformed;
    }

    /// <summary>One kind-30 option of <paramref name="len"/> bytes (already known to lie inside the area).</summary>
    static MptcpError Decode(byte* o, int len, byte tcpFlags, int payloadLength, int offset, ref MptcpInfo info)
    {
        if (len < 3) return MptcpError.BadLength;   // no subtype byte
        int subtype = o[2] >> 4;
        int nibble = o[2] & 0x0F;
        var bit = (MptcpSubtypes)(1 << subtype);
        bool first = (info.Subtypes & bit) == 0;
        bool syn = (tcpFlags & TcpFlag.Syn) != 0, ack = (tcpFlags & TcpFlag.Ack) != 0;

        switch (subtype)
        {
            case MpCapable:
            {
                if (len != CapSyn && len != CapSynAck && len != CapAck && len != CapAckData && len != CapAckDataCsum)
                    return MptcpError.BadLength;
                bool ok;
                if (nibble == 0) // RFC 6824: the key is already in the SYN; no data-carrying form
                    ok = syn ? len == CapSynAck : len == CapAck;
                else if (syn)
                    ok = len == (ack ? CapSynAck : CapSyn);
                else
                    ok = payloadLength > 0 ? len == CapAckData || len == CapAckDataCsum : len == CapAck;
                if (!ok) return MptcpError.LengthMismatchesFlags;
                if (!first) break;
                info.Version = (byte)nibble;
                info.CapFlags = o[3];
                info.CapLength = (byte)len;
                if (len >= CapSynAck) { info.HasSenderKey = true; info.SenderKey = BigEndian.ReadU64(o + 4); }
                if (len >= CapAck) { info.HasReceiverKey = true; info.ReceiverKey = BigEndian.ReadU64(o + 12); }
                if (len >= CapAckData) { info.HasDataLevelLength = true; info.CapDataLevelLength = BigEndian.ReadU16(o + 20); }
                if (len == CapAckDataCsum) { info.CapHasChecksum = true; info.CapChecksum = BigEndian.ReadU16(o + 22); }
                break;
            }
            case MpJoin:
            {
                MptcpJoinPhase phase = len switch
                {
                    JoinSyn => MptcpJoinPhase.Syn,
                    JoinSynAck => MptcpJoinPhase.SynAck,
                    JoinAck => MptcpJoinPhase.Ack,
                    _ => MptcpJoinPhase.None,
                };
                if (phase == MptcpJoinPhase.None) return MptcpError.BadLength;
                var implied = syn ? (ack ? MptcpJoinPhase.SynAck : MptcpJoinPhase.Syn) : MptcpJoinPhase.Ack;
                if (phase != implied) return MptcpError.LengthMismatchesFlags;
                if (!first) break;
                info.JoinPhase = phase;
                if (phase == MptcpJoinPhase.Ack) { info.JoinHmacOffset = (ushort)(offset + 4); break; }
                info.JoinBackup = (nibble & 0x1) != 0;
                info.JoinAddressId = o[3];
                if (phase == MptcpJoinPhase.Syn) { info.JoinToken = BigEndian.ReadU32(o + 4); info.JoinNonce = BigEndian.ReadU32(o + 8); }
                else { info.JoinTruncatedHmac = BigEndian.ReadU64(o + 4); info.JoinNonce = BigEndian.ReadU32(o + 12); }
                break;
            }
            case Dss:
            {
                if (len < DssBase) return MptcpError.BadLength;   // the flags byte
                int flags = o[3] & 0x1F;
                bool hasAck = (flags & MptcpDssFlags.DataAck) != 0, ack8 = (flags & MptcpDssFlags.DataAck8) != 0;
                bool hasMap = (flags & MptcpDssFlags.Mapping) != 0, dsn8 = (flags & MptcpDssFlags.Dsn8) != 0;
                int expected = DssBase + (hasAck ? (ack8 ? 8 : 4) : 0) + (hasMap ? (dsn8 ? DssMap64 : DssMap32) : 0);
                // Like Linux, a checksum is accepted present or absent; whether it had to be there is
                // known only to the endpoints (negotiated in the MP_CAPABLE handshake). Like Linux, two stray
                // "checksum" bytes are tolerated even without a mapping (RFC 8684 has a checksum only with one).
                if (len != expected && len != expected + DssChecksum) return MptcpError.BadLength;
                if (!first) break;
                info.DssFlags = (byte)flags;
                info.DataFin = (flags & MptcpDssFlags.DataFin) != 0;
                byte* q = o + DssBase;
                if (hasAck)
                {
                    info.HasDataAck = true;
                    if (ack8) { info.DataAck = BigEndian.ReadU64(q); q += 8; } else { info.DataAck = BigEndian.ReadU32(q); q += 4; }
                }
                if (hasMap)
                {
                    info.HasMapping = true;
                    if (dsn8) { info.DataSequence = BigEndian.ReadU64(q); q += 8; } else { info.DataSequence = BigEndian.ReadU32(q); q += 4; }
                    info.SubflowSequence = BigEndian.ReadU32(q);
                    info.DataLevelLength = BigEndian.ReadU16(q + 4);
                    q += 6;
                }
                if (len == expected + DssChecksum) { info.DssHasChecksum = true; info.DssChecksum = BigEndian.ReadU16(q); }
                break;
            }
            case AddAddr:
            {
                bool echo = (nibble & 0x1) != 0;
                bool v0 = false, v6, port;
                if (!echo && nibble == 4 && (len == AddAddrV4 - AddAddrHmac || len == AddAddrV4Port - AddAddrHmac))
                {
                    v0 = true; v6 = false; port = len == AddAddrV4Port - AddAddrHmac;
                }
                else if (!echo && nibble == 6 && (len == AddAddrV6 - AddAddrHmac || len == AddAddrV6Port - AddAddrHmac))
                {
                    v0 = true; v6 = true; port = len == AddAddrV6Port - AddAddrHmac;
                }
                else
                {
                    int l = echo ? len + AddAddrHmac : len;   // the length it would have with its HMAC
                    if (l == AddAddrV4 || l == AddAddrV4Port) { v6 = false; port = l == AddAddrV4Port; }
                    else if (l == AddAddrV6 || l == AddAddrV6Port) { v6 = true; port = l == AddAddrV6Port; }
                    else return MptcpError.BadLength;
                }
                if (!first) break;
                info.AddAddrV0 = v0;
                info.AddAddrEcho = echo;
                info.AddAddrIsV6 = v6;
                info.AddAddrHasPort = port;
                info.AddAddrId = o[3];
                byte* q = o + 4;
                if (v6) { info.AddAddr = Addr128.ReadV6(q); q += 16; }
                else { info.AddAddr = Addr128.ReadV4(q); q += 4; }
                if (port) { info.AddAddrPort = BigEndian.ReadU16(q); q += 2; }
                if (!echo && !v0) { info.AddAddrHasHmac = true; info.AddAddrHmac = BigEndian.ReadU64(q); }
                break;
            }
            case RemoveAddr:
            {
                int n = len - RemoveAddrBase;
                if (n < 1 || n > RemoveAddrMaxIds) return MptcpError.BadLength;
                if (!first) break;
                info.RemoveAddrCount = (byte)n;
                ulong ids = 0;
                for (int i = 0; i < n; i++) ids |= (ulong)o[RemoveAddrBase + i] << (8 * i);
                info.RemoveAddrIds = ids;
                break;
            }
            case MpPrio:
            {
                if (len != PrioV1 && len != PrioV0) return MptcpError.BadLength;
                if (!first) break;
                info.PrioBackup = (nibble & 0x1) != 0;
                if (len == PrioV0) { info.PrioHasAddressId = true; info.PrioAddressId = o[3]; }
                break;
            }
            case MpFail:
                if (len != FailLength) return MptcpError.BadLength;
                if (first) info.FailDataSequence = BigEndian.ReadU64(o + 4);
                break;
            case MpFastClose:
                if (len != FastCloseLength) return MptcpError.BadLength;
                if (first) info.FastCloseKey = BigEndian.ReadU64(o + 4);
                break;
            case MpTcpRst:
                if (len != TcpRstLength) return MptcpError.BadLength;
                if (first) { info.TcpRstFlags = (byte)nibble; info.TcpRstReason = o[3]; }
                break;
            default:
                break; // unassigned (9..14) or MP_EXPERIMENTAL (15): recorded, not decoded
        }
        info.Subtypes |= bit;
        if (info.OptionCount < byte.MaxValue) info.OptionCount++;
        return MptcpError.None;
    }
}
