#!/usr/bin/env python3
"""Traffic mixes for the load harness, written as classic pcap files (standard library only).

Usage: mixgen.py OUTDIR [--flows N] [--rounds N] [--seed N] [--mixes a,b,...] [--join-tokens FILE]
                 [--new-flows N] [--est10x-rounds N]
                 [--dst-mac M] [--src-mac M] [--vip A] [--vip6 A]   (real NICs: perf/LOADTEST.md)

Writes OUTDIR/{est,syn,udp,tcp6,imix}.pcap (or the --mixes named) and OUTDIR/mixes.txt (one
"name packets bytes" line each).
Every frame is a valid Ethernet/IP frame with correct IPv4 header and L4 checksums, addressed to the
VIPs in perf/load/switchyard.json; the appliance's parser verifies the IPv4 header checksum.

Mixes (the pcap is replayed in a loop by net_pcap's infinite_rx, so each file is one "period"):
  est   established IPv4 TCP to VIP 198.18.0.100:80: FLOWS client flows; every flow's SYN, then ROUNDS-1
        rounds of ACKs (flows interleaved), 60-byte frames (64 on the wire with the FCS). The SYN
        share of the period is 1/ROUNDS (replayed SYNs hit the flow they already pinned).
  syn   TCP SYN flood to the same VIP: FLOWS*ROUNDS SYNs from random source addresses and ports.
  udp   IPv4 UDP to VIP 198.18.0.100:53: FLOWS flows x ROUNDS packets, 60-byte frames (18-byte payload).
  tcp6  established IPv6 TCP to VIP [2001:db8::100]:80, same shape as est, 74-byte frames (minimum v6 TCP).
  imix  est with "simple IMIX" frame sizes 7:4:1 of 60/590/1514 bytes (64/594/1518 on the wire).
  join-enc  MPTCP MP_JOIN SYN flood to the same VIP: FLOWS*ROUNDS SYNs from distinct random client
        addresses/ports, each with one MP_JOIN option (kind 30, length 12, subtype 0: receiver token,
        sender random number, address id) and no other option, 66-byte frames (70 on the wire). The
        tokens are read from --join-tokens FILE (one hex token a line, in order): run.sh has
        perf/load/JoinGen mint them with the reference minting library (src/Minting), valid for the
        dsr pool's ServerIds under key ids 0..2, so every join is placeable.
  syn-ts    the syn flood's shape with a 12-byte non-MPTCP option block (NOP, NOP, timestamps), so its
        frames are the join mixes' 66 bytes: net_pcap's infinite_rx copies every frame, and 66 bytes
        span two cache lines where 60 fit in one, which costs every tool (testpmd included).
  join-learned  MP_JOIN SYNs carrying learned tokens, to a VIP with Joins ["learned-token"]. The period
        opens FLOWS MPTCP connections first (so the appliance has learned their tokens before the first
        join): every connection's SYN with MP_CAPABLE (v1, no key), then every connection's third ACK
        with MP_CAPABLE carrying the client's and the server's 64-bit keys (the appliance derives the
        server key's token, SHA-256 per RFC 8684, and learns token -> backend); then FLOWS*(ROUNDS-2)
        MP_JOIN SYNs from distinct new 5-tuples, join j carrying the token of connection j mod FLOWS
        (computed here with hashlib the same way). On replay the SYNs and third ACKs hit their pinned
        flows (the token is refreshed, not re-derived) and the joins hit the 5-tuples they pinned.
  quic  QUIC short headers (1-RTT) to the UDP VIP 198.18.0.100:53 (the load case puts it in QUIC-LB mode):
        FLOWS*ROUNDS packets from distinct random client addresses/ports, each with its own connection ID
        read from --quic-cids FILE (run.sh has perf/load/JoinGen mint them with QuicLbMinter for the dsr
        pool's QuicServerIds), 60-byte frames: 0x40, the 10-octet CID, 8 more octets.
  New-flow mixes (run.sh --newflows; also in --smoke): every frame of the period is a distinct 5-tuple
  (--new-flows N of them, at least 16384), and the harness runs them with a 1024-entry flow table (the
  smallest the appliance accepts), so by the time the replay brings a 5-tuple back its entry has long
  been evicted: every packet takes the new-flow path (flow miss, Maglev or join steering, insert with
  eviction). The report's new-flow table shows the flowInserts per second that prove it.
  syn-new   N TCP SYNs to tcp4, N distinct client 5-tuples.
  udp-new   N UDP datagrams to udp4 (port 53), N distinct client 5-tuples, 60-byte frames.
  join-enc-new  N MP_JOIN SYNs with minted encrypted tokens (as join-enc), N distinct 5-tuples.
  join-learned-new  learned-token joins (as join-learned) for N/16 connections: their SYNs and third
        ACKs first, then 14N/16 joins from distinct 5-tuples carrying their tokens.
  est-10x   established TCP (as est) over 10240 distinct flows, 10x the 1024-entry table, --est10x-rounds
        rounds (SYN, then ACKs): the table thrashes; every ACK misses and is re-steered by Maglev.
  join-rand the same frames with uniformly random 32-bit tokens (another random stream): a quarter
        carry key id 3 ("not routable"), the rest decrypt to a random 10-bit server id, so only about
        3/4 * 4/1024 of them name one of the 4 backends; the rest are unplaceable.
"""
import argparse
import hashlib
import os
import random
import struct

