using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Datapath.Worker;

/// <summary>
/// A fake receive port in plain native memory, for tests and benchmarks of the packet path without
/// DPDK. Each frame sits in its own slot laid out like a DPDK mbuf's data room: <see cref="Headroom"/>
/// bytes free in front of the frame (room for encapsulation headers), then up to
/// <see cref="MaxFrame"/> bytes of frame. Slots are 64-byte aligned, so frame starts have the same
/// alignment as <c>rte_pktmbuf</c> data (headroom 128). The memory is native (never moved by the GC),
/// so the <c>byte*</c> in a <see cref="Burst"/> stays valid for the port's lifetime.
///
/// <para>The processor rewrites frames in place, so a port also keeps each frame's pristine copy.
/// <see cref="Reset"/> restores only the first <see cref="RestoreBytes"/> bytes of a frame: every
/// rewrite the processor makes (MACs, outer headers written in front of L3, the ARP/NDP answer, the
/// ICMP "too big" headers) lies in the headroom or in the frame's first 128 bytes, and the payload
/// beyond is never written (asserted by the pipeline tests for every traffic mix). That makes a reset
/// two cache-line copies per frame, whatever the frame size. Bytes written into the headroom need no
/// restoring: nothing reads them before they are written again.</para>
///
/// <para>Not thread-safe; allocates only in the constructor.</para>
/// </summary>
public sealed unsafe class MemoryPort : IDisposable
{
    /// <summary>Bytes free in front of each frame: DPDK's RTE_PKTMBUF_HEADROOM default.</summary>
    public const int Headroom = 128;
    /// <summary>Largest frame a slot holds: DPDK's default data room (2048) minus nothing, as for a
    /// 2176-byte mbuf buffer.</summary>
    public const int MaxFrame = 2048;
    /// <summary>Bytes of a frame <see cref="Reset"/> copies back (two cache lines).</summary>
    public const int RestoreBytes = 128;
    const int SlotSize = Headroom + MaxFrame; // 2176 bytes = 34 cache lines

    byte* _slots;      // frames being processed
    byte* _pristine;   // the frames as given, same layout
    readonly ushort[] _length;

    /// <summary>Number of frames the port holds.</summary>
    public int Count { get; }

    /// <summary>Copies <paramref name="frames"/> into native memory (each at most <see cref="MaxFrame"/> bytes).</summary>
    public MemoryPort(IReadOnlyList<byte[]> frames)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0) throw new ArgumentException("a port needs at least one frame", nameof(frames));
        Count = frames.Count;
        _length = new ushort[Count];
        nuint bytes = (nuint)Count * SlotSize;
        _slots = (byte*)NativeMemory.AlignedAlloc(bytes, 64);
        _pristine = (byte*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_slots, bytes);
        NativeMemory.Clear(_pristine, bytes);
        for (int i = 0; i < Count; i++)
        {
            var f = frames[i];
            if (f.Length > MaxFrame) throw new ArgumentException($"frame {i} is {f.Length} bytes; at most {MaxFrame} fit a slot", nameof(frames));
            _length[i] = (ushort)f.Length;
            f.CopyTo(new Span<byte>(_pristine + (nint)i * SlotSize + Headroom, f.Length));
            f.CopyTo(new Span<byte>(_slots + (nint)i * SlotSize + Headroom, f.Length));
        }
    }

    /// <summary>Start of frame <paramref name="index"/> (after its headroom).</summary>
    public byte* FrameData(int index) => _slots + (nint)index * SlotSize + Headroom;

    /// <summary>Length of frame <paramref name="index"/> as given.</summary>
    public int FrameLength(int index) => _length[index];

    /// <summary>
    /// Receives frames <paramref name="first"/>..first+count-1 into <paramref name="burst"/>, as the
    /// shim's receive does: handle = frame index, data, length, headroom, one segment; sets
    /// <see cref="Burst.Count"/>. <paramref name="count"/> is at most <see cref="Burst.Size"/>.
    /// Does not restore the frames: call <see cref="Reset"/> first when they were processed before.
    /// </summary>
    public void Receive(Burst burst, int first, int count)
    {
        if ((uint)count > Burst.Size || (uint)first > (uint)Count || count > Count - first)
            throw new ArgumentOutOfRangeException(nameof(count));
        for (int i = 0; i < count; i++)
        {
            int f = first + i;
            burst.Handles[i] = f;
            burst.Data[i] = _slots + (nint)f * SlotSize + Headroom;
            burst.Length[i] = _length[f];
            burst.Headroom[i] = Headroom;
            burst.Segments[i] = 1;
        }
        burst.Count = count;
    }

    /// <summary>Puts frames first..first+count-1 back as they were given (see the class comment).</summary>
    public void Reset(int first, int count)
    {
        if ((uint)first > (uint)Count || (uint)count > (uint)(Count - first)) throw new ArgumentOutOfRangeException(nameof(count));
        for (int i = first; i < first + count; i++)
        {
            nint at = (nint)i * SlotSize + Headroom;
            Buffer.MemoryCopy(_pristine + at, _slots + at, RestoreBytes, Math.Min((int)_length[i], RestoreBytes));
        }
    }

    /// <summary>Puts every byte of frames first..first+count-1 back (slow; for tests that doubt <see cref="Reset"/>).</summary>
    public void ResetFully(int first, int count)
    {
        if ((uint)first > (uint)Count || (uint)count > (uint)(Count - first)) throw new ArgumentOutOfRangeException(nameof(count));
        for (int i = first; i < first + count; i++)
        {
            nint at = (nint)i * SlotSize + Headroom;
            Buffer.MemoryCopy(_pristine + at, _slots + at, MaxFrame, _length[i]);
        }
    }

    /// <summary>Whether frame <paramref name="index"/> is byte for byte as it was given.</summary>
    public bool IsPristine(int index)
    {
        nint at = (nint)index * SlotSize + Headroom;
        return new ReadOnlySpan<byte>(_slots + at, _length[index]).SequenceEqual(new ReadOnlySpan<byte>(_pristine + at, _length[index]));
    }

    /// <summary>The frame the processor produced for burst entry <paramref name="i"/>: from Data + Delta, OutLength bytes.</summary>
    public static ReadOnlySpan<byte> Output(Burst burst, int i) => new(burst.Data[i] + burst.Delta[i], burst.OutLength[i]);

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~MemoryPort() => Free();

    void Free()
    {
        if (_slots == null) return;
        NativeMemory.AlignedFree(_slots);
        NativeMemory.AlignedFree(_pristine);
        _slots = null;
        _pristine = null;
    }
}
