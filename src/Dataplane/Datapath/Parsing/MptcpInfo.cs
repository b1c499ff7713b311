namespace Switchyard.Dataplane.Datapath.Parsing;

/// <summary>Result of <see cref="MptcpOptions.Parse"/>.</summary>
public enum MptcpParse : byte
{
    None = 0,       // no kind-30 option in the segment (or no options at all)
    Ok,             // at least one kind-30 option, all well-formed; see MptcpInfo.Subtypes
    Malformed,      // see MptcpInfo.Error / ErrorOffset; the other fields are partial and must not be used
}

/// <summary>Why an options area was rejected (valid with <see cref="MptcpParse.Malformed"/>).</summary>
public enum MptcpError : byte
{
    None = 0,
    OptionTooShort,          // an option (any kind) with length byte 0 or 1
    OptionOverrun,           // an option (any kind) whose length byte, or body, runs past the options area
    BadLength,               // a kind-30 option whose length is not one its subtype defines (incl. length 2: no subtype byte)
    LengthMismatchesFlags,   // MP_CAPABLE / MP_JOIN: a valid length, but not the one the TCP flags (and payload) imply
}

/// <summary>
/// MPTCP subtypes seen in one segment, bit n = subtype n (RFC 8684 IANA registry), so
/// <c>1 &lt;&lt; subtype</c> maps a subtype to its bit. Subtypes 9..14 are unassigned and reported
/// under <see cref="Unassigned"/>; 15 is MP_EXPERIMENTAL. Neither is decoded.
/// </summary>
[Flags]
public enum MptcpSubtypes : ushort
{
    None = 0,
    Capable = 1 << 0,
    Join = 1 << 1,
    Dss = 1 << 2,
    AddAddr = 1 << 3,
    RemoveAddr = 1 << 4,
    Prio = 1 << 5,
    Fail = 1 << 6,
    FastClose = 1 << 7,
    TcpRst = 1 << 8,
    Unassigned = 0x7E00,     // subtypes 9..14
    Experimental = 1 << 15,
}

/// <summary>Which packet of the MP_JOIN three-way handshake an MP_JOIN came from (told by its length).</summary>
public enum MptcpJoinPhase : byte { None = 0, Syn, SynAck, Ack }

/// <summary>MP_CAPABLE flag bits (byte 3), RFC 8684 §3.1 and the IANA "MPTCP Handshake Algorithms" table.</summary>
public static class MptcpCapFlags
{
    public const byte ChecksumRequired = 0x80;   // A
    public const byte Extensibility = 0x40;      // B: must be 0 in v1
    public const byte DenyJoinId0 = 0x20;        // C: no new subflows to the sender's initial address/port
    public const byte HmacSha256 = 0x01;         // H (HMAC-SHA1 in v0)
    public const byte Unassigned = 0x1E;         // D..G
}

/// <summary>DSS flag bits (byte 3, low 5 bits), RFC 8684 §3.3.</summary>
public static class MptcpDssFlags
{
    public const byte DataAck = 0x01;        // A
    public const byte DataAck8 = 0x02;       // a
    public const byte Mapping = 0x04;        // M: DSN, subflow seq, data-level length (+checksum)
    public const byte Dsn8 = 0x08;           // m
    public const byte DataFin = 0x10;        // F
}

/// <summary>
/// What <see cref="MptcpOptions.Parse"/> decoded from one segment's TCP options. When a subtype
/// occurs several times, its bit is set once and the fields hold the first occurrence.
/// Fields of a subtype are valid only when its bit is set in <see cref="Subtypes"/>.
/// Multi-byte values are converted from network order; keys, tokens and nonces are the 64/32-bit
/// big-endian numbers from the wire (what Wireshark prints).
/// </summary>
public struct MptcpInfo
{
    public MptcpSubtypes Subtypes;
    public byte OptionCount;            // kind-30 options seen (all subtypes, including experimental/unassigned)
    public MptcpError Error;            // valid with Malformed
    public ushort ErrorOffset;           // with Malformed: offset of the offending option from the start of the options area

