using System.Numerics;
using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Dataplane.Datapath.Forwarding;

/// <summary>
/// The forwarding bodies, one per (forwarding mode x address family) (issue 14): the second pass sorts a burst's
/// steered frames by body, then runs each body's loop once over its frames, compiled for that mode and family with
/// no branch on either. L2 DSR does not depend on the family (one body). <see cref="Plain"/> is the one body that
/// branches per frame; the specialised bodies must write exactly what it writes (ForwardBodyEqualityTests).
/// </summary>
public enum ForwardBody : byte
{
    L2Dsr = 0,
    Ipip4, Ipip6, Gue4, Gue6, Gre4, Gre6,
    /// <summary>Branches per frame on the pool's mode and the packet's family (BurstProcessor.SpecialisedBodies off).</summary>
    Plain,
}

/// <summary>A forwarding body as a type: the mode and family are constants in the code compiled for it.</summary>
public interface IForwardBody : IEncap
{
    /// <summary>True only for the plain body: mode and family are read per frame.</summary>
    static abstract bool Plain { get; }
}

public readonly struct L2DsrBody : IForwardBody { public static ForwardingMode Mode => ForwardingMode.L2Dsr; public static bool FamilyKnown => true; public static bool V6 => false; public static bool Plain => false; }
public readonly struct Ipip4Body : IForwardBody { public static ForwardingMode Mode => ForwardingMode.Ipip; public static bool FamilyKnown => true; public static bool V6 => false; public static bool Plain => false; }
public readonly struct Ipip6Body : IForwardBody { public static ForwardingMode Mode => ForwardingMode.Ipip; public static bool FamilyKnown => true; public static bool V6 => true; public static bool Plain => false; }
public readonly struct Gue4Body : IForwardBody { public static ForwardingMode Mode => ForwardingMode.Gue; public static bool FamilyKnown => true; public static bool V6 => false; public static bool Plain => false; }
public readonly struct Gue6Body : IForwardBody { public static ForwardingMode Mode => ForwardingMode.Gue; public static bool FamilyKnown => true; public static bool V6 => true; public static bool Plain => false; }
public readonly struct Gre4Body : IForwardBody { public static ForwardingMode Mode => ForwardingMode.Gre; public static bool FamilyKnown => true; public static bool V6 => false; public static bool Plain => false; }
public readonly struct Gre6Body : IForwardBody { public static ForwardingMode Mode => ForwardingMode.Gre; public static bool FamilyKnown => true; public static bool V6 => true; public static bool Plain => false; }
public readonly struct PlainBody : IForwardBody { public static ForwardingMode Mode => ForwardingMode.L2Dsr; public static bool FamilyKnown => false; public static bool V6 => false; public static bool Plain => true; }

/// <summary>
/// Last stage: sends a steered frame to its backend the pool's way (L2 DSR MAC rewrite, or IPIP / GUE /
/// GRE encapsulation into the headroom) and counts it; an encapsulated packet that would exceed the
/// egress MTU is answered with ICMP too-big by <see cref="Answers"/>.
/// </summary>
public sealed unsafe class Forwarder(FrameState frames, WorkerCounters counters, Answers answers)
{
    /// <summary>The body for a pool's mode and a packet's family.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ForwardBody BodyOf(ForwardingMode mode, bool v6) => mode == ForwardingMode.L2Dsr
        ? ForwardBody.L2Dsr
        : (ForwardBody)(1 + ((int)mode - 1) * 2 + (v6 ? 1 : 0));

    /// <summary>Forwards the frames of <paramref name="mask"/> (bit i = frame i, steered to <c>frames[i].Backend</c>)
    /// with one body: writes each frame's egress port (or DropPort / an answer's port) into the burst.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Run<TBody>(DataplaneSnapshot snap, Burst burst, uint mask, byte rxPort) where TBody : struct, IForwardBody
    {
        // An IPv4 encapsulation body first writes what it can in a loop with no call in it; the frames it leaves (tagged,
        // too big, no headroom) go through the general loop.
        if (!TBody.Plain && !TBody.V6 && TBody.Mode != ForwardingMode.L2Dsr) mask = RunV4Untagged<TBody>(snap, burst, mask);
        if (mask != 0) RunAll<TBody>(snap, burst, mask, rxPort);
    }

