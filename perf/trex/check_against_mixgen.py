#!/usr/bin/python3
"""Rebuilds every frame of perf/load/mixgen.py's pcaps with sy_mixes (scapy) and compares them byte for
byte. Usage: check_against_mixgen.py WORKDIR [--flows N] [--rounds N]. Parameters (addresses, ports,
sequence numbers, IP ids, tokens, keys) are read from mixgen's frames with struct at fixed offsets, not
with scapy, so scapy only builds. Prints "MIX: N frames identical" per mix; exits 1 on the first
difference (with both frames in hex). join-enc's tokens are minted by sy_mixes.mint_token for the
harness's keys and server ids; the test suite checks that minter against the appliance's own cipher.
"""
import argparse
import ipaddress
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sy_mixes as m  # noqa: E402

MIXGEN = os.path.join(HERE, "..", "load", "mixgen.py")
MIXES = ["est", "syn", "udp", "tcp6", "imix", "join-enc", "join-rand", "syn-ts", "join-learned"]
FLAGS = {0x02: "S", 0x10: "A"}


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    off, out = 24, []
    while off < len(data):
        _, _, incl, _ = struct.unpack_from("<IIII", data, off)
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


def rebuild(fr):
    """The sy_mixes frame with the parameters of mixgen frame fr."""
    ethertype = struct.unpack_from("!H", fr, 12)[0]
    if ethertype == 0x86DD:
        src = str(ipaddress.IPv6Address(fr[22:38]))
        sport, _, seq, ack, _, flags = struct.unpack_from("!HHIIBB", fr, 54)
        return m.tcp6(src, sport, FLAGS[flags], seq, ack)
    src = str(ipaddress.IPv4Address(fr[26:30]))
    ident, proto = struct.unpack_from("!H", fr, 18)[0], fr[23]
    if proto == 17:
        return m.udp4(src, struct.unpack_from("!H", fr, 34)[0], frame_len=len(fr), ident=ident)
    sport, _, seq, ack, off, flags = struct.unpack_from("!HHIIBB", fr, 34)
    opts = fr[54:34 + (off >> 4) * 4]
    if not opts:
        return m.tcp4(src, sport, FLAGS[flags], seq, ack, frame_len=len(fr), ident=ident)
    if opts[0] == 1:  # NOP NOP timestamps: syn-ts
        return m.syn_ts4(src, sport, seq, struct.unpack_from("!I", opts, 4)[0], ident=ident)
    if opts[0] == 30 and opts[2] >> 4 == 1:  # MP_JOIN
        token, nonce = struct.unpack_from("!II", opts, 4)
        return m.join4(src, sport, seq, token, nonce, ident=ident)
    if opts[0] == 30 and opts[2] >> 4 == 0:  # MP_CAPABLE
        if opts[1] == 20:
            return m.mp_capable4(src, sport, True, struct.unpack_from("!Q", opts, 12)[0], seq, ident=ident)
        return m.mp_capable4(src, sport, False, 0, seq, ident=ident)
    raise SystemExit(f"check: unexpected options {opts.hex()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir")
    ap.add_argument("--flows", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    n = a.flows * a.rounds
    tokens = os.path.join(a.workdir, "tokens.txt")
    with open(tokens, "w") as f:
        for i in range(n):
            sid = m.SERVER_IDS[i % len(m.SERVER_IDS)]
            f.write(f"{m.mint_token(m.TOKEN_KEYS[i % 3], i % 3, m.SERVER_ID_BITS, sid, i):08x}\n")
    subprocess.run([sys.executable, MIXGEN, a.workdir, "--flows", str(a.flows), "--rounds", str(a.rounds),
                    "--mixes", ",".join(MIXES), "--join-tokens", tokens], check=True, stdout=subprocess.DEVNULL)
    for mix in MIXES:
        frames = read_pcap(os.path.join(a.workdir, mix + ".pcap"))
        for i, fr in enumerate(frames):
            built = bytes(rebuild(fr))
            if built != fr:
                print(f"{mix}: frame {i} differs\n  mixgen {fr.hex()}\n  scapy  {built.hex()}")
                return 1
        print(f"{mix}: {len(frames)} frames identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
