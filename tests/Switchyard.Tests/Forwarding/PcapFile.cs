using System.Buffers.Binary;

namespace Switchyard.Tests.Forwarding;

/// <summary>
/// Writes the classic libpcap format (magic a1b2c3d4, version 2.4, Ethernet link type), little-endian,
/// one record per frame with a made-up timestamp: enough for tshark to read.
/// </summary>
static class PcapFile
{
    public static void Write(string path, IEnumerable<byte[]> frames)
    {
        using var s = File.Create(path);
        Span<byte> h = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0xA1B2C3D4);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], 0);        // thiszone
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], 0);      // sigfigs
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], 65535);  // snaplen
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);      // LINKTYPE_ETHERNET
        s.Write(h);
        uint seconds = 1_700_000_000;
        Span<byte> r = stackalloc byte[16];
        foreach (var f in frames)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(r, seconds++);
            BinaryPrimitives.WriteUInt32LittleEndian(r[4..], 0);
            BinaryPrimitives.WriteUInt32LittleEndian(r[8..], (uint)f.Length);   // captured
            BinaryPrimitives.WriteUInt32LittleEndian(r[12..], (uint)f.Length);  // on the wire
            s.Write(r);
            s.Write(f);
        }
    }
}
