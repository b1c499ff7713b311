using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Switchyard.Dataplane.Datapath.Forwarding;

/// <summary>
/// Big-endian field stores and loads on raw frame pointers, and MAC addresses as 48-bit numbers
/// (wire byte 0 in bits 47..40, the representation of the snapshot). Unaligned accesses are intended:
/// headers sit at arbitrary offsets (a VLAN tag shifts everything by 4).
/// </summary>
public static unsafe class Wire
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Be16(byte* p, ushort v)
        => Unsafe.WriteUnaligned(p, BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Be32(byte* p, uint v)
        => Unsafe.WriteUnaligned(p, BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ReadBe16(byte* p)
    {
        ushort v = Unsafe.ReadUnaligned<ushort>(p);
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ReadBe32(byte* p)
    {
        uint v = Unsafe.ReadUnaligned<uint>(p);
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v;
    }

    /// <summary>Writes a 48-bit MAC (low bits of <paramref name="mac"/>) as 6 wire bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteMac(byte* p, ulong mac)
    {
        Be32(p, (uint)(mac >> 16));
        Be16(p + 4, (ushort)mac);
    }

    /// <summary>Reads 6 wire bytes as a 48-bit MAC.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReadMac(byte* p) => (ulong)ReadBe32(p) << 16 | ReadBe16(p + 4);
}