APPLIANCE_MAC = bytes.fromhex("020000000001")   # the "in" port's Mac in switchyard.json
ROUTER_MAC = bytes.fromhex("020000000002")      # the client-side router sending to the appliance
VIP4 = bytes([198, 18, 0, 100])
VIP6 = bytes.fromhex("20010db8000000000000000000000100")
CLIENT_NET6 = bytes.fromhex("20010db8abcd0000")  # clients: 2001:db8:abcd::/64

TCP_SYN, TCP_ACK = 0x02, 0x10


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(ethertype: int) -> bytes:
    return APPLIANCE_MAC + ROUTER_MAC + struct.pack("!H", ethertype)


def tcp_header(sport, dport, seq, ack, flags, pseudo, payload, options=b""):
    assert len(options) % 4 == 0
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (5 + len(options) // 4) << 4, flags, 65535, 0, 0) + options
    c = csum(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:]


def mp_join_syn_option(token, nonce, address_id=1):
    # RFC 8684 3.2: kind 30, length 12, subtype MP_JOIN (1) in the high nibble, B flag 0, address id,
    # receiver's token, sender's random number.
    return struct.pack("!BBBBII", 30, 12, 1 << 4, address_id, token, nonce)


def mp_capable_option(sender_key=None, receiver_key=None):
    # RFC 8684 3.1, version 1: kind 30, subtype 0 / version 1, flags A (checksum required) and H (HMAC-SHA256);
    # no key on the SYN, both keys (sender's, then receiver's) on the third ACK.
    keys = b"".join(k.to_bytes(8, "big") for k in (sender_key, receiver_key) if k is not None)
    return struct.pack("!BBBB", 30, 4 + len(keys), 0x01, 0x81) + keys


def learned_token(key):
    """RFC 8684 3.1: the token of a 64-bit key is the most significant 32 bits of SHA-256(key)."""
    return int.from_bytes(hashlib.sha256(key.to_bytes(8, "big")).digest()[:4], "big")


def mp_capable4_frame(src, sport, third_ack, server_key, seq, ident=0):
    opt = mp_capable_option(~server_key & (2 ** 64 - 1), server_key) if third_ack else mp_capable_option()
    pseudo = src + VIP4 + struct.pack("!BBH", 0, 6, 20 + len(opt))
    tcp = tcp_header(sport, 80, seq, 5000 if third_ack else 0, TCP_ACK if third_ack else TCP_SYN, pseudo, b"", opt)
    return pad(eth(0x0800) + ipv4(src, VIP4, 6, len(tcp), ident) + tcp, 60)


def learned_joins(rng, flows, rounds):
    """FLOWS MPTCP connections (SYN, then third ACK with both keys), then FLOWS*(ROUNDS-2) joins with their tokens."""
    conns = flows4(rng, flows)
    keys = [rng.getrandbits(64) for _ in conns]
    frames = [mp_capable4_frame(src, sport, False, keys[i], 1000 + i, ident=i) for i, (src, sport) in enumerate(conns)]
    frames += [mp_capable4_frame(src, sport, True, keys[i], 1001 + i, ident=i) for i, (src, sport) in enumerate(conns)]
    used = set(conns)
    n = flows * max(0, rounds - 2)
    joiners = []
    while len(joiners) < n:
        f = (client4(rng), rng.randrange(1024, 65536))
        if f not in used:
            used.add(f)
            joiners.append(f)
    frames += [join4_frame(src, sport, rng.getrandbits(32), learned_token(keys[j % flows]), rng.getrandbits(32), ident=j)
               for j, (src, sport) in enumerate(joiners)]
    return frames


def join4_frame(src, sport, seq, token, nonce, ident=0, opt=None):
    opt = opt if opt is not None else mp_join_syn_option(token, nonce)
    pseudo = src + VIP4 + struct.pack("!BBH", 0, 6, 20 + len(opt))
    tcp = tcp_header(sport, 80, seq, 0, TCP_SYN, pseudo, b"", opt)
    return eth(0x0800) + ipv4(src, VIP4, 6, len(tcp), ident) + tcp


def udp_header(sport, dport, pseudo, payload):
    length = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    c = csum(pseudo + hdr + payload) or 0xFFFF
    return hdr[:6] + struct.pack("!H", c)


def ipv4(src: bytes, dst: bytes, proto: int, l4_len: int, ident: int) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + l4_len, ident & 0xFFFF, 0x4000, 64, proto, 0, src, dst)
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]


