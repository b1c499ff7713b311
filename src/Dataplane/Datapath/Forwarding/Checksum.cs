using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Switchyard.Dataplane.Datapath.Forwarding;

/// <summary>
/// The Internet checksum (RFC 1071) and the pseudo-header sums of TCP, UDP and ICMPv6.
/// <para>
/// Representation: partial sums are accumulated over words read in the machine's native byte order
/// (RFC 1071 section 2(B): the ones' complement sum is byte-order independent, so a little-endian
/// machine may sum byte-swapped words and swap only the result). A finished checksum is therefore a
/// value to be stored with a native 16-bit store (<see cref="Store"/>), which puts the bytes in network
/// order on any machine. Values that are numbers rather than memory (lengths, protocol numbers) go
/// through <see cref="Net16"/> before being added, so that they land in the same representation.
/// </para>
/// A partial sum is a <c>ulong</c>; carries are folded back in as they occur, so any number of
/// partial sums can be chained without overflow.
/// </summary>
public static unsafe class Checksum
{
    /// <summary>
    /// Adds the bytes [p, p+len) to <paramref name="acc"/>. The region must start at an even offset of
    /// the checksummed data (every caller's regions do: headers have even lengths), an odd trailing byte
    /// is padded with zero as RFC 1071 requires.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Add(byte* p, int len, ulong acc = 0)
    {
        // 32 bytes per iteration: four independent loads, each add followed by its carry (end-around
        // carry of the ones' complement sum). Unaligned loads are fine on x86 and Arm64.
        while (len >= 32)
        {
            acc = AddCarry(acc, Unsafe.ReadUnaligned<ulong>(p));
            acc = AddCarry(acc, Unsafe.ReadUnaligned<ulong>(p + 8));
            acc = AddCarry(acc, Unsafe.ReadUnaligned<ulong>(p + 16));
            acc = AddCarry(acc, Unsafe.ReadUnaligned<ulong>(p + 24));
            p += 32; len -= 32;
        }
        while (len >= 8)
        {
            acc = AddCarry(acc, Unsafe.ReadUnaligned<ulong>(p));
            p += 8; len -= 8;
        }
        if (len >= 4)
        {
            acc = AddCarry(acc, Unsafe.ReadUnaligned<uint>(p));
            p += 4; len -= 4;
        }
        if (len >= 2)
        {
            acc = AddCarry(acc, Unsafe.ReadUnaligned<ushort>(p));
            p += 2; len -= 2;
        }
        if (len == 1)
        {
            // The lone byte is the high-order byte of a big-endian word whose low byte is zero,
            // i.e. the first byte in memory of a zero-padded word.
            acc = AddCarry(acc, BitConverter.IsLittleEndian ? *p : (ulong)*p << 8);
        }
        return acc;
    }

    /// <summary>Adds the bytes of a span (see <see cref="Add(byte*, int, ulong)"/>).</summary>
    public static ulong Add(ReadOnlySpan<byte> data, ulong acc = 0)
    {
        fixed (byte* p = data) return Add(p, data.Length, acc);
    }

    /// <summary>Adds a 16-bit value given as a number (host order), e.g. a length or protocol.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AddNumber(ulong acc, ushort hostValue) => AddCarry(acc, Net16(hostValue));

    /// <summary>A host-order 16-bit number in the representation partial sums use.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Net16(ushort hostValue) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(hostValue) : hostValue;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong AddCarry(ulong acc, ulong word)
    {
        acc += word;
        return acc + (acc < word ? 1UL : 0UL);
    }

    /// <summary>Folds a partial sum to 16 bits (not complemented).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Fold(ulong acc)
    {
        // 64 -> 33 -> 32 bits, then 32 -> 17 -> 16 bits; each step's carry is at most 1.
        ulong s = (acc & 0xFFFF_FFFF) + (acc >> 32);
        s = (s & 0xFFFF_FFFF) + (s >> 32);
        s = (s & 0xFFFF) + (s >> 16);
        s = (s & 0xFFFF) + (s >> 16);
        return (ushort)s;
    }

    /// <summary>The checksum of a partial sum: the complement of its fold, ready for <see cref="Store"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Finish(ulong acc) => (ushort)~Fold(acc);

    /// <summary>Writes a finished checksum to the wire (network byte order results).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(byte* field, ushort checksum) => Unsafe.WriteUnaligned(field, checksum);

    /// <summary>The Internet checksum of [p, p+len).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Compute(byte* p, int len) => Finish(Add(p, len));

    /// <summary>True when [p, p+len) sums to all-ones, i.e. an embedded checksum is valid.</summary>
    public static bool IsValid(byte* p, int len) => Fold(Add(p, len)) == 0xFFFF;

    /// <summary>
    /// Sets the IPv4 header checksum of the header at <paramref name="ip"/> (its length from the IHL).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetIpv4Header(byte* ip)
    {
        int ihl = (ip[0] & 0x0F) * 4;
        ip[10] = 0; ip[11] = 0;
        Store(ip + 10, Compute(ip, ihl));
    }

