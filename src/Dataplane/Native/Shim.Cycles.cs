using System.Runtime.InteropServices;

namespace Switchyard.Dataplane.Native;

public static partial class Shim
{
    /// <summary>rdtsc (native/switchyard_cycles.h): the per-stage cycle budget's clock. No EAL needed.</summary>
    [LibraryImport(Library), SuppressGCTransition]
    public static partial ulong sy_rdtsc();
}
