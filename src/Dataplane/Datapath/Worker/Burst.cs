using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Switchyard.Dataplane.Datapath.Worker;

/// <summary>
/// One burst of frames as parallel arrays in native memory, filled by the shim's receive (or by a
/// test/benchmark fake port) and annotated by <c>BurstProcessor</c> with what to do with each frame.
/// Allocated once per worker; nothing here allocates afterwards.
/// </summary>
public sealed unsafe class Burst : IDisposable
{
    public const int Size = 32;
    /// <summary>OutPort value meaning "free this frame".</summary>
    public const byte DropPort = 255;
    /// <summary>OutPort value meaning "hand this frame to the kernel" (the exception path, issue 12).</summary>
    public const byte ExceptionPort = 254;

    // Filled by receive
    public readonly nint* Handles;     // opaque mbuf handles (or fake-port buffer ids)
    public readonly byte** Data;       // start of the frame
    public readonly ushort* Length;    // frame length (first segment)
    public readonly ushort* Headroom;  // bytes free in front of Data
    public readonly ushort* Segments;  // segment count; > 1 is dropped as MultiSegment
    public int Count;

    // Filled by the processor
    public readonly short* Delta;      // new start = Data + Delta (negative: headers were prepended)
    public readonly ushort* OutLength; // new frame length
    public readonly byte* OutPort;     // egress port index, or DropPort

    readonly void* _block;

    public Burst()
    {
        nuint bytes = (nuint)(Size * (sizeof(nint) + sizeof(byte*) + 2 + 2 + 2 + 2 + 2 + 1) + 64);
        _block = NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_block, bytes);
        byte* p = (byte*)_block;
        Handles = (nint*)p; p += Size * sizeof(nint);
        Data = (byte**)p; p += Size * sizeof(byte*);
        Length = (ushort*)p; p += Size * 2;
        Headroom = (ushort*)p; p += Size * 2;
        Segments = (ushort*)p; p += Size * 2;
        Delta = (short*)p; p += Size * 2;
        OutLength = (ushort*)p; p += Size * 2;
        OutPort = p;
    }

    public void Dispose() => NativeMemory.AlignedFree(_block);

    /// <summary>The sum of <paramref name="n"/> frame lengths (rx and tx byte counters), 16 at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long SumLengths(ushort* lengths, int n)
    {
        int i = 0;
        long sum = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<uint>.Zero;
            for (; i + Vector256<ushort>.Count <= n; i += Vector256<ushort>.Count)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(lengths + i));
                acc += lo + hi;
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++) sum += lengths[i];
        return sum;
    }

    /// <summary>Marks the first <paramref name="n"/> frames <see cref="DropPort"/> (a frame the handler forgets is freed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DropAll(int n) => Unsafe.InitBlockUnaligned(OutPort, DropPort, (uint)n);
}
