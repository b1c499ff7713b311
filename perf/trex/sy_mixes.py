"""Switchyard load-test packets for TRex (and any scapy user): the frames of perf/load/mixgen.py, built
with scapy, plus token minting (token format v1) and learned tokens (RFC 8684), in plain Python.

This module never imports TRex: the STL profiles (perf/trex/*.py) import it, and the test suite runs it
under Debian's python3-scapy to compare every builder, byte for byte, with mixgen.py's pcap frames
(tests/Switchyard.Tests/Perf/TrexProfileTests.cs).

Addresses default to perf/load/switchyard.json (appliance MAC 02:00:00:00:00:01, VIP 198.18.0.100 and
2001:db8::100, TCP port 80, UDP port 53); every builder takes them as arguments, so a real-NIC set-up
(perf/LOADTEST.md) passes its own.
"""
import hashlib
import struct

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Padding, Raw

APPLIANCE_MAC = "02:00:00:00:00:01"
ROUTER_MAC = "02:00:00:00:00:02"
VIP4 = "198.18.0.100"
VIP6 = "2001:db8::100"
TCP_PORT = 80
UDP_PORT = 53
IMIX = [60] * 7 + [590] * 4 + [1514]  # frame sizes without FCS, "simple IMIX" 7:4:1


def _eth(dst_mac, src_mac):
    return Ether(dst=dst_mac, src=src_mac)


def _pad(pkt, size):
    n = size - len(pkt)
    return pkt / Padding(load=b"\0" * n) if n > 0 else pkt


def tcp4(src, sport, flags, seq, ack, frame_len=60, ident=0, options=(), vip=VIP4, dport=TCP_PORT,
         dst_mac=APPLIANCE_MAC, src_mac=ROUTER_MAC):
    """IPv4 TCP, DF, TTL 64, window 65535. Without options, a frame above 60 bytes carries zero payload up to
    frame_len (mixgen's tcp4_frame, IMIX sizes); a shorter one is padded to 60 bytes after the IP packet."""
    payload_len = frame_len - 14 - 20 - 20 if frame_len > 60 and not options else 0
    pkt = (_eth(dst_mac, src_mac) / IP(src=src, dst=vip, id=ident & 0xFFFF, flags="DF", ttl=64)
           / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=65535, options=list(options)))
    if payload_len:
        pkt = pkt / Raw(load=b"\0" * payload_len)
    return _pad(pkt, frame_len)


def udp4(src, sport, frame_len=60, ident=0, vip=VIP4, dport=UDP_PORT, dst_mac=APPLIANCE_MAC, src_mac=ROUTER_MAC):
    return (_eth(dst_mac, src_mac) / IP(src=src, dst=vip, id=ident & 0xFFFF, flags="DF", ttl=64)
            / UDP(sport=sport, dport=dport) / Raw(load=b"\0" * (frame_len - 14 - 20 - 8)))


def tcp6(src, sport, flags, seq, ack, vip=VIP6, dport=TCP_PORT, dst_mac=APPLIANCE_MAC, src_mac=ROUTER_MAC):
    return (_eth(dst_mac, src_mac) / IPv6(src=src, dst=vip, hlim=64)
            / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=65535))


def mp_join_option(token, nonce, address_id=1):
    """MP_JOIN as in a SYN (RFC 8684 3.2): subtype 1, B = 0, address id, receiver's token, sender's nonce."""
    return (30, struct.pack("!BBII", 1 << 4, address_id, token, nonce))


def mp_capable_option(sender_key=None, receiver_key=None):
    """MP_CAPABLE v1 with flags A and H: no key on the SYN, both keys on the third ACK."""
    keys = b"".join(struct.pack("!Q", k) for k in (sender_key, receiver_key) if k is not None)
    return (30, bytes([0x01, 0x81]) + keys)


def join4(src, sport, seq, token, nonce, ident=0, **kw):
    """An MP_JOIN SYN (66-byte frame): mixgen's join-enc / join-rand / join-learned joins."""
    return tcp4(src, sport, "S", seq, 0, frame_len=66, ident=ident, options=[mp_join_option(token, nonce)], **kw)


