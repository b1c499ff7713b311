using System.Runtime.Intrinsics.X86;
using System.Runtime.Intrinsics;

namespace Switchyard.Management.Host;

/// <summary>The CPU features the packet path can use, logged at start.</summary>
public static class Capabilities
{
    public static IReadOnlyList<(string Name, bool Present, string UsedFor)> Table() =>
    [
        ("AES-NI", Aes.IsSupported, "routable-token decryption (Vector128 AES rounds)"),
        ("SSE4.2", Sse42.IsSupported, "CRC32C flow hash"),
        ("AVX2", Avx2.IsSupported, "wide compares"),
        ("AVX-512F", Avx512F.IsSupported, "not used by .NET AES (Vector128 only)"),
        ("Vector128 accelerated", Vector128.IsHardwareAccelerated, "flow-table signature compare"),
        ("VAES (256-bit AES)", Avx2.IsSupported && Aes.IsSupported && CpuHasFlag("vaes"), "not reachable from .NET 10"),
    ];

    static bool CpuHasFlag(string flag)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("flags", StringComparison.Ordinal))
                    return line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(flag);
        }
        catch (IOException) { }
        return false;
    }

    public static string Format()
    {
        var sb = new System.Text.StringBuilder("CPU capabilities:\n");
        foreach (var (name, present, use) in Table())
            sb.Append($"  {name,-24} {(present ? "yes" : "no "),-4} {use}\n");
        return sb.ToString();
    }
}
