#!/usr/bin/python3
"""A lossy, delaying wire between two interfaces (this kernel has no netem).

  wire.py IF_A IF_B --delay-ms D --loss-pct P [--seed S]

Every Ethernet frame received on one interface is sent out of the other D ms later (each direction
is one FIFO, so order is kept and every frame gets the same delay), or dropped with probability P %
(independently per frame, like nftables' `numgen random`). No rate limit of its own: the relay's
speed is the limit (a few Mbit/s to some hundred; the paths it carries here run far below that, and
it prints on exit how late it sent frames, mean and max, on top of the delay asked for).
The interfaces must not hand it GSO/TSO super-frames or partial checksums: the scripts turn tso, gso,
gro and tx checksumming off on both ends.
"""
import argparse, collections, random, select, signal, socket, sys, time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

p = argparse.ArgumentParser()
p.add_argument("a"); p.add_argument("b")
p.add_argument("--delay-ms", type=float, default=0)
p.add_argument("--loss-pct", type=float, default=0)
p.add_argument("--seed", type=int, default=None)
a = p.parse_args()
rng = random.Random(a.seed)
delay = a.delay_ms / 1000.0
loss = a.loss_pct / 100.0

socks = []
for ifn in (a.a, a.b):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    s.bind((ifn, 0))
    s.setblocking(False)
    socks.append(s)
queues = [collections.deque(), collections.deque()]  # queues[i]: frames to send out of socks[i]
st = {"fwd": 0, "lost": 0, "late_max_ms": 0.0, "late_sum_ms": 0.0, "send_err": 0}
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
poll = select.poll()
fd2i = {}
for i, s in enumerate(socks):
    poll.register(s.fileno(), select.POLLIN)
    fd2i[s.fileno()] = i

while not stop:
    now = time.monotonic()
    due = min((q[0][0] for q in queues if q), default=None)
    timeout = 200 if due is None else max(0, (due - now) * 1000)
    try:
        ev = poll.poll(timeout)
    except InterruptedError:
        continue
    for fd, _ in ev:
        i = fd2i[fd]
        while True:
            try:
                frame, addr = socks[i].recvfrom(65535)
            except BlockingIOError:
                break
            if addr[2] == PACKET_OUTGOING:
                continue  # our own transmissions on this interface
            if loss and rng.random() < loss:
                st["lost"] += 1
                continue
            queues[1 - i].append((time.monotonic() + delay, frame))
    now = time.monotonic()
    for i, q in enumerate(queues):
        while q and q[0][0] <= now:
            t, frame = q.popleft()
            late = (now - t) * 1000
            st["late_sum_ms"] += late
            if late > st["late_max_ms"]:
                st["late_max_ms"] = late
            try:
                socks[i].send(frame)
                st["fwd"] += 1
            except OSError:
                st["send_err"] += 1
print(f"wire: forwarded {st['fwd']} lost {st['lost']} send_errors {st['send_err']} "
      f"lateness_ms mean {st['late_sum_ms'] / max(1, st['fwd'] + st['send_err']):.2f} max {st['late_max_ms']:.1f}", flush=True)