    // MP_CAPABLE (subtype 0)
    public byte Version;                // 0 = RFC 6824, 1 = RFC 8684; a SYN may carry a higher one
    public byte CapFlags;               // raw byte 3, see MptcpCapFlags
    public byte CapLength;              // 4, 12, 20, 22 or 24
    public bool HasSenderKey;
    public bool HasReceiverKey;
    public bool HasDataLevelLength;     // length 22/24: the MP_CAPABLE of a data segment (v1)
    public bool CapHasChecksum;         // length 24
    public ulong SenderKey;
    public ulong ReceiverKey;
    public ushort CapDataLevelLength;
    public ushort CapChecksum;

    // MP_JOIN (subtype 1)
    public MptcpJoinPhase JoinPhase;
    public bool JoinBackup;             // B bit (SYN, SYN/ACK)
    public byte JoinAddressId;          // SYN, SYN/ACK
    public uint JoinToken;              // SYN: receiver's token
    public uint JoinNonce;              // SYN, SYN/ACK: sender's random number
    public ulong JoinTruncatedHmac;     // SYN/ACK: leftmost 64 bits of the HMAC
    public ushort JoinHmacOffset;        // ACK: offset of the 20-byte HMAC from the start of the options area

    // DSS (subtype 2)
    public byte DssFlags;               // byte 3 & 0x1F, see MptcpDssFlags
    public bool HasDataAck;
    public bool HasMapping;             // DSN + subflow sequence + data-level length
    public bool DssHasChecksum;
    public bool DataFin;
    public ulong DataAck;               // 32 or 64 bits as sent (DssFlags says which)
    public ulong DataSequence;          // 32 or 64 bits as sent
    public uint SubflowSequence;
    public ushort DataLevelLength;      // 0 with a mapping = infinite mapping (fallback)
    public ushort DssChecksum;

    // ADD_ADDR (subtype 3)
    public bool AddAddrEcho;            // E bit (v1)
    public bool AddAddrV0;              // RFC 6824 form (IPVer nibble, no HMAC), recognised by nibble 4/6 + a v0-only length
    public bool AddAddrIsV6;
    public bool AddAddrHasPort;
    public bool AddAddrHasHmac;
    public byte AddAddrId;
    public ushort AddAddrPort;          // 0 without a port
    public Addr128 AddAddr;             // IPv4 stored IPv4-mapped
    public ulong AddAddrHmac;           // truncated (rightmost 64 bits) HMAC, valid with AddAddrHasHmac

    // REMOVE_ADDR (subtype 4)
    public byte RemoveAddrCount;        // 1..8
    public ulong RemoveAddrIds;         // id i in byte i (bits 8i..8i+7)

    // MP_PRIO (subtype 5)
    public bool PrioBackup;
    public bool PrioHasAddressId;       // the RFC 6824 length-4 form
    public byte PrioAddressId;

    // MP_FAIL (subtype 6)
    public ulong FailDataSequence;

    // MP_FASTCLOSE (subtype 7)
    public ulong FastCloseKey;          // the option receiver's key

    // MP_TCPRST (subtype 8); Linux acts on it only on segments with RST set
    public byte TcpRstFlags;            // U V W T (T = 0x1, transient)
    public byte TcpRstReason;

    public readonly bool Has(MptcpSubtypes s) => (Subtypes & s) != 0;
    /// <summary>C flag of the MP_CAPABLE: the sender refuses joins to its initial address/port.</summary>
    public readonly bool DenyJoinId0 => (CapFlags & MptcpCapFlags.DenyJoinId0) != 0;
    public readonly bool ChecksumRequired => (CapFlags & MptcpCapFlags.ChecksumRequired) != 0;
    /// <summary>The MP_CAPABLE passes Linux's acceptance rule: H set, B and D..G clear, and version exactly 1
    /// (any version &gt;= 1 on the length-4 SYN form). A rejecting Linux falls back to plain TCP.</summary>
    public readonly bool CapAcceptedByLinux =>
        (CapFlags & 0x5F) == MptcpCapFlags.HmacSha256 && (CapLength == 4 ? Version >= 1 : Version == 1);
    /// <summary>Address ID i (0-based) of the REMOVE_ADDR.</summary>
    public readonly byte RemoveAddrId(int i) => (byte)(RemoveAddrIds >> (8 * i));
}
