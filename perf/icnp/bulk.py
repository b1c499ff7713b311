#!/usr/bin/python3
"""Bulk transfer peer for the ICNP 2017 experiments (perf/icnp). Real Linux sockets, TCP or MPTCP
(IPPROTO_MPTCP = 262, no mptcpize needed); the server always sends, the client always receives.

  bulk.py serve --port P [--mptcp]
      Listens on every address. Each connection: the client sends an 8-byte big-endian count
      (0 = until the client closes); the server sends that many bytes and closes.
  bulk.py get --to ADDR --port P --bytes N [--mptcp] [--timeout S]
      One transfer of N bytes. Prints one JSON line: seconds (connect() to last byte), bytes,
      goodput_mbps (over those seconds), data_mbps (from the first data byte on), subflows / add_addr_accepted (MPTCP_INFO, read before close; -1 for TCP), error.
  bulk.py stream --to ADDR --port P --conns M --duration S --log FILE [--mptcp] [--stall S]
      M connections that receive without end for S seconds; a connection that fails (RST, or no
      byte for --stall seconds) is counted and replaced at once. FILE gets one line per 0.5 s:
      epoch_seconds bytes_in_the_last_0.5_s resets_total stalls_total reconnects_total
      At the end it prints {"connections": N, "with_join": J}: J connections had a joined subflow when they
      ended (MPTCP_INFO; a connection reset before it could be counted is counted without).
"""
import argparse, json, os, socket, struct, sys, threading, time

IPPROTO_MPTCP = 262
SOL_MPTCP = 284
MPTCP_INFO = 1
CHUNK = 256 * 1024


def mksock(mptcp):
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP if mptcp else 0)


def mptcp_info(s):
    """(subflows, add_addr_accepted) from struct mptcp_info (first bytes: subflows, add_addr_signal,
    add_addr_accepted, ...); (-1, -1) on a plain TCP socket or a fallen-back connection."""
    try:
        b = s.getsockopt(SOL_MPTCP, MPTCP_INFO, 64)
        if len(b) < 4:
            return -1, -1
        return b[0], b[2]
    except OSError:
        return -1, -1


def serve(a):
    ls = mksock(a.mptcp)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", a.port))
    ls.listen(512)
    zeros = memoryview(bytearray(CHUNK))

    def one(c):
        try:
            hdr = b""
            while len(hdr) < 8:
                d = c.recv(8 - len(hdr))
                if not d:
                    return
                hdr += d
            n = struct.unpack("!Q", hdr)[0]
            if n == 0:
                while True:
                    c.sendall(zeros)
            left = n
            while left > 0:
                k = c.send(zeros[:min(left, CHUNK)])
                left -= k
            c.shutdown(socket.SHUT_WR)
            c.recv(1)  # wait for the client's close, so the last bytes are never cut by our close
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=one, args=(c,), daemon=True).start()


def get(a):
    s = mksock(a.mptcp)
    s.settimeout(a.timeout)
    buf = bytearray(CHUNK)
    got, err, info = 0, None, (-1, -1)
    t0 = time.monotonic()
    tfirst = None
    try:
        s.connect((a.to, a.port))
        s.sendall(struct.pack("!Q", a.bytes))
        while got < a.bytes:
            k = s.recv_into(buf)
            if k == 0:
                break
            if tfirst is None:
                tfirst = time.monotonic()
            got += k
            if info == (-1, -1) or info[0] < 2:
                info = mptcp_info(s) if a.mptcp else info
    except OSError as e:
        err = f"{type(e).__name__}: {e}"
    t1 = time.monotonic()
    if a.mptcp:
        last = mptcp_info(s)
        info = (max(info[0], last[0]), max(info[1], last[1]))
    s.close()
    if got < a.bytes and err is None:
        err = f"short: {got} of {a.bytes} bytes"
    secs = t1 - t0
    print(json.dumps({"seconds": round(secs, 4), "bytes": got,
                      "goodput_mbps": round(got * 8 / secs / 1e6, 2) if secs > 0 else 0,
                      # from the first data byte on: what iperf-style tools report (no connection set-up)
                      "data_mbps": round(got * 8 / (t1 - tfirst) / 1e6, 2) if tfirst and t1 > tfirst else 0,
                      "subflows": info[0], "add_addr_accepted": info[1], "error": err}))
    return 0 if err is None else 1


def stream(a):
    lock = threading.Lock()
    st = {"bytes": 0, "resets": 0, "stalls": 0, "reconnects": 0, "connections": 0, "joined": 0}
    end = time.monotonic() + a.duration

    def worker():
        buf = bytearray(CHUNK)
        first = True
        while time.monotonic() < end:
            if not first:
                with lock:
                    st["reconnects"] += 1
            first = False
            s = mksock(a.mptcp)
            s.settimeout(a.stall)
            try:
                s.connect((a.to, a.port))
                s.sendall(struct.pack("!Q", 0))
                while time.monotonic() < end:
                    k = s.recv_into(buf)
                    if k == 0:
                        raise ConnectionResetError("closed by peer")
                    with lock:
                        st["bytes"] += k
            except socket.timeout:
                with lock:
                    st["stalls"] += 1
            except OSError:
                with lock:
                    st["resets"] += 1
                time.sleep(0.05)
            finally:
                if a.mptcp and mptcp_info(s)[0] >= 1:
                    with lock:
                        st["joined"] += 1
                with lock:
                    st["connections"] += 1
                s.close()

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(a.conns)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    with open(a.log, "w") as f:
        last = 0
        nxt = t0 + 0.5
        while True:
            now = time.monotonic()
            if nxt > now:
                time.sleep(nxt - now)
            with lock:
                b = st["bytes"]
                line = f"{time.time():.3f} {b - last} {st['resets']} {st['stalls']} {st['reconnects']}\n"
            last = b
            f.write(line)
            f.flush()
            nxt += 0.5
            if nxt > end + 0.01:
                break
    for t in ts:
        t.join(a.stall + 1)
    with lock:
        print(json.dumps({"connections": st["connections"], "with_join": st["joined"]}), flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("serve", "get", "stream"):
        q = sub.add_parser(name)
        q.add_argument("--port", type=int, required=True)
        q.add_argument("--mptcp", action="store_true")
        if name != "serve":
            q.add_argument("--to", required=True)
    g = sub.choices["get"]
    g.add_argument("--bytes", type=int, required=True)
    g.add_argument("--timeout", type=float, default=60)
    s = sub.choices["stream"]
    s.add_argument("--conns", type=int, default=4)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--stall", type=float, default=5)
    s.add_argument("--log", required=True)
    a = p.parse_args()
    return {"serve": serve, "get": get, "stream": stream}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
