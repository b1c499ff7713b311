using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Dataplane.Datapath.Forwarding;

/// <summary>
/// The frames the appliance answers itself, each rewritten in place and sent back out of the port it
/// came in on: ARP replies and neighbor advertisements for its own addresses and VIPs, TCP RSTs (an
/// unplaceable join, a flow whose backend is gone under the "reset" policy) and ICMP too-big.
/// Every method returns the egress port, or DropPort after counting the drop.
/// </summary>
public sealed unsafe class Answers(FrameState frames, WorkerCounters counters)
{
    /// <summary>ARP replies for the kernel go to the exception path (issue 12).</summary>
    public bool ExceptionPath { get; set; }

    /// <summary>An ARP request or neighbor solicitation for one of our addresses: answered; else dropped.</summary>
    public byte Neighbor(DataplaneSnapshot snap, Burst burst, int i, byte rxPort)
    {
        ref PacketInfo p = ref frames.Info[i];
        var port = snap.Ports[rxPort];
        byte* frame = burst.Data[i];
        if ((p.Flags & PacketFlags.Arp) != 0)
        {
            // An answer to the kernel's own ARP request goes to the kernel (issue 12's exception path).
            if (p.ArpOperation == 2 && ExceptionPath && Parsing.Classifier.IsOwnAddress(snap, Addr128.FromV4(p.ArpTargetIp), rxPort))
            {
                counters.Count(Outcome.ToKernel);
                return Burst.ExceptionPort;
            }
            if (p.ArpOperation != 1 || !snap.LocalAddresses.Contains(Addr128.FromV4(p.ArpTargetIp), rxPort))
                return Drop(DropReason.ArpNotForUs);
            Forwarding.Neighbor.ArpReply(frame, p, port.Mac);
            counters.Count(Outcome.ArpReplied);
            return rxPort;
        }
        if (!snap.LocalAddresses.Contains(p.NdTarget, rxPort)) return Drop(DropReason.NdpNotForUs);
        // Tailroom 0: the shim does not report it, so a solicitation without a source link-layer
        // option (only duplicate address detection sends those) is not answered.
        var r = Forwarding.Neighbor.NdpAdvertise(frame, burst.Length[i], 0, p, port.Mac, out ushort newLen);
        if (r != DropReason.None) return Drop(DropReason.NdpMalformed);
        burst.OutLength[i] = newLen;
        counters.Count(Outcome.NdpReplied);
        return rxPort;
    }

    /// <summary>An unplaceable join: a TCP RST with MP_TCPRST "MPTCP-specific error" (RFC 8684 3.2), or a drop.</summary>
    public byte RejectJoin(DataplaneSnapshot snap, Burst burst, int i, byte rxPort)
    {
        if (!snap.ResetUnplaceableJoins) return Drop(DropReason.JoinUnplaceable);
        const byte MptcpSpecificError = 1;
        var r = TcpReset.BuildForSyn(burst.Data[i], burst.Length[i], frames.Info[i], snap.Ports[rxPort].Mac, withMpTcpRst: true,
            MptcpSpecificError, out ushort newLen);
        if (r != DropReason.None) return Drop(r);
        burst.OutLength[i] = newLen;
        counters.Count(Outcome.JoinReset);
        return rxPort;
    }

    /// <summary>"reset" policy for a flow pinned to a gone backend (its entry already removed by steering):
    /// a TCP segment is answered with a RST (no MP_TCPRST: the whole connection is gone), anything else dropped.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public byte ResetGoneFlow(DataplaneSnapshot snap, Burst burst, int i, byte rxPort)
    {
        ref PacketInfo p = ref frames.Info[i];
        if (p.Protocol != IpProtocol.Tcp || (p.Flags & PacketFlags.IcmpError) != 0) return Drop(DropReason.BackendGone);
        var r = TcpReset.BuildForSyn(burst.Data[i], burst.Length[i], p, snap.Ports[rxPort].Mac, withMpTcpRst: false, 0, out ushort newLen);
        if (r != DropReason.None) return Drop(DropReason.BackendGone);
        burst.OutLength[i] = newLen;
        counters.Count(Outcome.FlowReset);
        return rxPort;
    }

    /// <summary>A packet too big for the egress MTU once encapsulated: ICMP frag-needed / packet-too-big to the client.</summary>
    public byte TooBig(DataplaneSnapshot snap, Burst burst, int i, byte rxPort, int usableMtu)
    {
        ref PacketInfo p = ref frames.Info[i];
        // IPv4 without DF may legally be fragmented by a router; we do not fragment the outer packet,
        // so it is dropped under its own reason rather than answered with a misleading ICMP.
        // Never answer an ICMP error with an ICMP error (RFC 1122 3.2.2, RFC 4443 2.4).
        if ((p.Flags & PacketFlags.IcmpError) != 0) return Drop(DropReason.EncapTooBigIcmpError);
        if (!Encapsulation.AnswersTooBig(p)) return Drop(DropReason.EncapTooBigNoDf);
        var port = snap.Ports[rxPort];
        Addr128 source = p.Dst; // the VIP, unless the port has an address of the family
        foreach (var a in port.Addresses)
            if (a.IsV4 == p.IsIPv4) { source = a; break; }
        var r = IcmpTooBig.Build(burst.Data[i], burst.Length[i], burst.Headroom[i], p, port.Mac, source, usableMtu, out short delta, out ushort newLen);
        if (r != DropReason.None) return Drop(r);
        burst.Delta[i] = delta;
        burst.OutLength[i] = newLen;
        counters.Count(Outcome.IcmpTooBigSent);
        return rxPort;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte Drop(DropReason r)
    {
        counters.Drop(r);
        return Burst.DropPort;
    }
}