def pad(frame: bytes, size: int) -> bytes:
    return frame + b"\0" * (size - len(frame)) if len(frame) < size else frame


def tcp4_frame(src, sport, flags, seq, ack, frame_len=60, ident=0):
    # A minimum-size frame carries no TCP payload: Ethernet pads 54 bytes of headers to 60.
    payload_len = frame_len - 14 - 20 - 20 if frame_len > 60 else 0
    payload = bytes(payload_len)
    pseudo = src + VIP4 + struct.pack("!BBH", 0, 6, 20 + payload_len)
    tcp = tcp_header(sport, 80, seq, ack, flags, pseudo, payload)
    return pad(eth(0x0800) + ipv4(src, VIP4, 6, 20 + payload_len, ident) + tcp + payload, frame_len)


def udp4_frame(src, sport, frame_len=60, ident=0):
    payload = bytes(frame_len - 14 - 20 - 8)
    pseudo = src + VIP4 + struct.pack("!BBH", 0, 17, 8 + len(payload))
    udp = udp_header(sport, 53, pseudo, payload)
    return eth(0x0800) + ipv4(src, VIP4, 17, 8 + len(payload), ident) + udp + payload


def quic4_frame(src, sport, cid, ident=0):
    payload = bytes([0x40]) + cid
    payload += bytes(60 - 14 - 20 - 8 - len(payload)) if len(payload) < 18 else b""
    pseudo = src + VIP4 + struct.pack("!BBH", 0, 17, 8 + len(payload))
    udp = udp_header(sport, 53, pseudo, payload)
    return eth(0x0800) + ipv4(src, VIP4, 17, 8 + len(payload), ident) + udp + payload


def tcp6_frame(src, sport, flags, seq, ack):
    pseudo = src + VIP6 + struct.pack("!IxxxB", 20, 6)
    tcp = tcp_header(sport, 80, seq, ack, flags, pseudo, b"")
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, 20, 6, 64, src, VIP6)
    return eth(0x86DD) + ip6 + tcp


def write_pcap(path, frames):
    n = nbytes = 0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)
            n += 1
            nbytes += len(fr)
    return n, nbytes


def client4(rng):
    # Clients from 10.0.0.0/8 (never a VIP), distinct addresses and ports give distinct flows.
    return bytes([10, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)])


def flows4(rng, count):
    seen, out = set(), []
    while len(out) < count:
        f = (client4(rng), rng.randrange(1024, 65536))
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out