    /// <summary>
    /// The untagged frames of <paramref name="mask"/> that an IPv4 encapsulation body writes straight from the backend's
    /// entry (<see cref="Encapsulation.EncapsulateV4Untagged{TEncap}"/>), counted as the general loop counts them, in a
    /// loop with no call in it (issue 14: the calls for the rare frames, inside the loop, made the JIT spill its state).
    /// Returns the frames left: tagged, too big for the egress MTU, or short of headroom (each untouched).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    uint RunV4Untagged<TBody>(DataplaneSnapshot snap, Burst burst, uint mask) where TBody : struct, IForwardBody
    {
        FrameSlot* slots = frames.Slots;
        PacketInfo* info = frames.Info;
        byte* outPort = burst.OutPort;
        var backends = snap.Backends;
        uint rest = 0;
        int runVip = -1;
        PoolEntry? runPool = null;
        long runPackets = 0, runBytes = 0;
        while (mask != 0)
        {
            int i = BitOperations.TrailingZeroCount(mask);
            uint bit = mask & (0u - mask);
            mask &= mask - 1;
            ref FrameSlot slot = ref slots[i];
            ref PacketInfo p = ref info[i];
            if (p.Has(PacketFlags.HasVlan)) { rest |= bit; continue; }
            if (slot.Vip != runVip)
            {
                if (runPackets != 0) counters.AddVipForwarded(runVip, runPackets, runBytes);
                runVip = slot.Vip;
                runPool = snap.Pools[snap.Vips[runVip].Pool];
                runPackets = runBytes = 0;
            }
            int id = slot.Backend;
            ref readonly var be = ref backends[id];
            var r = Encapsulation.EncapsulateV4Untagged<TBody>(burst.Data[i], burst.Headroom[i], in p, in be,
                (uint)runPool!.EncapSourceV4.Lo, runPool.EncapSourceV4HostMask, slot.Hash, runPool.GuePort, ref burst.Delta[i], ref burst.OutLength[i]);
            if (r != EncapResult.Ok) { rest |= bit; continue; }
            int len = burst.Length[i];
            runPackets++;
            runBytes += len;
            counters.AddBackendForwarded(id, len);
            outPort[i] = be.EgressPort;
        }
        if (runPackets != 0) counters.AddVipForwarded(runVip, runPackets, runBytes);
        return rest;
    }

    /// <summary>Every frame of <paramref name="mask"/>, one by one, with <typeparamref name="TBody"/> (answers and drops
    /// included).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // one compiled loop per body, outside the second pass's own budget
    void RunAll<TBody>(DataplaneSnapshot snap, Burst burst, uint mask, byte rxPort) where TBody : struct, IForwardBody
    {
        FrameSlot* slots = frames.Slots;
        byte* outPort = burst.OutPort;
        // The VIP's packets and bytes are summed in registers over each run of frames to one VIP (a body's frames
        // nearly always are one run) and added once per run. Counted per frame, the same two counters took a store and
        // a reload per frame, a dependency carried from frame to frame through memory (stage stamps, est: the
        // forwarding pass 16.8 cycles per frame with the per-frame counts, about 11.5 with none at all). The run's pool is
        // looked up once per run too (stage stamps, est IPIP: forwarding 36.8-37.5 cycles per frame looked up per frame, 35.2-36.0 per run).
        int runVip = -1;
        PoolEntry? runPool = null;
        long runPackets = 0, runBytes = 0;
        while (mask != 0)
        {
            int i = BitOperations.TrailingZeroCount(mask);
            mask &= mask - 1;
            ref FrameSlot slot = ref slots[i];
            if (slot.Vip != runVip)
            {
                if (runPackets != 0) counters.AddVipForwarded(runVip, runPackets, runBytes);
                runVip = slot.Vip;
                runPool = snap.Pools[snap.Vips[runVip].Pool];
                runPackets = runBytes = 0;
            }
            outPort[i] = Forward<TBody>(snap, burst, i, rxPort, ref slot, runPool!, ref runPackets, ref runBytes);
        }
        if (runPackets != 0) counters.AddVipForwarded(runVip, runPackets, runBytes);
    }

    /// <summary>Forwards frame <paramref name="i"/> to backend <paramref name="id"/>, branching on mode and family; returns its egress port (or DropPort, counted).</summary>
    public byte Forward(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, int id)
    {
        frames[i].Backend = id;
        long forwarded = 0, bytes = 0;
        byte port = Forward<PlainBody>(snap, burst, i, rxPort, ref frames[i], snap.Pools[snap.Vips[frames[i].Vip].Pool], ref forwarded, ref bytes);
        if (forwarded != 0) counters.AddVipForwarded(frames[i].Vip, forwarded, bytes);
        return port;
    }

