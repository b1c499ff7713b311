"""TRex stateless (STL) streams for Switchyard's traffic mixes. The per-mix profiles (est.py, syn.py, ...)
are one line each: `register()` returns SwitchyardProfile(<mix>). Packets come from sy_mixes.py (the
frames of perf/load/mixgen.py); TRex's field engine varies the client address and port per packet.

Tunables (TRex console: `start -f perf/trex/est.py -m 10mpps -p 0 -t --vip 198.18.0.100 --flows 65536`;
`-m` scales the total rate, the streams keep their ratios):
  --vip A / --vip6 A     the VIPs (IPv4 / IPv6)               --tcp-port N / --udp-port N   VIP ports
  --dst-mac M            the appliance's client-side port MAC  --src-mac M   this TRex port's MAC
  --clients A            first client address (IPv4; --clients6 for IPv6), --flows N addresses from it
  --pps N                total packets per second before -m (default 1000000)
  --l4-checksum hw|none  hw: the NIC fixes IP and TCP/UDP checksums after the field engine (needs TX
                         checksum offload); none: only the IPv4 header checksum is fixed (STLVmFixIpv4),
                         TCP/UDP checksums are stale (Switchyard does not check them; backends would)
  --setup-ms N           est/imix/tcp6/join-learned: delay of the steady streams after the set-up burst
  --tokens N             join-enc: distinct minted tokens (one stream each; default 16)
  --server-ids a,b,..    join-enc: the pool's ServerIds; --server-id-bits k; --key HEX (repeat: ids 0,1,2)
  --connections N        join-learned: MPTCP connections opened first (one stream of joins each; default 16)

Outside TRex (no trex_stl_lib on the path) this module falls back to small stand-ins that record what a
profile builds and check every field-engine offset against the scapy packet, so the profiles can be
executed by the test suite (tests/Switchyard.Tests/Perf/TrexProfileTests.cs); TRex itself is not
packaged for Debian and never ran here.
"""
import argparse
import ipaddress
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sy_mixes as m  # noqa: E402

try:
    from trex_stl_lib.api import (STLStream, STLPktBuilder, STLTXCont, STLTXSingleBurst, STLScVmRaw,  # noqa: F401
                                  STLVmFlowVar, STLVmWrFlowVar, STLVmFixIpv4, STLVmFixChecksumHw, CTRexVmInsFixHwCs)
    IN_TREX = True
except ImportError:
    try:
        from trex.stl.api import (STLStream, STLPktBuilder, STLTXCont, STLTXSingleBurst, STLScVmRaw,  # noqa: F401
                                  STLVmFlowVar, STLVmWrFlowVar, STLVmFixIpv4, STLVmFixChecksumHw, CTRexVmInsFixHwCs)
        IN_TREX = True
    except ImportError:
        from sy_stl_standin import (STLStream, STLPktBuilder, STLTXCont, STLTXSingleBurst, STLScVmRaw,  # noqa: F401
                                    STLVmFlowVar, STLVmWrFlowVar, STLVmFixIpv4, STLVmFixChecksumHw, CTRexVmInsFixHwCs)
        IN_TREX = False

MIXES = ["est", "syn", "udp", "tcp6", "imix", "join-enc", "join-learned"]


def _ip4(a):
    return sum(int(x) << (24 - 8 * i) for i, x in enumerate(a.split(".")))


def _str4(n):
    return ".".join(str(n >> s & 0xFF) for s in (24, 16, 8, 0))


