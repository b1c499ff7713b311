using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Switchyard.Dataplane.Datapath.Steering.Tokens;

public sealed partial class TokenKeys
{
    /// <summary>256-bit vectors per key pair in <see cref="PairSchedule"/> (native/switchyard_token.h: SY_TOKEN_PAIR_VECTORS).</summary>
    internal const int PairVectors = SlotVectors;
    internal const int Pairs = 16;
    internal const int PairScheduleBytes = Pairs * PairVectors * 32;

    /// <summary>
    /// The key schedule of the VAES kernel (native/switchyard_token.c), 64-byte aligned and pinned for the
    /// lifetime of this object: 16 key pairs p = (key id a &lt;&lt; 2) | key id b, each 16 x 256 bits with vector j
    /// = slot a's vector j (low 128 bits, for the even token of a register) || slot b's vector j (high
    /// 128 bits, the odd token). Same slot layout as <see cref="Schedule"/>. 8 KiB, built once per key set.
    /// </summary>
    internal readonly nint PairSchedule;

    // Keeps the pinned bytes behind PairSchedule alive (pinned object heap: never moves).
    readonly byte[] _pairStorage;

    static unsafe byte[] BuildPairSchedule(Vector128<byte>[] schedule, out nint aligned)
    {
        byte[] storage = GC.AllocateArray<byte>(PairScheduleBytes + 63, pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(storage));
        aligned = (start + 63) & ~(nint)63;
        var dst = (Vector256<byte>*)aligned;
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++)
                for (int j = 0; j < PairVectors; j++)
                    dst[(a << 2 | b) * PairVectors + j] = Vector256.Create(schedule[a * SlotVectors + j], schedule[b * SlotVectors + j]);
        return storage;
    }
}
