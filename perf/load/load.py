#!/usr/bin/env python3
"""The load harness proper (run.sh prepares the machine and calls this). Standard library only.

For every traffic mix: dpdk-testpmd io, dpdk-testpmd macswap, then Switchyard, each on the same
devices (net_pcap infinite_rx in, net_null no-rx out), one forwarding core (core 1), same durations.
--workers N adds a scaling table: for n = 1..N, the est and syn mixes with n forwarding cores for every
tool: net_pcap gets n receive queues (rx_pcap given n times, each queue replaying the whole mix, so every
worker sees the one-worker traffic), net_null n queues, worker k polls queue k of both ports. Cores:
1..n, and core 0 last once n reaches the machine's core count (it is shared with the EAL main lcore and
the management thread, which are idle while measuring, and with anything else running on the machine).

How a figure is measured (a window after warm-up, never start-to-end):
  testpmd   --stats-period=1 prints, every second, per-port Rx-pps/Tx-pps that testpmd computes from
            its own clock. The figure is the mean of port 1's Tx-pps (frames forwarded to the sink)
            over DURATION samples, after skipping WARMUP samples counted from the first nonzero one.
  switchyard Run.CountersFile is rewritten every second with uptimeSeconds and the totals. The figure
            is (sent_end - sent_start) / (uptime_end - uptime_start), sent = forwarded + joinReset (an
            unplaceable MP_JOIN SYN is answered with a RST out of the rx port, not forwarded), between the first
            snapshot at least WARMUP s after the first one showing traffic and the first snapshot
            DURATION s after that; then the appliance is stopped with SIGINT.
Cycles per packet = CPU GHz (/proc/cpuinfo "cpu MHz": the VM exposes no cycle counter to perf) * 1e3 / Mpps.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
SWITCHYARD = os.path.join(ROOT, "src/Management/bin/Release/net10.0/switchyard.dll")
CONFIG = os.path.join(HERE, "switchyard.json")
STARTUP_LIMIT = 60  # s: the most a tool may take to show traffic (start-up on a loaded machine)
MBUFS = 65535  # default; --mbufs (the pcap driver holds the whole mix in mbufs: size it above the mix)

# (row name, pcap, switchyard extra args). The IPIP row reuses the est pcap and its testpmd figures.
CASES = [
    ("est (l2dsr)", "est", []),
    ("est (ipip)", "est", ["--Vips:0:Pool=ipip"]),
    ("syn flood (l2dsr)", "syn", []),
    ("udp (l2dsr)", "udp", []),
    ("tcp6 est (l2dsr)", "tcp6", []),
    ("imix est (l2dsr)", "imix", []),
    ("join-enc flood (encrypted-token VIP)", "join-enc", ["--Vips:0:Joins:0=encrypted-token"]),
    ("join-learned (learned-token VIP)", "join-learned", ["--Vips:0:Joins:0=learned-token"]),
    ("quic short headers, unique CIDs (QUIC-LB VIP)", "quic", ["--Vips:1:QuicLb=true"]),
]
SCALE_MIXES = [("est (l2dsr)", "est"), ("syn flood (l2dsr)", "syn")]

# run.sh --joins: MPTCP join steering. tcp4 (Vips:0) gets Joins ["encrypted-token"] where JOINS is given;
# SMALL_FT makes the flow table 1024 entries so that a 64k-flow mix mostly misses it (every join is
# steered and inserted anew; with the default 1M table every 5-tuple is pinned after the first pass).
# Note: the appliance decrypts every join's token in the burst's classify pass, before the flow lookup,
# so "pinned" join rows pay the AES work too; what the small table adds is the miss, the join-mode
# placement and the insert (plus an eviction).
JOINS = ["--Vips:0:Joins:0=encrypted-token"]
SMALL_FT = ["--Dataplane:FlowTableEntries=1024"]
JOIN_CASES = [
    ("syn flood, MPTCP-unaware VIP", "syn", []),
    ("syn flood, join-aware VIP", "syn", JOINS),
    ("syn-ts flood (66 B), join-aware VIP", "syn-ts", JOINS),
    ("join-enc, join-aware VIP", "join-enc", JOINS),
    ("join-rand (mostly RST), join-aware VIP", "join-rand", JOINS),
    ("syn flood, join-aware VIP, flow table 1024", "syn", JOINS + SMALL_FT),
    ("syn-ts flood (66 B), join-aware VIP, flow table 1024", "syn-ts", JOINS + SMALL_FT),
    ("join-enc, join-aware VIP, flow table 1024", "join-enc", JOINS + SMALL_FT),
]
# run.sh --newflows (and --smoke): every packet of the new-flow mixes is a distinct 5-tuple, and the flow
# table is the smallest the appliance accepts (1024 entries) against >= 16384 distinct 5-tuples per period, so
# every replayed 5-tuple was evicted long before it comes back: each packet is a flow miss, a steering decision
# and an insert (with an eviction). Next to them, the same kinds of traffic pinned (default 1M-entry table).
NEWFLOW_CASES = [
    ("syn-new (l2dsr, every SYN new)", "syn-new", SMALL_FT),
    ("udp-new (l2dsr, every datagram new)", "udp-new", SMALL_FT),
    ("join-enc-new (encrypted tokens, every join new)", "join-enc-new", ["--Vips:0:Joins:0=encrypted-token"] + SMALL_FT),
    ("join-learned-new (learned tokens, every join new)", "join-learned-new", ["--Vips:0:Joins:0=learned-token"] + SMALL_FT),
    ("est-10x (10240 flows, 1024-entry table)", "est-10x", SMALL_FT),
]
# --newflows only: the same join-enc-new run with the managed AES-NI token kernel (the fallback), for the A/B.
NEWFLOW_AB = [
    ("join-enc-new, managed AES-NI token kernel", "join-enc-new",
     ["--Vips:0:Joins:0=encrypted-token"] + SMALL_FT + ["env:SWITCHYARD_TOKEN_KERNEL=managed"]),
]
NEWFLOW_PINNED = [
    ("est (l2dsr)", "est", []),
    ("syn flood (l2dsr)", "syn", []),
    ("udp (l2dsr)", "udp", []),
    ("join-enc flood (encrypted-token VIP)", "join-enc", ["--Vips:0:Joins:0=encrypted-token"]),
]
# new-flow row -> its pinned counterpart (same kind of traffic, flows pinned after the first period)
NEWFLOW_PAIRS = {
    "syn-new (l2dsr, every SYN new)": "syn flood (l2dsr)",
    "udp-new (l2dsr, every datagram new)": "udp (l2dsr)",
    "join-enc-new (encrypted tokens, every join new)": "join-enc flood (encrypted-token VIP)",
    "join-learned-new (learned tokens, every join new)": "join-learned (learned-token VIP)",
    "est-10x (10240 flows, 1024-entry table)": "est (l2dsr)",
    "join-enc-new, managed AES-NI token kernel": "join-enc flood (encrypted-token VIP)",
}
SMOKE_CASES = CASES + NEWFLOW_CASES
JOIN_COUNTERS = ["joinsSeen", "joinsByEncryptedToken", "joinsByLearnedToken", "joinsUnplaceable", "joinReset", "flowHits",
                 "flowInserts", "flowEvictions", "mptcpMalformedOptions", "tokensLearned", "maglevSteered", "rxPackets",
                 "handshakePinsRefused"]
PREFIX = "load"  # --prefix: DPDK file prefixes tp-PREFIX / sy-PREFIX (a test runs beside a measurement)


def log(msg):
    print(f"load: {msg}", file=sys.stderr, flush=True)


def default_sigint():
    """Popen preexec_fn: SIGINT back to its default action in the child. The harness stops testpmd and the appliance with
    SIGINT; started from a background job of a non-interactive shell (`cmd &`), it inherits SIGINT ignored and so would
    they: each then ran to its backstop, was killed, and left no final counters or stage stamps."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def eal_mem(huge):
    return [] if huge else ["--no-huge", "-m", "1024"]


