using System.Numerics;
using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Datapath.Parsing;

namespace Switchyard.Dataplane.Datapath.Steering;

/// <summary>
/// The flow hash: CRC32C (one instruction per 8 bytes on x86 and Arm) over the 5-tuple, as two chains with
/// different seeds (computed as one, see SecondChainOffset), each finalised, giving 64 bits. It is deterministic for a given seed on every machine, which is
/// what lets several balancers behind ECMP pick the same backend for a flow without sharing state.
/// The low 32 bits index Maglev; the flow table uses all 64 (bucket and fingerprint).
/// </summary>
public static class FlowHash
{
    const uint SecondSeed = 0x9E3779B9;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong FiveTuple(in Addr128 src, in Addr128 dst, ushort srcPort, ushort dstPort, byte protocol, uint seed)
    {
        ulong ports = (ulong)srcPort << 32 | (ulong)dstPort << 16 | protocol;
        uint crc = Chain(seed, src, dst, ports);
        // The second chain (seed ^ SecondSeed over the same five words) is this one XOR a constant: CRC is linear in
        // its starting value (see SecondChainOffset). One chain of five CRC steps instead of two, bit for bit the same.
        uint a = Finalise(crc);
        uint b = Finalise(crc ^ SecondChainOffset);
        return (ulong)b << 32 | a;
    }

    /// <summary>
    /// What the chain from <c>seed ^ SecondSeed</c> differs by from the chain from <c>seed</c> over the same words: CRC's
    /// step is linear over GF(2) in (running value, data), so the two chains' difference evolves as a chain over zero
    /// words started at SecondSeed, whatever the seed and the data. Consequence: the two halves of the hash carry 32
    /// bits of entropy between them, as they always did (FlowHashTests checks both forms agree).
    /// </summary>
    static readonly uint SecondChainOffset = ZeroChain(SecondSeed);

    static uint ZeroChain(uint start)
    {
        uint c = start;
        for (int i = 0; i < 5; i++) c = BitOperations.Crc32C(c, 0UL);
        return c;
    }

    /// <summary>Hash of (source, destination, protocol): the same for every fragment of a datagram.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ThreeTuple(in Addr128 src, in Addr128 dst, byte protocol, uint seed)
        => FiveTuple(src, dst, 0, 0, protocol, seed);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Of(in PacketInfo p, uint seed) => FiveTuple(p.Src, p.Dst, p.SrcPort, p.DstPort, p.Protocol, seed);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Chain(uint seed, in Addr128 src, in Addr128 dst, ulong ports)
    {
        uint c = BitOperations.Crc32C(seed, src.Hi);
        c = BitOperations.Crc32C(c, src.Lo);
        c = BitOperations.Crc32C(c, dst.Hi);
        c = BitOperations.Crc32C(c, dst.Lo);
        return BitOperations.Crc32C(c, ports);
    }

    /// <summary>CRC is linear; a final avalanche keeps nearby tuples from landing in nearby buckets.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Finalise(uint c)
    {
        c ^= c >> 16; c *= 0x85EBCA6B; c ^= c >> 13; c *= 0xC2B2AE35; c ^= c >> 16;
        return c;
    }

    /// <summary>Stable 64-bit hash of a string (FNV-1a), for Maglev permutations of backend names.</summary>
    public static ulong Stable(string s, ulong seed)
    {
        ulong h = 0xCBF29CE484222325UL ^ seed;
        foreach (char ch in s) { h ^= ch; h *= 0x100000001B3UL; }
        h ^= h >> 33; h *= 0xFF51AFD7ED558CCDUL; h ^= h >> 33; h *= 0xC4CEB9FE1A85EC53UL; h ^= h >> 33;
        return h;
    }
}