IMIX = [60] * 7 + [590] * 4 + [1514]


def established(flows, rounds, make, sizes=None):
    """SYN of every flow, then rounds-1 rounds of ACKs over all flows."""
    frames = []
    for k in range(rounds):
        for i, (src, sport) in enumerate(flows):
            if k == 0:
                frames.append(make(src, sport, TCP_SYN, 1000 + i, 0, None))
            else:
                size = sizes[(k * len(flows) + i) % len(sizes)] if sizes else None
                frames.append(make(src, sport, TCP_ACK, 1001 + i + k, 5000 + k, size))
    return frames


def read_lines(path, count, mix, option):
    if not path:
        raise SystemExit(f"mixgen: {mix} needs {option} FILE (run.sh mints them with perf/load/JoinGen)")
    with open(path) as f:
        lines = [l.strip() for l in f if l.strip()]
    if len(lines) < count:
        raise SystemExit(f"mixgen: {path} has {len(lines)} lines, {mix} needs {count}")
    return lines[:count]


def read_tokens(path, count):
    if not path:
        raise SystemExit("mixgen: join-enc needs --join-tokens FILE (run.sh mints them with perf/load/JoinGen)")
    with open(path) as f:
        tokens = [int(line, 16) for line in f if line.strip()]
    if len(tokens) < count:
        raise SystemExit(f"mixgen: {path} has {len(tokens)} tokens, join-enc needs {count}")
    return tokens[:count]


def joins(rng, count, tokens):
    """COUNT MP_JOIN SYNs from distinct client 5-tuples; tokens None: uniformly random tokens."""
    return [join4_frame(src, sport, rng.getrandbits(32), tokens[i] if tokens else rng.getrandbits(32),
                        rng.getrandbits(32), ident=i)
            for i, (src, sport) in enumerate(flows4(rng, count))]


SMALL_TABLE = 1024            # entries: the appliance's smallest flow table, used by every new-flow mix
EST10X_FLOWS = 10 * SMALL_TABLE


