using System.Runtime.InteropServices;
using Switchyard.Dataplane.Native;

namespace Switchyard.Dataplane.Datapath.Steering.Tokens;

public static partial class TokenCipher
{
    /// <summary>Environment variable: <c>managed</c> keeps the batched decryptor on the managed AES-NI
    /// kernel even where the VAES kernel is available (for A/B measurements).</summary>
    public const string KernelVariable = "SWITCHYARD_TOKEN_KERNEL";

    /// <summary>
    /// The native VAES kernel <see cref="DecryptServerIds"/> uses: 0 = none (no libswitchyard_shim.so,
    /// a CPU without VAES/AVX2, or <see cref="KernelVariable"/>=managed: the managed eight-lane AES-NI
    /// kernel runs), 1 = VAES + AVX2, 2 = VAES + AVX-512VL. Decided once per process; a static readonly
    /// field, so the tiered JIT folds the dispatch away.
    /// </summary>
    public static readonly int NativeKernel = ProbeNativeKernel();

    /// <summary>What the CPU and the loaded shim offer, ignoring <see cref="KernelVariable"/> (tests and benchmarks).</summary>
    internal static readonly int NativeKernelAvailable = ProbeAvailable();

    static int ProbeNativeKernel()
        => string.Equals(Environment.GetEnvironmentVariable(KernelVariable), "managed", StringComparison.OrdinalIgnoreCase)
            ? 0 : ProbeAvailable();

    static int ProbeAvailable()
    {
        try { return Shim.sy_token_kernel(); }
        catch (DllNotFoundException) { return 0; }
        catch (EntryPointNotFoundException) { return 0; } // an older shim without the token kernel
    }

    /// <summary>A short name of the batched implementation in use, for logs and reports.</summary>
    public static string BatchedKernelName => NativeKernel switch
    {
        2 => "vaes-avx512",
        1 => "vaes-avx2",
        _ => System.Runtime.Intrinsics.X86.Aes.IsSupported ? "aesni-managed" : "software",
    };

    /// <summary>The batch through native kernel <paramref name="kernel"/> (1 or 2). Returns the ok count,
    /// or -1 when the kernel is not available (nothing written).</summary>
    internal static unsafe int DecryptServerIdsNative(int kernel, ReadOnlySpan<uint> tokens, Span<uint> serverIds, Span<byte> ok, TokenKeys keys)
    {
        fixed (uint* t = tokens)
        fixed (uint* s = serverIds)
        fixed (byte* o = ok)
            return Shim.sy_token_decrypt_server_ids_with(kernel, t, (uint)tokens.Length, s, o, keys.PairSchedule,
                (uint)keys.ValidMask, (uint)(HalfBits - keys.ServerIdBits));
    }

    static unsafe int DecryptServerIdsNative(ReadOnlySpan<uint> tokens, Span<uint> serverIds, Span<byte> ok, TokenKeys keys)
    {
        fixed (uint* t = tokens)
        fixed (uint* s = serverIds)
        fixed (byte* o = ok)
            return Shim.sy_token_decrypt_server_ids(t, (uint)tokens.Length, s, o, keys.PairSchedule,
                (uint)keys.ValidMask, (uint)(HalfBits - keys.ServerIdBits));
    }
}