    /// <summary>Frame <paramref name="i"/> to its backend with <typeparamref name="TBody"/>; <paramref name="pool"/> is its
    /// VIP's pool.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    byte Forward<TBody>(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, ref FrameSlot slot, PoolEntry pool, ref long forwarded, ref long bytes) where TBody : struct, IForwardBody
    {
        int id = slot.Backend;
        ref readonly var be = ref snap.Backends[id];
        byte* frame = burst.Data[i];
        int len = burst.Length[i];
        if (TBody.Plain ? pool.Mode == ForwardingMode.L2Dsr : TBody.Mode == ForwardingMode.L2Dsr)
        {
            // The two MACs as one 8-byte and one 4-byte store of the backend's precomputed image (stage stamps, est:
            // forwarding 13.8-16.1 cycles per frame with the MACs shifted and byte-swapped into four stores, 10.7-11.5 so).
            Unsafe.WriteUnaligned(frame, be.MacHeader0);
            Unsafe.WriteUnaligned(frame + 8, be.MacHeader1);
        }
        else if (!TBody.Plain && !TBody.V6)
        {
            // An IPv4 body: the untagged frame straight from the backend's entry; a tagged one (rare) through the general
            // writer out of line, which inlined here made the loop hold its parameters too.
            var r = !frames.Info[i].Has(PacketFlags.HasVlan)
                ? Encapsulation.EncapsulateV4Untagged<TBody>(frame, burst.Headroom[i], in frames.Info[i], in be,
                    (uint)pool.EncapSourceV4.Lo, pool.EncapSourceV4HostMask, slot.Hash, pool.GuePort, ref burst.Delta[i], ref burst.OutLength[i])
                : EncapsulateTagged<TBody>(burst, i, slot.Hash, pool, in be);
            if (r != EncapResult.Ok) return Refused(snap, burst, i, rxPort, r, be.EgressMtu, TBody.Mode, false);
        }
        else
        {
            ref PacketInfo p = ref frames.Info[i];
            ulong hash = slot.Hash;
            bool v6 = TBody.Plain ? p.IsIPv6 : TBody.V6;
            var e = ParamsFor(TBody.Plain ? pool.Mode : TBody.Mode, pool, in be, hash, v6);
            // Delta and length go straight into the burst (written only on Ok).
            var r = TBody.Plain
                ? Encapsulation.EncapsulateInto(frame, len, burst.Headroom[i], p, e, ref burst.Delta[i], ref burst.OutLength[i])
                : Encapsulation.EncapsulateInto<TBody>(frame, burst.Headroom[i], p, e, ref burst.Delta[i], ref burst.OutLength[i]);
            if (r == EncapResult.TooBig)
                return answers.TooBig(snap, burst, i, rxPort, Encapsulation.InnerMtu(e, v6));
            if (r != EncapResult.Ok) return answers.Drop(DropReason.NoHeadroom);
        }
        forwarded++;
        bytes += len;
        counters.AddBackendForwarded(id, len);
        return be.EgressPort;
    }

    /// <summary>A tagged IPv4 frame for an IPv4 body: the general writer (its <see cref="EncapParams"/> as the plain body
    /// builds them).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    EncapResult EncapsulateTagged<TBody>(Burst burst, int i, ulong hash, PoolEntry pool, in BackendEntry be) where TBody : struct, IForwardBody
    {
        var e = ParamsFor(TBody.Mode, pool, in be, hash, v6: false);
        return Encapsulation.EncapsulateInto<TBody>(burst.Data[i], burst.Headroom[i], frames.Info[i], e, ref burst.Delta[i], ref burst.OutLength[i]);
    }

    /// <summary>What the general writer needs to encapsulate a frame of <paramref name="hash"/>'s flow to backend
    /// <paramref name="be"/> of <paramref name="pool"/> with <paramref name="mode"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static EncapParams ParamsFor(ForwardingMode mode, PoolEntry pool, in BackendEntry be, ulong hash, bool v6) => new()
    {
        Mode = mode,
        OuterSource = Encapsulation.OuterSource(pool, hash, v6),
        OuterDestination = be.Address,
        DstMac = be.Mac, // the backend's, or (no MAC configured) its port's gateway: the compiler put it there
        SrcMac = be.EgressMac,
        GuePort = pool.GuePort,
        GueSourcePort = Encapsulation.GueSourcePort(hash),
        FlowLabel = (uint)(hash >> 32) & 0xFFFFF,
        Mtu = be.EgressMtu,
        KeepVlan = true,
    };

    /// <summary>An encapsulation that did not fit: ICMP too big to the client (with the inner MTU), or the drop.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    byte Refused(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, EncapResult r, int mtu, ForwardingMode mode, bool v6)
        => r == EncapResult.TooBig
            ? answers.TooBig(snap, burst, i, rxPort, mtu - Encapsulation.Overhead(mode, v6))
            : answers.Drop(DropReason.NoHeadroom);
}