def new_flow_count(flows, rounds, given=0):
    """Distinct 5-tuples per new-flow mix: 16x the small table at least, so each replayed one was evicted."""
    return given if given > 0 else max(flows * rounds, 16 * SMALL_TABLE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--flows", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mixes", default="est,syn,udp,tcp6,imix", help="comma-separated mixes to write")
    ap.add_argument("--new-flows", type=int, default=0,
                    help="distinct 5-tuples per new-flow mix (default max(FLOWS*ROUNDS, 16384))")
    ap.add_argument("--est10x-rounds", type=int, default=6, help="est-10x: rounds over its 10240 flows")
    ap.add_argument("--join-tokens", help="join-enc: file of minted tokens (hex, one a line), >= FLOWS*ROUNDS")
    ap.add_argument("--quic-cids", help="quic: file of minted QUIC-LB connection IDs (hex, one a line), >= FLOWS*ROUNDS")
    ap.add_argument("--dst-mac", help="destination MAC (the appliance port's); default 02:00:00:00:00:01")
    ap.add_argument("--src-mac", help="source MAC (the sender's); default 02:00:00:00:00:02")
    ap.add_argument("--vip", help="IPv4 VIP (TCP port 80, UDP port 53); default 198.18.0.100")
    ap.add_argument("--vip6", help="IPv6 VIP (TCP port 80); default 2001:db8::100")
    a = ap.parse_args()
    global APPLIANCE_MAC, ROUTER_MAC, VIP4, VIP6
    if a.dst_mac:
        APPLIANCE_MAC = bytes.fromhex(a.dst_mac.replace(":", ""))
    if a.src_mac:
        ROUTER_MAC = bytes.fromhex(a.src_mac.replace(":", ""))
    if a.vip:
        VIP4 = bytes(int(x) for x in a.vip.split("."))
    if a.vip6:
        import ipaddress
        VIP6 = ipaddress.IPv6Address(a.vip6).packed
    wanted = a.mixes.split(",")
    os.makedirs(a.outdir, exist_ok=True)
    rng = random.Random(a.seed)
    total = a.flows * a.rounds

    f4 = flows4(rng, a.flows)
    f6 = [(CLIENT_NET6 + rng.getrandbits(64).to_bytes(8, "big"), rng.randrange(1024, 65536)) for _ in range(a.flows)]
    rng_imix = random.Random(a.seed + 1)
    imix_sizes = IMIX[:]
    rng_imix.shuffle(imix_sizes)

    syn = [tcp4_frame(client4(rng), rng.randrange(1024, 65536), TCP_SYN, rng.getrandbits(32), 0, ident=i)
           for i in range(total)]
    # The random streams above are drawn whatever --mixes says, so est/syn/... stay byte-identical.
    mixes = {
        "est": lambda: established(f4, a.rounds, lambda s, p, fl, sq, ak, sz: tcp4_frame(s, p, fl, sq, ak)),
        "syn": lambda: syn,
        "udp": lambda: [udp4_frame(src, sport, ident=k) for k in range(a.rounds) for (src, sport) in f4],
        "tcp6": lambda: established(f6, a.rounds, lambda s, p, fl, sq, ak, sz: tcp6_frame(s, p, fl, sq, ak)),
        "imix": lambda: established(f4, a.rounds, lambda s, p, fl, sq, ak, sz: tcp4_frame(s, p, fl, sq, ak, sz or 60),
                                    imix_sizes),
        "join-enc": lambda: joins(random.Random(a.seed + 2), total, read_tokens(a.join_tokens, total)),
        "join-rand": lambda: joins(random.Random(a.seed + 3), total, None),
        "quic": lambda: [quic4_frame(src, sport, bytes.fromhex(cid), ident=i) for i, ((src, sport), cid)
                         in enumerate(zip(flows4(random.Random(a.seed + 6), total), read_lines(a.quic_cids, total, "quic", "--quic-cids")))],
        "join-learned": lambda: learned_joins(random.Random(a.seed + 5), a.flows, a.rounds),
        # NOP, NOP, timestamps (kind 8, length 10: TSval, TSecr 0): plain SYNs of the joins' size.
        "syn-ts": lambda: [join4_frame(src, sport, r.getrandbits(32), 0, 0, ident=i,
                                       opt=struct.pack("!BBBBII", 1, 1, 8, 10, r.getrandbits(32), 0))
                           for r in [random.Random(a.seed + 4)] for i, (src, sport) in enumerate(flows4(r, total))],
    }
    # New-flow mixes: own random streams (seed + 6..), so adding them changes none of the mixes above.
    nnew = new_flow_count(a.flows, a.rounds, a.new_flows)
    mixes.update({
        "syn-new": lambda: [tcp4_frame(src, sport, TCP_SYN, r.getrandbits(32), 0, ident=i)
                            for r in [random.Random(a.seed + 6)] for i, (src, sport) in enumerate(flows4(r, nnew))],
        "udp-new": lambda: [udp4_frame(src, sport, ident=i)
                            for r in [random.Random(a.seed + 7)] for i, (src, sport) in enumerate(flows4(r, nnew))],
        "join-enc-new": lambda: joins(random.Random(a.seed + 8), nnew, read_tokens(a.join_tokens, nnew)),
        "join-learned-new": lambda: learned_joins(random.Random(a.seed + 9), max(1, nnew // 16), 16),
        "est-10x": lambda: established(flows4(random.Random(a.seed + 10), EST10X_FLOWS), max(2, a.est10x_rounds),
                                       lambda s, p, fl, sq, ak, sz: tcp4_frame(s, p, fl, sq, ak)),
    })
    unknown = [m for m in wanted if m not in mixes]
    if unknown:
        ap.error(f"unknown mix {','.join(unknown)}; known: {','.join(mixes)}")
    with open(os.path.join(a.outdir, "mixes.txt"), "w") as idx:
        for name in wanted:
            frames = mixes[name]()
            n, nbytes = write_pcap(os.path.join(a.outdir, name + ".pcap"), frames)
            idx.write(f"{name} {n} {nbytes}\n")
            print(f"mixgen: {name}.pcap {n} frames, mean {nbytes / n:.0f} bytes")


if __name__ == "__main__":
    main()
