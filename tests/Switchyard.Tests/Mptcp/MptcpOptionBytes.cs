using Switchyard.Dataplane.Datapath.Parsing;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Switchyard.Dataplane.Datapath.Steering.Tokens;

namespace Switchyard.Tests.Mptcp;

/// <summary>
/// MPTCP option encoders written from the RFC 8684 figures (§3), independently of
/// the decoder, plus a pinned-memory wrapper around <see cref="MptcpOptions.Parse"/>.
/// </summary>
static class Mpo
{
    public const byte Syn = 0x02, Ack = 0x10, SynAck = Syn | Ack, Rst = 0x04, Fin = 0x01, Psh = 0x08;
    public const byte Nop = 1, Eol = 0;

    public static byte[] Cat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    static byte[] Be64(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64BigEndian(b, v); return b; }
    static byte[] Be32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); return b; }
    static byte[] Be16(ushort v) => [(byte)(v >> 8), (byte)v];

    /// <summary>Option header: kind 30, length (filled by Finish), subtype nibble | low nibble, byte 3.</summary>
    static byte[] Finish(List<byte> b) { b[1] = (byte)b.Count; return b.ToArray(); }

    /// <summary>MP_CAPABLE (RFC 8684 Fig. 4): version nibble, flags A..H, then keys, data-level length, checksum.</summary>
    public static byte[] Capable(byte version = 1, byte flags = 0x81, ulong? senderKey = null, ulong? receiverKey = null,
        ushort? dataLevelLength = null, ushort? checksum = null)
    {
        var b = new List<byte> { 30, 0, (byte)(0x00 | version), flags };
        if (senderKey is { } s) b.AddRange(Be64(s));
        if (receiverKey is { } r) b.AddRange(Be64(r));
        if (dataLevelLength is { } d) b.AddRange(Be16(d));
        if (checksum is { } c) b.AddRange(Be16(c));
        return Finish(b);
    }

    /// <summary>MP_JOIN SYN (Fig. 5): B bit, address id, receiver's token, sender's random number.</summary>
    public static byte[] JoinSyn(uint token, uint nonce, byte addressId = 0, bool backup = false) =>
        Finish([30, 0, (byte)(0x10 | (backup ? 1 : 0)), addressId, .. Be32(token), .. Be32(nonce)]);

    /// <summary>MP_JOIN SYN/ACK (Fig. 6): truncated HMAC (64 bits), nonce.</summary>
    public static byte[] JoinSynAck(ulong truncatedHmac, uint nonce, byte addressId = 0, bool backup = false) =>
        Finish([30, 0, (byte)(0x10 | (backup ? 1 : 0)), addressId, .. Be64(truncatedHmac), .. Be32(nonce)]);

    /// <summary>MP_JOIN third ACK (Fig. 7): 160-bit HMAC.</summary>
    public static byte[] JoinAck(byte[] hmac20) => Finish([30, 0, 0x10, 0, .. hmac20]);

    /// <summary>DSS (Fig. 9). Widths follow the flags; a DSN implies the subflow seq and data-level length.</summary>
    public static byte[] Dss(bool dataFin = false, ulong? dataAck = null, bool ack64 = true, ulong? dsn = null, bool dsn64 = true,
        uint subflowSeq = 0, ushort dataLevelLength = 0, ushort? checksum = null)
    {
        byte flags = (byte)((dataFin ? 0x10 : 0) | (dsn is not null ? 0x04 | (dsn64 ? 0x08 : 0) : 0)
                            | (dataAck is not null ? 0x01 | (ack64 ? 0x02 : 0) : 0));
        var b = new List<byte> { 30, 0, 0x20, flags };
        if (dataAck is { } a) b.AddRange(ack64 ? Be64(a) : Be32((uint)a));
        if (dsn is { } d)
        {
            b.AddRange(dsn64 ? Be64(d) : Be32((uint)d));
            b.AddRange(Be32(subflowSeq));
            b.AddRange(Be16(dataLevelLength));
        }
        if (checksum is { } c) b.AddRange(Be16(c));
        return Finish(b);
    }

    /// <summary>ADD_ADDR (Fig. 12): E bit, address id, address, optional port, truncated HMAC unless echo.</summary>
    public static byte[] AddAddr(byte id, string address, ushort? port = null, ulong? hmac = null, bool echo = false)
    {
        var ip = IPAddress.Parse(address);
        var b = new List<byte> { 30, 0, (byte)(0x30 | (echo ? 1 : 0)), id };
        b.AddRange(ip.GetAddressBytes());
        if (port is { } p) b.AddRange(Be16(p));
        if (hmac is { } h) b.AddRange(Be64(h));
        return Finish(b);
    }

    /// <summary>RFC 6824 ADD_ADDR: IPVer nibble (4/6), no HMAC.</summary>
    public static byte[] AddAddrV0(byte id, string address, ushort? port = null)
    {
        var ip = IPAddress.Parse(address);
        var b = new List<byte> { 30, 0, (byte)(0x30 | (ip.AddressFamily == AddressFamily.InterNetworkV6 ? 6 : 4)), id };
        b.AddRange(ip.GetAddressBytes());
        if (port is { } p) b.AddRange(Be16(p));
        return Finish(b);
    }

    public static byte[] RemoveAddr(params byte[] ids) => Finish([30, 0, 0x40, .. ids]);
    public static byte[] Prio(bool backup) => [30, 3, (byte)(0x50 | (backup ? 1 : 0))];
    public static byte[] PrioV0(bool backup, byte addressId) => [30, 4, (byte)(0x50 | (backup ? 1 : 0)), addressId];
    public static byte[] Fail(ulong dsn) => Finish([30, 0, 0x60, 0, .. Be64(dsn)]);
    public static byte[] FastClose(ulong receiverKey) => Finish([30, 0, 0x70, 0, .. Be64(receiverKey)]);
    public static byte[] TcpRst(byte flags, byte reason) => [30, 4, (byte)(0x80 | (flags & 0xF)), reason];
    public static byte[] Experimental(params byte[] body) => Finish([30, 0, 0xF0, .. body]);

    public static unsafe MptcpParse Parse(byte[] options, byte tcpFlags, int payload, out MptcpInfo info)
    {
        info = new MptcpInfo { Subtypes = MptcpSubtypes.Dss, SenderKey = 0xdead, OptionCount = 9 }; // stale contents must be reset
        fixed (byte* p = options) return MptcpOptions.Parse(p, options.Length, tcpFlags, payload, ref info);
    }

    public static MptcpInfo Ok(byte[] options, byte tcpFlags, int payload = 0)
    {
        var r = Parse(options, tcpFlags, payload, out var info);
        Assert.True(r == MptcpParse.Ok, $"expected Ok, got {r} ({info.Error} at {info.ErrorOffset}) for {Convert.ToHexString(options)}");
        return info;
    }

    public static MptcpInfo Bad(MptcpError error, byte[] options, byte tcpFlags, int payload = 0, int? offset = null)
    {
        var r = Parse(options, tcpFlags, payload, out var info);
        Assert.True(r == MptcpParse.Malformed, $"expected Malformed ({error}), got {r} for {Convert.ToHexString(options)}");
        Assert.Equal(error, info.Error);
        if (offset is { } o) Assert.Equal(o, info.ErrorOffset);
        return info;
    }
}
