namespace Switchyard.Dataplane.Datapath;

/// <summary>
/// Why a received frame was not forwarded. Every frame a worker receives ends in exactly one
/// <see cref="Outcome"/>; the drop reasons are the outcomes other than forwarding or answering.
/// Names are part of the counters JSON and the Prometheus exposition: append, never renumber.
/// </summary>
public enum DropReason : byte
{
    None = 0,
    // Layer 2
    RuntFrame,               // shorter than an Ethernet header
    VlanTruncated,           // 802.1Q tag cut short
    UnsupportedEtherType,    // neither IPv4, IPv6 nor ARP
    MultiSegment,            // frame spans several mbufs (jumbo frames are not supported)
    // ARP / NDP
    ArpMalformed,
    ArpNotForUs,             // a request for an address that is neither ours nor a VIP, or an ARP reply
    NdpMalformed,
    NdpNotForUs,
    // IPv4
    Ipv4Truncated,
    Ipv4BadVersion,
    Ipv4BadIhl,
    Ipv4BadTotalLength,
    Ipv4BadOptions,          // zero/one-length option, option overrunning the header
    Ipv4BadChecksum,
    // IPv6
    Ipv6Truncated,
    Ipv6BadPayloadLength,
    Ipv6BadExtensionHeader,
    Ipv6TooManyExtensionHeaders,
    // Layer 4
    TcpTruncated,
    TcpBadDataOffset,
    TcpBadOptions,
    UdpTruncated,
    UdpBadLength,
    IcmpTruncated,
    IcmpErrorMalformed,      // ICMP error whose quoted packet cannot be parsed
    IcmpUnsupported,         // ICMP to a VIP that is neither an error we route nor answerable
    // Steering
    NotForVip,               // destination is not a VIP (and not an ARP/NDP for us)
    NoBackend,               // the VIP's pool has no usable backend
    FragmentDropped,         // fragment of a pool whose fragment policy is "drop"
    // Forwarding
    NoHeadroom,              // mbuf headroom too small for the encapsulation
    EncapTooBigNoDf,         // would exceed the egress MTU, and DF is clear (outer fragmentation not done)
    TxQueueFull,             // the NIC did not take the packet
    // Appended (append-only numbering)
    Ipv6BadVersion,          // EtherType IPv6 but the version nibble is not 6
    EncapTooBigIcmpError,    // an ICMP error too big to encapsulate: never answered with another ICMP error
    JoinUnplaceable,         // an MP_JOIN SYN no steering mode could place, with RST answers switched off
    ResetNotPossible,        // a TCP RST was wanted but cannot be built (not TCP, a fragment, a RST itself, no room)
    BackendGone,             // a flow pinned to a backend that is down, disabled or removed, under the pool's "reset"
                             // policy: a UDP (non-TCP) packet, or a TCP segment no RST can be built for (a RST itself)
    // Exception path (issue 12): counted by the worker loop after the processor chose Outcome.ToKernel, so,
    // like TxQueueFull, drop reasons outside the Dropped outcome.
    ExceptionRateLimited,    // a frame for the kernel beyond the worker's token bucket (ExceptionPath.RatePerSecond)
    ExceptionQueueFull,      // the ring to the kernel was full
    QuicEmpty,               // QUIC-LB VIP: a UDP datagram without payload
    QuicLongHeaderTruncated, // QUIC-LB VIP: a long header cut before the end of its DCID (RFC 8999 5.1)
    QuicShortHeaderTruncated,// QUIC-LB VIP: a short header shorter than 1 + its configuration's CID length
    QuicDcidTooLong,         // QUIC-LB VIP: a QUIC v1/v2 long header with a DCID longer than 20 octets
    Count
}

/// <summary>What happened to one received frame.</summary>
public enum Outcome : byte
{
    Dropped = 0,
    Forwarded,               // sent to a backend
    ArpReplied,
    NdpReplied,
    IcmpTooBigSent,          // answered with ICMP fragmentation needed / packet too big
    JoinReset,               // an unplaceable MP_JOIN SYN answered with RST + MP_TCPRST
    FlowReset,               // a TCP segment of a flow pinned to a gone backend ("reset" policy) answered with RST
    ToKernel,                // for the appliance's own address and not answered here: handed to the kernel (exception path)
}
