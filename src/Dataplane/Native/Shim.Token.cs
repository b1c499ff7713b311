using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Native;

// The batched token decryptor with VAES (native/switchyard_token.h). No DPDK state is touched: these
// work without EAL, so unit tests call them on plain memory.
public static unsafe partial class Shim
{
    /// <summary>0 = no VAES kernel on this CPU, 1 = VAES + AVX2, 2 = VAES + AVX-512VL.</summary>
    [LibraryImport(Library)] public static partial int sy_token_kernel();

    /// <summary>Fast path: short, no syscall, no callback, so no GC transition.</summary>
    [LibraryImport(Library), SuppressGCTransition]
    public static partial int sy_token_decrypt_server_ids(uint* tokens, uint n, uint* serverIds, byte* ok,
        nint pairSchedule, uint validMask, uint shift);

    [LibraryImport(Library), SuppressGCTransition]
    public static partial int sy_token_decrypt_server_ids_with(int kernel, uint* tokens, uint n, uint* serverIds, byte* ok,
        nint pairSchedule, uint validMask, uint shift);
}