def syn_ts4(src, sport, seq, tsval, ident=0, **kw):
    """A plain SYN of the joins' size: NOP, NOP, timestamps (mixgen's syn-ts)."""
    return tcp4(src, sport, "S", seq, 0, frame_len=66, ident=ident, options=[("NOP", None), ("NOP", None), ("Timestamp", (tsval, 0))], **kw)


def mp_capable4(src, sport, third_ack, server_key, seq, ident=0, **kw):
    """join-learned set-up: the connection's SYN (MP_CAPABLE, no key) or its third ACK (client key = ~server key)."""
    if third_ack:
        opt = mp_capable_option(~server_key & 0xFFFFFFFFFFFFFFFF, server_key)
        return tcp4(src, sport, "A", seq, 5000, frame_len=74, ident=ident, options=[opt], **kw)
    return tcp4(src, sport, "S", seq, 0, frame_len=60, ident=ident, options=[mp_capable_option()], **kw)


def learned_token(key):
    """RFC 8684 3.1: token = most significant 32 bits of SHA-256(key, 8 octets big-endian)."""
    return int.from_bytes(hashlib.sha256(struct.pack("!Q", key)).digest()[:4], "big")


# --- token format v1 (docs/token-format.md): AES-128 encryption, from FIPS-197 --------------

def _xtime(a):
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _sbox():
    box = [0] * 256
    p = q = 1
    while True:
        p = p ^ _xtime(p) & 0xFF                       # p *= 3 in GF(2^8)
        q ^= q << 1; q ^= q << 2; q ^= q << 4; q &= 0xFF  # q /= 3
        if q & 0x80:
            q ^= 0x09
        x = q ^ (q << 1 | q >> 7) ^ (q << 2 | q >> 6) ^ (q << 3 | q >> 5) ^ (q << 4 | q >> 4)
        box[p] = (x ^ 0x63) & 0xFF
        if p == 1:
            break
    box[0] = 0x63
    return box


SBOX = _sbox()


def _expand(key):
    w = [list(key[i:i + 4]) for i in range(0, 16, 4)]
    rcon = 1
    for i in range(4, 44):
        t = list(w[i - 1])
        if i % 4 == 0:
            t = [SBOX[b] for b in t[1:] + t[:1]]
            t[0] ^= rcon
            rcon = _xtime(rcon) & 0xFF
        w.append([a ^ b for a, b in zip(w[i - 4], t)])
    return [sum(w[4 * r:4 * r + 4], []) for r in range(11)]


def aes128_encrypt(key, block):
    """One AES-128 block (FIPS-197), byte lists column-major as in the standard."""
    rk = _expand(key)
    s = [b ^ k for b, k in zip(block, rk[0])]
    for r in range(1, 11):
        s = [SBOX[b] for b in s]
        s = [s[(i + 4 * (i % 4)) % 16] for i in range(16)]  # ShiftRows
        if r != 10:
            m = []
            for c in range(4):
                a = s[4 * c:4 * c + 4]
                t = a[0] ^ a[1] ^ a[2] ^ a[3]
                m += [a[i] ^ t ^ (_xtime(a[i] ^ a[(i + 1) % 4]) & 0xFF) for i in range(4)]
            s = m
        s = [b ^ k for b, k in zip(s, rk[r])]
    return bytes(s)


def _f(key, i, h):
    block = bytes([h >> 8 & 0xFF, h & 0xFF]) + bytes(12) + bytes([0x1E, i])
    out = aes128_encrypt(key, block)
    return (out[0] << 8 | out[1]) >> 1


def mint_token(key, key_id, server_id_bits, server_id, nonce):
    """The routable token of (server id, nonce) under key `key` (16 bytes) with key id 0..2."""
    x = server_id << (30 - server_id_bits) | nonce
    left, right = x >> 15, x & 0x7FFF
    right ^= _f(key, 1, left)
    left ^= _f(key, 2, right)
    right ^= _f(key, 3, left)
    left ^= _f(key, 4, right)
    return key_id << 30 | left << 15 | right


# The load harness's keys and server ids (perf/load/switchyard.json, pool "dsr").
TOKEN_KEYS = {0: bytes.fromhex("000102030405060708090a0b0c0d0e0f"),
              1: bytes.fromhex("5377697463687961726420746f6b656e"),
              2: bytes.fromhex("c0ffee00deadbeef0123456789abcdef")}
SERVER_ID_BITS = 10
SERVER_IDS = [101, 102, 103, 104]
