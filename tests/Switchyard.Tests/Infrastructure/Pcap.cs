using System.Buffers.Binary;

namespace Switchyard.Tests.Infrastructure;

/// <summary>One captured frame: timestamp and bytes (as captured; OriginalLength is the length on the wire).</summary>
public sealed record PcapPacket(DateTime Timestamp, byte[] Data, int OriginalLength);

/// <summary>Writes classic libpcap files (magic a1b2c3d4, microseconds, linktype 1 = Ethernet), the format DPDK's
/// net_pcap reads and writes.</summary>
public sealed class PcapWriter : IDisposable
{
    public const uint LinkTypeEthernet = 1;
    readonly Stream _s;
    DateTime _next = new(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public PcapWriter(string path, uint snapLen = 65535, uint linkType = LinkTypeEthernet) : this(File.Create(path), snapLen, linkType) { }

    public PcapWriter(Stream s, uint snapLen = 65535, uint linkType = LinkTypeEthernet)
    {
        _s = s;
        Span<byte> h = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0xa1b2c3d4);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], 0);   // thiszone
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], 0); // sigfigs
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], snapLen);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], linkType);
        _s.Write(h);
    }

    /// <summary>Appends a frame; without a timestamp, frames get deterministic timestamps 1 µs apart.</summary>
    public void Write(ReadOnlySpan<byte> frame, DateTime? timestamp = null)
    {
        var ts = timestamp ?? (_next = _next.AddTicks(10));
        long us = (ts.ToUniversalTime() - DateTime.UnixEpoch).Ticks / 10;
        Span<byte> h = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)(us / 1_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)(us % 1_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], (uint)frame.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], (uint)frame.Length);
        _s.Write(h);
        _s.Write(frame);
    }

    public static void WriteAll(string path, IEnumerable<byte[]> frames)
    {
        using var w = new PcapWriter(path);
        foreach (var f in frames) w.Write(f);
    }

    public void Dispose() => _s.Dispose();
}

/// <summary>Reads classic libpcap files in either byte order, micro- or nanosecond resolution.</summary>
public static class PcapReader
{
    public static List<PcapPacket> ReadAll(string path, out uint linkType)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 24) throw new InvalidDataException($"{path}: {bytes.Length} bytes, too short for a pcap header");
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        bool le, nanos;
        switch (magic)
        {
            case 0xa1b2c3d4: le = true; nanos = false; break;
            case 0xa1b23c4d: le = true; nanos = true; break;
            case 0xd4c3b2a1: le = false; nanos = false; break;
            case 0x4d3cb2a1: le = false; nanos = true; break;
            default: throw new InvalidDataException($"{path}: not a classic pcap file (magic {magic:x8}; pcapng is not supported)");
        }
        uint U32(int off) => le ? BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(off)) : BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(off));
        linkType = U32(20);
        var list = new List<PcapPacket>();
        int pos = 24;
        while (pos + 16 <= bytes.Length)
        {
            uint sec = U32(pos), frac = U32(pos + 4), incl = U32(pos + 8), orig = U32(pos + 12);
            pos += 16;
            if (pos + incl > bytes.Length) throw new InvalidDataException($"{path}: truncated record at offset {pos - 16}");
            var ts = DateTime.UnixEpoch.AddSeconds(sec).AddTicks(nanos ? frac / 100 : frac * 10L);
            list.Add(new PcapPacket(ts, bytes.AsSpan(pos, (int)incl).ToArray(), (int)orig));
            pos += (int)incl;
        }
        return list;
    }

    public static List<PcapPacket> ReadAll(string path) => ReadAll(path, out _);
}