def worker_cores(n):
    """Forwarding cores for n workers: 1..n, then core 0 (the EAL main lcore's) once n reaches the core count."""
    ncpu = os.cpu_count() or 1
    if n > ncpu:
        raise SystemExit(f"load: {n} workers on a {ncpu}-core machine")
    return list(range(1, n + 1)) if n < ncpu else list(range(1, ncpu)) + [0]


def pcap_vdev(pcap, queues):
    return "net_pcap0," + ",".join(f"rx_pcap={pcap}" for _ in range(queues)) + ",infinite_rx=1"


def run_testpmd(mode, pcap, duration, warmup, huge, logdir, mbufs=MBUFS, workers=1):
    """One testpmd measurement; a run that gave no window (a start-up starved on a loaded machine) is tried once more,
    with the first try's last lines logged, so a 0 in the report means two failed tries, not one bad moment."""
    r = _run_testpmd_once(mode, pcap, duration, warmup, huge, logdir, mbufs, workers)
    if r["mpps"] == 0:
        log(f"testpmd {mode} {os.path.basename(pcap)}: no measurement window (rc {r['rc']}, {r['samples']} samples, "
            f"load average {loadavg()}); trying once more. Its last lines:\n" + "".join(r["tail"]))
        r = _run_testpmd_once(mode, pcap, duration, warmup, huge, logdir, mbufs, workers)
        if r["mpps"] == 0:
            log(f"testpmd {mode} {os.path.basename(pcap)}: no measurement window again. Its last lines:\n" + "".join(r["tail"]))
    return r


