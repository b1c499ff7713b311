using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Switchyard.Dataplane.Datapath;

/// <summary>
/// An IPv4 or IPv6 address in 128 bits. <see cref="Hi"/> and <see cref="Lo"/> hold the address bytes
/// 0..7 and 8..15 read big-endian, so comparisons and hashing need no byte swaps per use.
/// IPv4 is stored IPv4-mapped (::ffff:a.b.c.d); <see cref="V4"/> is then the address in host order.
/// </summary>
public readonly struct Addr128 : IEquatable<Addr128>
{
    public readonly ulong Hi;
    public readonly ulong Lo;

    const ulong V4MappedLo = 0x0000_FFFF_0000_0000UL;

    public Addr128(ulong hi, ulong lo) { Hi = hi; Lo = lo; }

    public static Addr128 FromV4(uint hostOrder) => new(0, V4MappedLo | hostOrder);

    public bool IsV4 => Hi == 0 && (Lo & 0xFFFF_FFFF_0000_0000UL) == V4MappedLo;
    public bool IsZero => Hi == 0 && Lo == 0;

    /// <summary>The IPv4 address in host order (only meaningful when <see cref="IsV4"/>).</summary>
    public uint V4 => (uint)Lo;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Addr128 ReadV4(byte* p) => FromV4(BinaryPrimitives.ReadUInt32BigEndian(new ReadOnlySpan<byte>(p, 4)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Addr128 ReadV6(byte* p) => new(
        BinaryPrimitives.ReadUInt64BigEndian(new ReadOnlySpan<byte>(p, 8)),
        BinaryPrimitives.ReadUInt64BigEndian(new ReadOnlySpan<byte>(p + 8, 8)));

    /// <summary><see cref="ReadV6"/> stored straight into <paramref name="into"/>, its two halves one 64-bit store each:
    /// assigned from ReadV6, the JIT built the value in a stack temporary first (two spills and two reloads per address
    /// in the parser's loop).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void ReadV6Into(byte* p, ref Addr128 into)
    {
        ref ulong hi = ref Unsafe.As<Addr128, ulong>(ref into);
        hi = BinaryPrimitives.ReadUInt64BigEndian(new ReadOnlySpan<byte>(p, 8));
        Unsafe.Add(ref hi, 1) = BinaryPrimitives.ReadUInt64BigEndian(new ReadOnlySpan<byte>(p + 8, 8));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void WriteV4(byte* p) => BinaryPrimitives.WriteUInt32BigEndian(new Span<byte>(p, 4), V4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void WriteV6(byte* p)
    {
        BinaryPrimitives.WriteUInt64BigEndian(new Span<byte>(p, 8), Hi);
        BinaryPrimitives.WriteUInt64BigEndian(new Span<byte>(p + 8, 8), Lo);
    }

    public static Addr128 FromIPAddress(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> b4 = stackalloc byte[4];
            address.TryWriteBytes(b4, out _);
            return FromV4(BinaryPrimitives.ReadUInt32BigEndian(b4));
        }
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out _);
        return new(BinaryPrimitives.ReadUInt64BigEndian(b), BinaryPrimitives.ReadUInt64BigEndian(b[8..]));
    }

    public static Addr128 Parse(string text) => FromIPAddress(IPAddress.Parse(text));

    public IPAddress ToIPAddress()
    {
        if (IsV4)
        {
            Span<byte> b4 = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b4, V4);
            return new IPAddress(b4);
        }
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(b, Hi);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], Lo);
        return new IPAddress(b);
    }

    public bool Equals(Addr128 other) => Hi == other.Hi && Lo == other.Lo;
    public override bool Equals(object? obj) => obj is Addr128 a && Equals(a);
    public override int GetHashCode() => HashCode.Combine(Hi, Lo);
    public static bool operator ==(Addr128 a, Addr128 b) => a.Equals(b);
    public static bool operator !=(Addr128 a, Addr128 b) => !a.Equals(b);
    public override string ToString() => ToIPAddress().ToString();
}
