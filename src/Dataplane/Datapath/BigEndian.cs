using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Switchyard.Dataplane.Datapath;

/// <summary>
/// The one set of network-byte-order loads and stores on raw frame pointers, used by every stage, and
/// MAC addresses as 48-bit numbers (wire byte 0 in bits 47..40, the snapshot's representation).
/// Unaligned accesses are intended: headers sit at arbitrary offsets (a VLAN tag shifts everything by 4).
/// Callers check bounds before calling.
/// </summary>
public static unsafe class BigEndian
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ReadU16(byte* p)
    {
        ushort v = Unsafe.ReadUnaligned<ushort>(p);
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ReadU32(byte* p)
    {
        uint v = Unsafe.ReadUnaligned<uint>(p);
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReadU64(byte* p)
    {
        ulong v = Unsafe.ReadUnaligned<ulong>(p);
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteU16(byte* p, ushort v)
        => Unsafe.WriteUnaligned(p, BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteU32(byte* p, uint v)
        => Unsafe.WriteUnaligned(p, BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v);

    /// <summary>Reads 6 wire bytes as a 48-bit MAC.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReadMac(byte* p) => (ulong)ReadU32(p) << 16 | ReadU16(p + 4);

    /// <summary>Writes a 48-bit MAC (low bits of <paramref name="mac"/>) as 6 wire bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteMac(byte* p, ulong mac)
    {
        WriteU32(p, (uint)(mac >> 16));
        WriteU16(p + 4, (ushort)mac);
    }
}