def _run_testpmd_once(mode, pcap, duration, warmup, huge, logdir, mbufs, workers):
    if workers == 1:
        cores = ["-l", "0,1"]
        queues = []
    else:
        cores = ["--lcores=" + ",".join(["0@0"] + [f"{k + 1}@{c}" for k, c in enumerate(worker_cores(workers))])]
        queues = [f"--rxq={workers}", f"--txq={workers}"]
    cmd = ["dpdk-testpmd", *cores, "--no-pci", f"--file-prefix=tp-{PREFIX}",
           f"--vdev={pcap_vdev(pcap, workers)}", "--vdev=net_null0,no-rx=1", *eal_mem(huge),
           "--", f"--forward-mode={mode}", f"--nb-cores={workers}", *queues, "--stats-period=1",
           f"--total-num-mbufs={mbufs}", "--auto-start"]
    # Read the periodic stats as they come and stop testpmd (SIGINT, so it prints its totals) once the
    # window is complete: start-up time varies a lot on a loaded machine. STARTUP_LIMIT caps the wait.
    la = loadavg()
    # stdbuf -oL: testpmd's stdout is a pipe here, which stdio would buffer in 4 KiB blocks.
    line_buffered = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []
    p = subprocess.Popen(line_buffered + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                         preexec_fn=default_sigint)
    deadline = time.time() + STARTUP_LIMIT + warmup + duration
    lines, samples, port, stopped = [], [], None, False
    # A testpmd that prints nothing more would block the read below: kill it well after the deadline.
    watchdog = threading.Timer(STARTUP_LIMIT + warmup + duration + 30, p.kill)
    watchdog.start()
    # Periodic blocks: "NIC statistics for port N" ... "Tx-pps: X".
    for line in p.stdout:
        lines.append(line)
        m = re.search(r"NIC statistics for port (\d+)", line)
        if m:
            port = int(m.group(1))
        else:
            m = re.search(r"Tx-pps:\s+(\d+)", line)
            if m and port == 1:
                samples.append(int(m.group(1)))
        first = next((i for i, s in enumerate(samples) if s > 0), None)
        done = first is not None and len(samples) >= first + warmup + duration
        if not stopped and (done or time.time() > deadline):
            p.send_signal(signal.SIGINT)
            stopped = True
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    watchdog.cancel()
    out = "".join(lines)
    with open(os.path.join(logdir, f"testpmd-{mode}-{os.path.basename(pcap)}-{workers}w.log"), "w") as f:
        f.write(" ".join(cmd) + "\n" + out)
    first = next((i for i, s in enumerate(samples) if s > 0), None)
    window = samples[first + warmup:first + warmup + duration] if first is not None else []
    mpps = statistics.mean(window) / 1e6 if window else 0.0
    tot = re.search(r"Accumulated forward statistics.*?TX-packets:\s+(\d+)", out, re.S)
    return {"mpps": mpps, "samples": len(window), "total_tx": int(tot.group(1)) if tot else 0, "loadavg": la,
            "rc": rc, "tail": lines[-15:]}


def worker_args(workers):
    """Configuration overrides for n workers, worker k polling queue k of "in" and of "out"."""
    if workers == 1:
        return []
    args = [f"--Ports:0:RxQueues={workers}", f"--Ports:1:RxQueues={workers}"]
    for k, core in enumerate(worker_cores(workers)):
        args += [f"--Workers:{k}:Core={core}", f"--Workers:{k}:Queues:0:Port=in", f"--Workers:{k}:Queues:0:Queue={k}",
                 f"--Workers:{k}:Queues:1:Port=out", f"--Workers:{k}:Queues:1:Queue={k}"]
    return args


def run_switchyard(pcap, extra, duration, warmup, huge, logdir, tag, profile=None, mbufs=MBUFS, workers=1, dll=None):
    """One appliance measurement; a run without a window is tried once more (see run_testpmd)."""
    r = _run_switchyard_once(pcap, extra, duration, warmup, huge, logdir, tag, profile, mbufs, workers, dll)
    if r["mpps"] == 0 and not profile:
        log(f"switchyard {tag}: trying once more (load average {loadavg()})")
        r = _run_switchyard_once(pcap, extra, duration, warmup, huge, logdir, tag, profile, mbufs, workers, dll)
    return r


