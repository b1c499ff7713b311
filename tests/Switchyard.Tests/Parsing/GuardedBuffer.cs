using System.Runtime.InteropServices;

namespace Switchyard.Tests.Parsing;

/// <summary>
/// Readable pages fenced by an inaccessible (PROT_NONE) page on each side, from libc mmap/mprotect.
/// A frame copied so that it ends at <see cref="End"/> (or starts at <see cref="Start"/>) makes any
/// read past its end (or before its start) a segmentation fault that kills the test run, which is
/// the point: an out-of-bounds read cannot pass silently.
/// On platforms without mmap (Windows) it falls back to unguarded native memory.
/// </summary>
sealed unsafe partial class GuardedBuffer : IDisposable
{
    const int ProtNone = 0, ProtRead = 1, ProtWrite = 2;
    const int MapPrivate = 0x02;
    static int MapAnonymous => OperatingSystem.IsMacOS() ? 0x1000 : 0x20;

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int mprotect(nint addr, nuint length, int prot);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int munmap(nint addr, nuint length);

    readonly nint _base;
    readonly nuint _total;
    public readonly bool Guarded;
    public byte* Start { get; }
    public byte* End { get; }
    public int Capacity => (int)(End - Start);

    public GuardedBuffer(int dataPages)
    {
        int page = Environment.SystemPageSize;
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            _total = (nuint)((dataPages + 2) * page);
            _base = mmap(0, _total, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
            if (_base == -1) throw new InvalidOperationException($"mmap failed: errno {Marshal.GetLastPInvokeError()}");
            if (mprotect(_base, (nuint)page, ProtNone) != 0 ||
                mprotect(_base + (dataPages + 1) * page, (nuint)page, ProtNone) != 0)
                throw new InvalidOperationException($"mprotect failed: errno {Marshal.GetLastPInvokeError()}");
            Guarded = true;
            Start = (byte*)(_base + page);
        }
        else
        {
            _total = (nuint)(dataPages * page);
            _base = (nint)NativeMemory.Alloc(_total);
            Start = (byte*)_base;
        }
        End = Start + dataPages * page;
    }

    /// <summary>Copies the frame so its last byte is the last readable byte.</summary>
    public byte* PlaceAtEnd(ReadOnlySpan<byte> frame)
    {
        byte* p = End - frame.Length;
        frame.CopyTo(new Span<byte>(p, frame.Length));
        return p;
    }

    /// <summary>Copies the frame so its first byte is the first readable byte.</summary>
    public byte* PlaceAtStart(ReadOnlySpan<byte> frame)
    {
        frame.CopyTo(new Span<byte>(Start, frame.Length));
        return Start;
    }

    public void Dispose()
    {
        if (Guarded) munmap(_base, _total);
        else NativeMemory.Free((void*)_base);
    }
}