    /// <summary>
    /// Sets the checksum of a 20-byte IPv4 header (no options), the common case for headers we build:
    /// two 8-byte words and one 4-byte word, no loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetIpv4Header20(byte* ip)
    {
        ip[10] = 0; ip[11] = 0;
        ulong acc = AddCarry(Unsafe.ReadUnaligned<ulong>(ip), Unsafe.ReadUnaligned<ulong>(ip + 8));
        acc = AddCarry(acc, Unsafe.ReadUnaligned<uint>(ip + 16));
        Store(ip + 10, Finish(acc));
    }

    /// <summary>
    /// Checksum of a 20-byte IPv4 header given as its bytes in memory order, loaded little-endian
    /// (bytes 0-7, 8-15 with the checksum field zero, 16-19), ready to store at offset 10 as is.
    /// Lets a writer build the header in registers and store it once (see Encapsulation).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Ipv4Header20(ulong bytes0, ulong bytes8, uint bytes16)
    {
        // Five 32-bit words added in 64 bits cannot overflow (the sum is below 2^35): independent adds, no end-around
        // carries until the fold (the carry chain of the 64-bit form was one long dependency per packet).
        ulong acc = ((ulong)(uint)bytes0 + (bytes0 >> 32)) + ((ulong)(uint)bytes8 + (bytes8 >> 32)) + bytes16;
        acc = (acc & 0xFFFF) + (acc >> 16);   // < 2^20
        acc = (acc & 0xFFFF) + (acc >> 16);   // < 2^16 + 2^4
        acc = (acc & 0xFFFF) + (acc >> 16);   // <= 0xFFFF
        return (ushort)~acc;
    }

    /// <summary>
    /// Partial sum of the IPv4 pseudo-header (RFC 793/768): source and destination read from the IPv4
    /// header at <paramref name="ip"/>, then zero, protocol, and the upper-layer length.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong PseudoHeaderV4(byte* ip, byte protocol, ushort upperLength)
    {
        ulong acc = Unsafe.ReadUnaligned<ulong>(ip + 12);          // source + destination, 8 bytes
        acc = AddCarry(acc, Net16(protocol));
        return AddCarry(acc, Net16(upperLength));
    }

    /// <summary>
    /// Partial sum of the IPv6 pseudo-header (RFC 8200 section 8.1): source and destination read from the
    /// IPv6 header at <paramref name="ip"/>, the 32-bit upper-layer length and the next header value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong PseudoHeaderV6(byte* ip, byte nextHeader, uint upperLength)
    {
        ulong acc = Unsafe.ReadUnaligned<ulong>(ip + 8);
        acc = AddCarry(acc, Unsafe.ReadUnaligned<ulong>(ip + 16));
        acc = AddCarry(acc, Unsafe.ReadUnaligned<ulong>(ip + 24));
        acc = AddCarry(acc, Unsafe.ReadUnaligned<ulong>(ip + 32));
        acc = AddCarry(acc, Net16((ushort)(upperLength >> 16)));
        acc = AddCarry(acc, Net16((ushort)upperLength));
        return AddCarry(acc, Net16(nextHeader));
    }

    /// <summary>
    /// Computes and stores the checksum of an upper-layer segment (TCP, UDP, ICMPv6) that starts at
    /// <paramref name="l4"/> and is <paramref name="l4Length"/> bytes long, given the pseudo-header sum.
    /// <paramref name="checksumOffset"/> is the field's offset within the segment (TCP 16, UDP 6, ICMPv6 2).
    /// For UDP a computed 0 is sent as 0xFFFF (RFC 768: 0 means "no checksum").
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetUpperLayer(byte* l4, int l4Length, int checksumOffset, ulong pseudoSum, bool isUdp)
    {
        l4[checksumOffset] = 0; l4[checksumOffset + 1] = 0;
        ushort c = Finish(Add(l4, l4Length, pseudoSum));
        if (isUdp && c == 0) c = 0xFFFF;
        Store(l4 + checksumOffset, c);
    }

    /// <summary>
    /// RFC 1624 eqn. 3 incremental update: the new checksum after one 16-bit field changed from
    /// <paramref name="oldValue"/> to <paramref name="newValue"/>. All three are in the same
    /// representation (all read from the wire with native loads, or all host-order numbers).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Update16(ushort checksum, ushort oldValue, ushort newValue)
    {
        // HC' = ~(~HC + ~m + m'); the 32-bit sum cannot overflow, Fold takes the carries.
        uint s = (uint)(ushort)~checksum + (ushort)~oldValue + newValue;
        return (ushort)~Fold(s);
    }

    /// <summary>RFC 1624 incremental update for a 32-bit field (e.g. an IPv4 address), same representation rules.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Update32(ushort checksum, uint oldValue, uint newValue)
    {
        ulong s = (ulong)(ushort)~checksum
                  + (ushort)~(ushort)oldValue + (ushort)~(ushort)(oldValue >> 16)
                  + (ushort)newValue + (ushort)(newValue >> 16);
        return (ushort)~Fold(s);
    }
}