def _run_switchyard_once(pcap, extra, duration, warmup, huge, logdir, tag, profile, mbufs, workers, dll):
    counters = os.path.join(logdir, f"counters-{tag}.json")
    if os.path.exists(counters):
        os.remove(counters)
    # "env:NAME=VALUE" items of extra set the appliance's environment instead of a configuration key.
    envs = dict(e[4:].split("=", 1) for e in extra if e.startswith("env:"))
    extra = [e for e in extra if not e.startswith("env:")]
    cmd = ["dotnet", dll or SWITCHYARD, "--config", CONFIG,
           f"--Eal:Vdevs:0={pcap_vdev(pcap, workers)}", f"--Eal:FilePrefix=sy-{PREFIX}", *worker_args(workers),
           f"--Eal:Hugepages={'require' if huge else 'off'}",
           f"--Dataplane:MempoolMbufs={mbufs}",
           f"--Run:DurationSeconds={warmup + duration + 60}",  # a backstop; the harness stops it with SIGINT
           f"--Run:CountersFile={counters}", "--Run:CountersIntervalSeconds=1", *extra]
    env = dict(os.environ)
    env.update(envs)
    if profile:
        env["DOTNET_PerfMapEnabled"] = "1"  # JIT symbol map for perf
        env["DOTNET_EnableWriteXorExecute"] = "0"  # else JIT code shows up as memfd:doublemapper, unresolved
    la = loadavg()
    out_path = os.path.join(logdir, f"switchyard-{tag}.out")
    err_path = os.path.join(logdir, f"switchyard-{tag}.err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, preexec_fn=default_sigint)
        snaps, start, end, perf = [], None, None, None
        deadline = time.time() + warmup + duration + 90
        last_uptime = -1.0
        while time.time() < deadline and p.poll() is None:
            time.sleep(0.1)
            try:
                with open(counters) as f:
                    d = json.load(f)
            except (OSError, ValueError):
                continue
            if d["uptimeSeconds"] == last_uptime:
                continue
            last_uptime = d["uptimeSeconds"]
            t = d["totals"]
            snap = (d["uptimeSeconds"], t["forwarded"] + t.get("joinReset", 0), t["rxPackets"],
                    {k: t.get(k, 0) for k in JOIN_COUNTERS})
            snaps.append(snap)
            first = next((s for s in snaps if s[2] > 0), None)
            if first is None:
                continue
            if start is None and snap[0] >= first[0] + warmup:
                start = snap
                if profile:
                    perf = subprocess.Popen(["perf", "record", "-C", "1", "-e", "cpu-clock", "-F", "999", "-g",
                                             "-o", profile, "--", "sleep", str(duration)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            elif start is not None and snap[0] >= start[0] + duration:
                end = snap
                break
        if perf:
            perf.wait()
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
    final = {}
    try:
        with open(out_path) as f:
            final = json.loads(f.read())
    except (OSError, ValueError):
        pass
    if start is None or end is None:
        try:
            with open(err_path) as f:
                tail = f.readlines()[-10:]
        except OSError:
            tail = []
        log(f"switchyard {tag}: no measurement window (rc {rc}, {len(snaps)} counter snapshots); see {err_path}; "
            "its last lines:\n" + "".join(tail))
        return {"mpps": 0.0, "rx_mpps": 0.0, "loadavg": la, "rc": rc, "drops": {}, "final": final}
    dt = end[0] - start[0]
    drops = {k: v for k, v in final.get("totals", {}).get("drops", {}).items() if v}
    window = {k: end[3][k] - start[3][k] for k in JOIN_COUNTERS}
    return {"mpps": (end[1] - start[1]) / dt / 1e6, "rx_mpps": (end[2] - start[2]) / dt / 1e6, "window_s": dt,
            "window": window,
            "loadavg": la, "rc": rc, "drops": drops,
            "totals": {k: v for k, v in final.get("totals", {}).items() if k != "drops"}}


def cpu_ghz():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1e3
    return 0.0


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode().strip()
    except OSError:
        return "?"


def machine(huge):
    """Machine details for the report (uptime: this machine may be shared; see the load averages per run)."""
    model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    return {
        "CPU": f"{model}, {os.cpu_count()} cores, {cpu_ghz():.3f} GHz (/proc/cpuinfo)",
        "Kernel": platform.release(),
        "DPDK": sh("dpkg-query -W -f='${Version}' dpdk"),
        ".NET": f"SDK {sh('dotnet --version')}, " + sh("dotnet --list-runtimes | grep NETCore.App | tail -1"),
        "Hugepages": "yes, 2 MiB pages" if huge else "NO (--no-huge, 4 KiB pages: about half the throughput)",
        "Load average at start": loadavg(),
        "uptime at start": sh("uptime"),
    }


def fmt(x, nd=2):
    return f"{x:.{nd}f}" if x else "0 (FAILED)"


BUDGET_CASES = [  # (row, pcap, extra): the appliance's mixes, then the floor on the est pcap
    ("est (l2dsr)", "est", []),
    ("est (ipip)", "est", ["--Vips:0:Pool=ipip"]),
    ("syn flood (l2dsr)", "syn", []),
    ("floor: forward-only (est pcap)", "est", ["--Run:ForwardOnly=true"]),
]
BUDGET_STAGES = ["receive", "handler", "transmit", "parse", "vipLookup", "flowLookup", "maglev", "token", "steer",
                 "rewrite", "steerAndForward"]


def stage_budget(a, huge, logdir, tp):
    """--stages: one run per BUDGET_CASES row with Run:StageStampsFile; the per-stage table (TSC cycles/packet)."""
    results = []
    # --smoke: the appliance's est and the floor only (short form).
    for name, mix, extra in ([BUDGET_CASES[0], BUDGET_CASES[-1]] if a.smoke else BUDGET_CASES):
        pcap = os.path.join(a.pcaps, mix + ".pcap")
        if not os.path.exists(pcap):
            continue
        stamps = os.path.join(logdir, "stages-" + re.sub(r"[^a-z0-9]+", "-", name).strip("-") + ".json")
        log(f"stage budget: {name}")
        sy = run_switchyard(pcap, extra + [f"--Run:StageStampsFile={stamps}"], a.duration, a.warmup, huge, logdir,
                            "stages-" + re.sub(r"[^a-z0-9]+", "-", name).strip("-"), mbufs=a.mbufs)
        try:
            with open(stamps) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            log(f"FAILED: stage budget {name}: no stamps file {stamps}")
            continue
        w = doc["workers"][0] if doc.get("workers") else None
        if not w or not w["packets"]:
            log(f"FAILED: stage budget {name}: no stamped packets")
            continue
        results.append((name, mix, sy, doc, w))
    if not results:
        return []
    used = [s for s in BUDGET_STAGES if any(s in w["cyclesPerPacket"] for *_, w in results)]
    table = ["| run | Mpps (stamped run) | " + " | ".join(used) + " | sum (TSC cycles/pkt) | ns/pkt | stamped bursts (packets) "
             "| testpmd macswap TSC cycles/pkt |", "|" + "---|" * (len(used) + 6)]
    for name, mix, sy, doc, w in results:
        c = w["cyclesPerPacket"]
        total = sum(c.get(s, 0) for s in ("receive", "handler", "transmit"))
        ms = tp.get(mix, (None, None))[1]
        table.append("| " + " | ".join([name, fmt(sy["mpps"])] + [f"{c[s]:.1f}" if s in c else "-" for s in used] + [
            f"{total:.1f}", f"{total / doc['tscHz'] * 1e9:.1f}", f"{w['samples']} ({w['packets']})",
            f"{doc['tscHz'] / (ms['mpps'] * 1e6):.0f}" if ms and ms["mpps"] else "-"]) + " |")
    table.append("")
    table.append(f"TSC: {results[0][3]['tscHz'] / 1e9:.3f} GHz (measured against CLOCK_MONOTONIC at exit).")
    return table


def baseline_cells(runs, ms):
    if not runs:
        return ["-", "-"]
    b = sorted(runs, key=lambda r: r["mpps"])[len(runs) // 2]
    return [fmt(b["mpps"]), f"{b['mpps'] / ms['mpps']:.3f}" if ms["mpps"] else "-"]


def newflow_report(rows):
    """The new-flow table, and whether every new-flow row really took the new-flow path (>= 90 % misses)."""
    by = {name: sy for name, sy, _, _ in rows}
    table, ok = [], True
    for name, sy, io, ms in rows:
        if name not in NEWFLOW_PAIRS:
            continue
        if not table:
            table = ["| mix | switchyard Mpps | ratio sy/macswap | new flows/s (M) | misses/pkt | evictions/s (M) "
                     "| pinned counterpart | its Mpps | new/pinned |", "|" + "---|" * 9]
        w, dt = sy.get("window"), sy.get("window_s", 0)
        if not w or not dt:
            table.append(f"| {name} | {fmt(sy['mpps'])} | - | - | - | - | - | - | - |")
            ok = False
            continue
        rx = max(1, w["rxPackets"])
        # A SYN or join whose pin the table refused (its bucket full of entries that outlive a handshake pin) took the
        # new-flow path too: steered anew, not pinned. Builds before 2026-12-07 have no such counter.
        refused = w.get("handshakePinsRefused", 0)
        misses = (w["flowInserts"] + w["maglevSteered"] + refused) / rx
        pinned_name = NEWFLOW_PAIRS[name]
        pin = by.get(pinned_name)
        table.append("| " + " | ".join([
            name, fmt(sy["mpps"]), f"{sy['mpps'] / ms['mpps']:.3f}" if ms["mpps"] else "-",
            f"{(w['flowInserts'] + refused) / dt / 1e6:.2f}", f"{misses:.2f}", f"{w['flowEvictions'] / dt / 1e6:.2f}",
            pinned_name if pin else "(not in this run)", fmt(pin["mpps"]) if pin else "-",
            f"{sy['mpps'] / pin['mpps']:.2f}" if pin and pin["mpps"] else "-"]) + " |")
        # est-10x: 10240 flows over the 1024-entry table: at most the table's share of them can hit (the flows pinned
        # first keep their entries: a SYN's pin never evicts a longer-lived one); the others' SYNs are refused or
        # inserted, their ACKs steered by Maglev. The other mixes: every packet new.
        # join-learned-new: a sixteenth of its frames are its connections' third ACKs, which hit their SYN's pin, and a
        # replayed period finds up to the table's 1024 of its 16384 5-tuples still pinned: about 0.88-0.94.
        least = (1 - 1024 / 10240 - 0.02 if name.startswith("est-10x")
                 else 0.8 if name.startswith("join-learned-new") else 0.9)
        if misses < least:
            log(f"FAILED: {name}: only {misses:.2f} of the window's packets missed the flow table "
                f"(flowInserts {w['flowInserts']}, handshakePinsRefused {refused}, maglevSteered {w['maglevSteered']}, rxPackets {w['rxPackets']})")
            ok = False
    return table, ok


def median_testpmd(pairs):
    """The median io run and the median macswap run of a mix's testpmd runs (each with all_mpps: every run's figure)."""
    out = []
    for k in (0, 1):
        rs = sorted((p[k] for p in pairs), key=lambda r: r["mpps"])
        m = dict(rs[len(rs) // 2])
        m["all_mpps"] = [p[k]["mpps"] for p in pairs]
        out.append(m)
    return tuple(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcaps", required=True)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--huge", type=int, default=1)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--profile", action="store_true", help="perf record the switchyard est run's window")
    ap.add_argument("--results", help="markdown file to write")
    ap.add_argument("--mixgen", default="")
    ap.add_argument("--joins", action="store_true", help="the MPTCP join cases (JOIN_CASES) instead of CASES")
    ap.add_argument("--newflows", action="store_true", help="the new-flow cases (NEWFLOW_PINNED + NEWFLOW_CASES)")
    ap.add_argument("--stages", action="store_true", help="also the per-stage cycle budget and the rx->tx floor")
    ap.add_argument("--mbufs", type=int, default=MBUFS, help="mbufs for testpmd and Switchyard alike")
    ap.add_argument("--repeat", type=int, default=1, help="Switchyard runs per case (median reported)")
    ap.add_argument("--workers", type=int, default=0, help="also measure est and syn with 1..N forwarding cores")
    ap.add_argument("--scaling-only", action="store_true", help="only the --workers table")
    ap.add_argument("--prefix", default="load", help="DPDK file prefix suffix (tp-PREFIX, sy-PREFIX)")
    ap.add_argument("--switchyard", help="switchyard.dll to run (default: the Release build)")
    ap.add_argument("--only", help="only the cases of these mixes (comma-separated)")
    ap.add_argument("--baseline", help="another switchyard.dll (the build before a change): every case also runs it, "
                                       "right after the current one, against the same testpmd figures")
    a = ap.parse_args()
    global PREFIX, SWITCHYARD
    PREFIX = a.prefix
    SWITCHYARD = a.switchyard or SWITCHYARD
    logdir = os.path.join(a.pcaps, "logs")
    os.makedirs(logdir, exist_ok=True)
    huge = bool(a.huge)
    cases = [] if a.scaling_only else SMOKE_CASES if a.smoke else JOIN_CASES if a.joins else \
        NEWFLOW_PINNED + NEWFLOW_CASES + NEWFLOW_AB if a.newflows else CASES
    if a.only:
        cases = [c for c in cases if c[1] in a.only.split(",")]
    ghz = cpu_ghz()
    info = machine(huge)

    tp = {}
    runs = {name: [] for name, _, _ in cases}
    baseline_runs = {}
    # --repeat N: N rounds over all cases (order reversed every other round), each row's figure is the
    # median of its N Switchyard runs: on a shared machine, load drifts over minutes, and interleaving
    # spreads that drift over every row instead of favouring the rows that happened to run in a lull.
    # testpmd too runs once per mix in every round, and its median is the row's denominator: on these shared machines
    # one testpmd window moved by 25 % between sittings, and a single one made every ratio of its mix move with it.
    tp_runs = {}
    for rnd in range(a.repeat):
        for name, mix, extra in (cases if rnd % 2 == 0 else cases[::-1]):
            pcap = os.path.join(a.pcaps, mix + ".pcap")
            if len(tp_runs.get(mix, [])) <= rnd:
                log(f"{mix}: testpmd io" + (f" (round {rnd + 1}/{a.repeat})" if a.repeat > 1 else ""))
                io = run_testpmd("io", pcap, a.duration, a.warmup, huge, logdir, a.mbufs)
                log(f"{mix}: testpmd macswap")
                ms = run_testpmd("macswap", pcap, a.duration, a.warmup, huge, logdir, a.mbufs)
                tp_runs.setdefault(mix, []).append((io, ms))
                tp[mix] = median_testpmd(tp_runs[mix])
            io, ms = tp_runs[mix][-1]
            tag = re.sub(r"[^a-z0-9]+", "-", name).strip("-") + (f"-{rnd}" if a.repeat > 1 else "")
            log(f"{name}: switchyard" + (f" (round {rnd + 1}/{a.repeat})" if a.repeat > 1 else ""))
            sy = run_switchyard(pcap, extra, a.duration, a.warmup, huge, logdir, tag, mbufs=a.mbufs)
            runs[name].append(sy)
            log(f"{name}: switchyard {sy['mpps']:.2f} Mpps, testpmd io {io['mpps']:.2f}, macswap {ms['mpps']:.2f}"
                f" (load average {sy['loadavg']})")
            if a.baseline:
                base = run_switchyard(pcap, extra, a.duration, a.warmup, huge, logdir, tag + "-baseline", mbufs=a.mbufs,
                                      dll=a.baseline)
                baseline_runs.setdefault(name, []).append(base)
                log(f"{name}: baseline {base['mpps']:.2f} Mpps (load average {base['loadavg']})")
    rows = []
    for name, mix, _ in cases:
        rs = sorted(runs[name], key=lambda r: r["mpps"])
        sy = dict(rs[len(rs) // 2])
        sy["all_mpps"] = [r["mpps"] for r in runs[name]]
        rows.append((name, sy, *tp[mix]))

    budget_table = stage_budget(a, huge, logdir, tp) if a.stages else []
    if budget_table:
        print("\n".join(budget_table))

    profile_txt = ""
    if a.profile and not a.smoke:
        data = os.path.join(logdir, "perf.data")
        log("profile: switchyard est (l2dsr) under perf record -C 1")
        run_switchyard(os.path.join(a.pcaps, "est.pcap"), [], a.duration, a.warmup, huge, logdir, "profile", data)
        profile_txt = sh(f"perf report -i {data} --no-children -g none --sort comm,dso --stdio 2>/dev/null | grep -v '^#' "
                         f"| grep '%' | head -12") + "\n\n" + \
            sh(f"perf report -i {data} --no-children -g none --sort sym --stdio 2>/dev/null | grep -v '^#' "
               f"| grep '%' | head -25")

    # --workers N: the scaling table (same pcaps, n forwarding cores for every tool).
    scale_rows = []
    frames = {}
    pcaps_index = os.path.join(a.pcaps, "mixes.txt")
    if os.path.exists(pcaps_index):
        with open(pcaps_index) as f:
            frames = {ln.split()[0]: int(ln.split()[1]) for ln in f if ln.strip()}
    for n in range(1, a.workers + 1):
        for name, mix in SCALE_MIXES:
            pcap = os.path.join(a.pcaps, mix + ".pcap")
            # net_pcap copies the mix into mbufs once per receive queue.
            mb = max(a.mbufs, n * frames.get(mix, 0) + 16384)
            log(f"scaling {name}, {n} worker(s) on cores {worker_cores(n)}: testpmd io, macswap, switchyard")
            io = run_testpmd("io", pcap, a.duration, a.warmup, huge, logdir, mb, n)
            ms = run_testpmd("macswap", pcap, a.duration, a.warmup, huge, logdir, mb, n)
            tag = f"scale-{mix}-{n}w"
            sy = run_switchyard(pcap, [], a.duration, a.warmup, huge, logdir, tag, mbufs=mb, workers=n)
            log(f"scaling {name}, {n} worker(s): switchyard {sy['mpps']:.2f} Mpps, testpmd io {io['mpps']:.2f}, "
                f"macswap {ms['mpps']:.2f} (load average {sy['loadavg']})")
            scale_rows.append((name, n, sy, io, ms))
    scale_table = []
    if scale_rows:
        base = {name: sy["mpps"] for name, n, sy, _, _ in scale_rows if n == 1}
        scale_table = ["| mix | workers (cores) | switchyard Mpps | speed-up vs 1 worker | testpmd io Mpps | testpmd macswap Mpps "
                       "| ratio sy/macswap | load average before sy |", "|" + "---|" * 8]
        for name, n, sy, io, ms in scale_rows:
            scale_table.append("| " + " | ".join([
                name, f"{n} ({','.join(map(str, worker_cores(n)))})", fmt(sy["mpps"]),
                f"{sy['mpps'] / base[name]:.2f}" if base.get(name) else "-", fmt(io["mpps"]), fmt(ms["mpps"]),
                f"{sy['mpps'] / ms['mpps']:.3f}" if ms["mpps"] else "-", sy["loadavg"]]) + " |")
        print("\n".join(scale_table))

    med = f" (median of {a.repeat})" if a.repeat > 1 else ""
    head = ["mix", "switchyard Mpps" + med, "testpmd io Mpps" + med, "testpmd macswap Mpps" + med,
            "ratio sy/io", "ratio sy/macswap", "cycles/pkt sy", "cycles/pkt io", "cycles/pkt macswap"]
    if a.baseline:
        head += ["baseline Mpps", "baseline ratio sy/macswap"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, sy, io, ms in rows:
        ratio = sy["mpps"] / ms["mpps"] if ms["mpps"] else 0.0
        ratio_io = sy["mpps"] / io["mpps"] if io["mpps"] else 0.0
        table.append("| " + " | ".join([
            name, fmt(sy["mpps"]), fmt(io["mpps"]), fmt(ms["mpps"]), f"{ratio_io:.3f}", f"{ratio:.3f}",
            f"{ghz * 1e3 / sy['mpps']:.0f}" if sy["mpps"] else "-",
            f"{ghz * 1e3 / io['mpps']:.0f}" if io["mpps"] else "-",
            f"{ghz * 1e3 / ms['mpps']:.0f}" if ms["mpps"] else "-"] + (baseline_cells(baseline_runs.get(name), ms) if a.baseline else [])) + " |")
    if rows:
        print("\n".join(table))

    ok = all(sy["mpps"] > 0 and io["mpps"] > 0 and ms["mpps"] > 0 for _, sy, io, ms in rows)
    ok = ok and all(sy["mpps"] > 0 and io["mpps"] > 0 and ms["mpps"] > 0 for _, _, sy, io, ms in scale_rows)
    # Join rows: the split of the window's joins, and a sanity check (every join-enc join is placeable).
    join_txt = []
    for name, sy, _, _ in rows:
        w = sy.get("window")
        if not w or not w["joinsSeen"] and "join" not in name:
            continue
        seen = max(1, w["joinsSeen"])
        join_txt.append(f"- {name}: in the window {w['joinsSeen']} joins steered (not pinned), "
                        f"{w['joinsByEncryptedToken']} placed by encrypted token ({100 * w['joinsByEncryptedToken'] / seen:.2f} %), "
                        f"{w['joinsByLearnedToken']} by learned token ({100 * w['joinsByLearnedToken'] / seen:.2f} %), "
                        f"{w['joinsUnplaceable']} unplaceable ({100 * w['joinsUnplaceable'] / seen:.2f} %), {w['joinReset']} RSTs sent; "
                        f"flowHits {w['flowHits']}, flowInserts {w['flowInserts']}, flowEvictions {w['flowEvictions']}, "
                        f"mptcpMalformedOptions {w['mptcpMalformedOptions']}, tokensLearned {w['tokensLearned']}")
        totals = sy.get("totals", {})
        if "join-enc" in name and (totals.get("joinsUnplaceable", 0) or not totals.get("joinsByEncryptedToken", 0)):
            log(f"FAILED: {name}: joinsByEncryptedToken {totals.get('joinsByEncryptedToken')}, "
                f"joinsUnplaceable {totals.get('joinsUnplaceable')} (every minted join must be placed)")
            ok = False
        if "join-learned" in name and (totals.get("joinsUnplaceable", 0) or not totals.get("joinsByLearnedToken", 0)
                                       or not totals.get("tokensLearned", 0)):
            log(f"FAILED: {name}: tokensLearned {totals.get('tokensLearned')}, joinsByLearnedToken "
                f"{totals.get('joinsByLearnedToken')}, joinsUnplaceable {totals.get('joinsUnplaceable')} "
                f"(every join carries a token learned from the pcap's MP_CAPABLE third ACKs)")
            ok = False
    newflow_table, newflow_ok = newflow_report(rows)
    ok = ok and newflow_ok
    if newflow_table:
        print("\n".join(newflow_table))
    if join_txt:
        print("\n".join(join_txt))
    by = {name: sy["mpps"] for name, sy, _, _ in rows}
    pairs = [("join-enc, join-aware VIP", "syn-ts flood (66 B), join-aware VIP"),
             ("join-enc, join-aware VIP", "syn flood, join-aware VIP"),
             ("join-enc, join-aware VIP", "syn flood, MPTCP-unaware VIP"),
             ("join-enc, join-aware VIP, flow table 1024", "syn-ts flood (66 B), join-aware VIP, flow table 1024"),
             ("join-enc, join-aware VIP, flow table 1024", "syn flood, join-aware VIP, flow table 1024"),
             ("join-enc, join-aware VIP, flow table 1024", "syn flood, MPTCP-unaware VIP"),
             ("join-rand (mostly RST), join-aware VIP", "syn-ts flood (66 B), join-aware VIP")]
    ratio_txt = [f"- {a_} / {b_}: {by[a_] / by[b_]:.3f}" for a_, b_ in pairs if by.get(a_) and by.get(b_)]
    if ratio_txt:
        print("\n".join(ratio_txt))
    if a.results:
        with open(a.results, "w") as f:
            f.write(f"# {'Join steering load' if a.joins else 'New-flow load' if a.newflows else 'Load'} run {datetime.date.today().isoformat()}"
                    f"{' (SMOKE: a functional check, not a measurement)' if a.smoke else ''}\n\n")
            f.write(f"`perf/load/run.sh{' --smoke' if a.smoke else ''}{' --joins' if a.joins else ''}"
                    f"{f' --workers {a.workers}' if a.workers else ''}`: {a.duration} s "
                    f"measured window after {a.warmup} s warm-up per run; mixes from `perf/load/mixgen.py {a.mixgen}`; "
                    f"{a.mbufs} mbufs for every tool.\n\n")
            if a.baseline:
                f.write(f"Baseline (\"before\"): `{a.baseline}`, run right after the current build in every case, "
                        f"against the same testpmd figures; current (\"after\"): `{SWITCHYARD}`.\n\n")
            f.write("## Machine\n\n")
            for k, v in info.items():
                f.write(f"- {k}: {v}\n")
            if rows:
                f.write("\n## Throughput (one forwarding core, core 1)\n\n")
                f.write("\n".join(table) + "\n\n")
            else:
                f.write("\n")
            if scale_table:
                f.write(f"## Scaling: 1..{a.workers} forwarding cores (--workers {a.workers})\n\n")
                f.write("Every tool gets n receive queues on the pcap device (each replaying the whole mix) and n on "
                        "the sink; worker k polls queue k of both; cores as listed (core 0 is also the EAL main "
                        f"lcore's and the management thread's). This machine has {os.cpu_count()} cores: nothing "
                        "beyond that could be measured here.\n\n")
                f.write("\n".join(scale_table) + "\n\n")
            if budget_table:
                f.write("## Cycle budget per stage (sampled TSC stamps in the running appliance, --stages)\n\n")
                f.write("One non-empty burst in 64 is stamped with rdtsc between the worker loop's stages (receive = the "
                        "rx call and the loop's rx bookkeeping; handler = the whole packet path; transmit = routing to "
                        "tx buffers, the tx call, freeing drops; inside the handler: parse = the first pass (parse, VIP, flow hash), "
                        "token = the burst's batch decryption, steer = the steering pass, rewrite = the forwarding bodies; runs of builds before 2026-12-07 stamp steering and forwarding together as steerAndForward). TSC cycles per packet: the median over the stamped bursts "
                        "(robust to the bursts a preemption landed in; the JSON also has the means); the "
                        "TSC ticks at a constant rate (tscHz), not the core clock. \"floor\" = the same process, ports "
                        "and loop with Run:ForwardOnly (a MAC swap, like testpmd macswap) in place of the packet path.\n\n")
                f.write("\n".join(budget_table) + "\n\n")
            if newflow_table:
                f.write("## New flows at rate (every packet a distinct 5-tuple the table no longer holds)\n\n")
                f.write("Counter deltas over the measured window. \"new flows/s\" = (flowInserts + handshakePinsRefused) per "
                        "second on the one worker core (steered anew; pinned, or not where the bucket held only entries that "
                        "outlive a handshake pin); \"misses/pkt\" = (flowInserts + handshakePinsRefused + maglevSteered) / rxPackets, "
                        "1.00 when every packet took the new-flow path; \"pinned\" = the same kind of traffic with the "
                        "default 1M-entry table, where after the first period every packet is a flow-table hit.\n\n")
                f.write("\n".join(newflow_table) + "\n\n")
            if ratio_txt:
                f.write("Switchyard's ratios between rows (same run):\n\n" + "\n".join(ratio_txt) + "\n\n")
            if join_txt:
                f.write("## Joins in each measured window (counter deltas)\n\n" + "\n".join(join_txt) + "\n\n")
            f.write("## Per run details\n\n")
            for name, sy, io, ms in rows:
                if len(sy["all_mpps"]) > 1:
                    f.write(f"- {name}: switchyard runs, in order: {', '.join(f'{x:.2f}' for x in sy['all_mpps'])} Mpps; "
                            f"testpmd io {', '.join(f'{x:.2f}' for x in io.get('all_mpps', [io['mpps']]))}; "
                            f"macswap {', '.join(f'{x:.2f}' for x in ms.get('all_mpps', [ms['mpps']]))}; median runs:\n")
                f.write(f"- {name}: switchyard rx {sy.get('rx_mpps', 0):.2f} Mpps, window {sy.get('window_s', 0):.3f} s, "
                        f"drops {sy['drops'] or 'none'}, load average before: switchyard {sy['loadavg']}, "
                        f"testpmd io {io['loadavg']}, macswap {ms['loadavg']}\n")
                if "totals" in sy:
                    t = sy["totals"]
                    f.write(f"  - totals: flowHits {t.get('flowHits')}, flowInserts {t.get('flowInserts')}, "
                            f"flowEvictions {t.get('flowEvictions')}, maglevSteered {t.get('maglevSteered')}, "
                            f"bursts {t.get('bursts')} (mean burst {t.get('rxPackets', 0) / max(1, t.get('bursts', 1)):.1f})\n")
                    if "join" in name:
                        f.write(f"  - joins (whole run): joinsSeen {t.get('joinsSeen')}, joinsByEncryptedToken "
                                f"{t.get('joinsByEncryptedToken')}, joinsByLearnedToken {t.get('joinsByLearnedToken')}, "
                                f"tokensLearned {t.get('tokensLearned')}, joinsUnplaceable {t.get('joinsUnplaceable')}\n")
            if profile_txt:
                f.write("\n## Where the worker core's time goes (perf record -C 1, est l2dsr, cpu-clock)\n\n```\n")
                f.write(profile_txt + "\n```\n")
        log(f"wrote {a.results}")
    if not ok:
        log("FAILED: a run measured 0 Mpps, or a new-flow mix hit the flow table (see above; logs in the work directory)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