def parse(tunables):
    p = argparse.ArgumentParser(prog="switchyard profile", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--vip", default=m.VIP4)
    p.add_argument("--vip6", default=m.VIP6)
    p.add_argument("--tcp-port", type=int, default=m.TCP_PORT)
    p.add_argument("--udp-port", type=int, default=m.UDP_PORT)
    p.add_argument("--dst-mac", default=m.APPLIANCE_MAC)
    p.add_argument("--src-mac", default=m.ROUTER_MAC)
    p.add_argument("--clients", default="10.0.0.1")
    p.add_argument("--clients6", default="2001:db8:abcd::1")
    p.add_argument("--flows", type=int, default=65536)
    p.add_argument("--pps", type=float, default=1e6)
    p.add_argument("--l4-checksum", choices=["hw", "none"], default="hw")
    p.add_argument("--setup-ms", type=int, default=500)
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--server-ids", default=",".join(map(str, m.SERVER_IDS)))
    p.add_argument("--server-id-bits", type=int, default=m.SERVER_ID_BITS)
    p.add_argument("--key", action="append", help="token key id 0, 1, 2 in order (32 hex digits each)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(list(tunables or []))
    if a.flows < 1 or a.tokens < 1 or a.connections < 1:
        p.error("--flows, --tokens and --connections must be >= 1")
    return a


def _vm(a, l3, l4, proto, src_range, random_ports=False, v6=False):
    """Client address over src_range (inc, or random with random_ports), the checksum fix-up."""
    lo, hi = src_range
    ins = [STLVmFlowVar(name="src", min_value=lo, max_value=hi, size=4, op="random" if random_ports else "inc")]
    ins.append(STLVmWrFlowVar(fv_name="src", pkt_offset=l3 + ".src", offset_fixup=12 if v6 else 0))
    if random_ports:
        ins += [STLVmFlowVar(name="sport", min_value=1024, max_value=65535, size=2, op="random"),
                STLVmWrFlowVar(fv_name="sport", pkt_offset=l4 + ".sport")]
    if a.l4_checksum == "hw":
        ins.append(STLVmFixChecksumHw(l3_offset=l3, l4_offset=l4,
                                      l4_type=CTRexVmInsFixHwCs.L4_TYPE_TCP if proto == "TCP" else CTRexVmInsFixHwCs.L4_TYPE_UDP))
    elif not v6:
        ins.append(STLVmFixIpv4(offset="IP"))
    return STLScVmRaw(ins)


def _stream(pkt, vm, pps, burst=None, isg_us=0.0, name=None):
    mode = STLTXSingleBurst(total_pkts=burst, pps=pps) if burst else STLTXCont(pps=pps)
    kw = dict(packet=STLPktBuilder(pkt=pkt, vm=vm), mode=mode, isg=isg_us)
    if name:
        kw["name"] = name
    return STLStream(**kw)


class SwitchyardProfile(object):
    def __init__(self, mix):
        if mix not in MIXES:
            raise ValueError(f"unknown mix {mix}; known: {', '.join(MIXES)}")
        self.mix = mix

    def get_streams(self, tunables=None, direction=0, **kwargs):
        a = parse(tunables)
        mac = dict(dst_mac=a.dst_mac, src_mac=a.src_mac)
        first = _ip4(a.clients)
        flows = (first, min(first + a.flows - 1, 0xFFFFFFFF))
        setup_pps = max(1.0, min(a.pps, 1e6))
        setup_us = a.setup_ms * 1000.0
        mix = self.mix
        if mix in ("est", "imix", "tcp6"):
            # Open every flow once (a SYN burst over the client range), then the steady ACKs: the appliance
            # pins TCP flows from their SYN, so the ACKs are flow-table hits.
            if mix == "tcp6":
                base6 = a.clients6
                syn = m.tcp6(base6, 10000, "S", 1000, 0, vip=a.vip6, dport=a.tcp_port, **mac)
                ack = m.tcp6(base6, 10000, "A", 1001, 5000, vip=a.vip6, dport=a.tcp_port, **mac)
                low = int.from_bytes(ipaddress.IPv6Address(base6).packed[12:], "big")
                rng6 = (low, min(low + a.flows - 1, 0xFFFFFFFF))
                return [_stream(syn, _vm(a, "IPv6", "TCP", "TCP", rng6, v6=True), setup_pps, burst=a.flows, name="setup"),
                        _stream(ack, _vm(a, "IPv6", "TCP", "TCP", rng6, v6=True), a.pps, isg_us=setup_us)]
            syn = m.tcp4(_str4(first), 10000, "S", 1000, 0, vip=a.vip, dport=a.tcp_port, **mac)
            streams = [_stream(syn, _vm(a, "IP", "TCP", "TCP", flows), setup_pps, burst=a.flows, name="setup")]
            sizes = [60] if mix == "est" else [60, 590, 1514]
            shares = [1] if mix == "est" else [7, 4, 1]
            for size, share in zip(sizes, shares):
                ack = m.tcp4(_str4(first), 10000, "A", 1001, 5000, frame_len=size, vip=a.vip, dport=a.tcp_port, **mac)
                streams.append(_stream(ack, _vm(a, "IP", "TCP", "TCP", flows), a.pps * share / sum(shares), isg_us=setup_us))
            return streams
        if mix == "syn":
            pkt = m.tcp4(_str4(first), 10000, "S", 1000, 0, vip=a.vip, dport=a.tcp_port, **mac)
            return [_stream(pkt, _vm(a, "IP", "TCP", "TCP", flows, random_ports=True), a.pps)]
        if mix == "udp":
            pkt = m.udp4(_str4(first), 10000, vip=a.vip, dport=a.udp_port, **mac)
            return [_stream(pkt, _vm(a, "IP", "UDP", "UDP", flows), a.pps)]
        if mix == "join-enc":
            keys = [bytes.fromhex(k) for k in a.key] if a.key else [m.TOKEN_KEYS[i] for i in range(3)]
            sids = [int(s) for s in a.server_ids.split(",")]
            rng = random.Random(a.seed)
            streams = []
            for t in range(a.tokens):
                kid = t % len(keys)
                token = m.mint_token(keys[kid], kid, a.server_id_bits, sids[t % len(sids)],
                                     rng.getrandbits(30 - a.server_id_bits))
                pkt = m.join4(_str4(first), 10000, 1000, token, rng.getrandbits(32), vip=a.vip, dport=a.tcp_port, **mac)
                streams.append(_stream(pkt, _vm(a, "IP", "TCP", "TCP", flows, random_ports=True), a.pps / a.tokens))
            return streams
        if mix == "join-learned":
            # Connection c: its SYN and third ACK (the appliance learns SHA-256(server key)'s token), then,
            # after --setup-ms, a continuous stream of joins carrying that token from random 5-tuples.
            rng = random.Random(a.seed)
            streams = []
            for c in range(a.connections):
                key = rng.getrandbits(64)
                client = _str4(first + a.flows + c)  # outside the joins' client range
                syn = m.mp_capable4(client, 40000 + c, False, key, 1000, **dict(mac, vip=a.vip, dport=a.tcp_port))
                ack = m.mp_capable4(client, 40000 + c, True, key, 1001, **dict(mac, vip=a.vip, dport=a.tcp_port))
                streams.append(_stream(syn, None, 1000, burst=1, isg_us=0))
                streams.append(_stream(ack, None, 1000, burst=1, isg_us=setup_us / 2))
                join = m.join4(_str4(first), 10000, 1000, m.learned_token(key), rng.getrandbits(32),
                               vip=a.vip, dport=a.tcp_port, **mac)
                streams.append(_stream(join, _vm(a, "IP", "TCP", "TCP", flows, random_ports=True),
                                       a.pps / a.connections, isg_us=setup_us))
            return streams
        raise AssertionError(mix)
