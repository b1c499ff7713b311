using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Dataplane.Datapath.Forwarding;

/// <summary>
/// Last stage: sends a steered frame to its backend the pool's way (L2 DSR MAC rewrite, or IPIP / GUE /
/// GRE encapsulation into the headroom) and counts it; an encapsulated packet that would exceed the
/// egress MTU is answered with ICMP too-big by <see cref="Answers"/>.
/// </summary>
public sealed unsafe class Forwarder(FrameState frames, WorkerCounters counters, Answers answers)
{
    /// <summary>Forwards frame <paramref name="i"/> to backend <paramref name="id"/>; returns its egress port (or DropPort, counted).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte Forward(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, int id)
    {
        ref PacketInfo p = ref frames.Info[i];
        int vip = frames.Vip[i];
        var pool = snap.Pools[snap.Vips[vip].Pool];
        ref readonly var be = ref snap.Backends[id];
        var egress = snap.Ports[be.EgressPort];
        byte* frame = burst.Data[i];
        int len = burst.Length[i];
        if (pool.Mode == ForwardingMode.L2Dsr)
        {
            Encapsulation.L2Rewrite(frame, be.Mac, egress.Mac);
        }
        else
        {
            ulong hash = frames.Hash[i];
            var e = new EncapParams
            {
                Mode = pool.Mode,
                OuterSource = Encapsulation.OuterSource(pool, hash, p.IsIPv6),
                OuterDestination = be.Address,
                DstMac = be.Mac != 0 ? be.Mac : egress.GatewayMac,
                SrcMac = egress.Mac,
                GuePort = pool.GuePort,
                // Ephemeral range 49152..65535 from flow-hash bits Maglev does not use: the backend's
                // NIC hashes on it and spreads flows over its queues.
                GueSourcePort = (ushort)(0xC000 | (hash >> 48) & 0x3FFF),
                FlowLabel = (uint)(hash >> 32) & 0xFFFFF,
                Mtu = egress.Mtu,
                KeepVlan = true,
            };
            // Delta and length go straight into the burst (written only on Ok).
            var r = Encapsulation.EncapsulateInto(frame, len, burst.Headroom[i], p, e, ref burst.Delta[i], ref burst.OutLength[i]);
            if (r == EncapResult.TooBig)
                return answers.TooBig(snap, burst, i, rxPort, Encapsulation.InnerMtu(e, p.IsIPv6));
            if (r != EncapResult.Ok) return answers.Drop(DropReason.NoHeadroom);
        }
        counters.Count(Outcome.Forwarded);
        counters.AddVip(vip, ServiceCounter.Packets);
        counters.AddVip(vip, ServiceCounter.Bytes, len);
        counters.AddBackend(id, ServiceCounter.Packets);
        counters.AddBackend(id, ServiceCounter.Bytes, len);
        return be.EgressPort;
    }
}
