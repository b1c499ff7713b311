#!/bin/bash
# pktgen-dpdk against the RUNNING appliance on one machine without a NIC: two net_memif pairs.
#   pktgen port 0 ──memif──► appliance "in"  (client side)
#   pktgen port 1 ◄──memif── appliance "out" (L2 DSR: every backend sits behind it)
# The appliance (or, for the ratio, dpdk-testpmd io on the same memif path) is the memif server and
# starts first; pktgen (built by `./build.sh pktgen`) connects as client and runs perf/pktgen/suite.lua,
# which runs the mix scripts (est.lua, udp.lua, tcp6.lua; pcap.lua for mixgen's syn, imix, join-enc,
# join-learned pcaps; flood.lua) in one pktgen start, then quits.
#
#   perf/pktgen/run.sh [--smoke] [--mixes L] [--targets L] [--latency] [--flood] [--trial-seconds S]
#                      [--steps N] [--report FILE] [--work DIR] [--prefix TAG] [--switchyard DLL] [--no-build]
#   (default)  zero-loss throughput per mix (binary search of the offered rate, loss <= 0.001 %) through
#              testpmd io and the appliance (--targets testpmd,switchyard); mixes est,udp,tcp6,syn,imix,
#              join-enc,join-learned. Writes the report to --report FILE (default perf/results/<date>-pktgen.md).
#   --latency  also pktgen's latency packets at 10/50/90 % of each zero-loss rate.
#   --flood    also the unique-flow floods (flood.lua) while established streams run, on the smallest flow table
#              (1024 entries), each without and with Dataplane.FloodGuardNewFlowsPerSecond: a SYN flood of new
#              5-tuples at 10x the table (range mode), and an MP_JOIN flood (pcap): joins from new 5-tuples, each
#              with its own encrypted token minted for the flood pool, then MPTCP connections and joins
#              carrying their learned tokens (10x the table of each).
#   --smoke    functional: every mix, a few thousand packets each, one pktgen start against the appliance
#              (range mixes, then one pcap holding syn, imix, join-enc and join-learned; after each mix a latency
#              phase, SY_LATENCY=1 in count mode); writes the results
#              and the appliance's counters per mix under --work DIR (kept) and judges nothing (the test does).
#   --mixes L  only these mixes (none: only --flood).   --targets L  switchyard and/or testpmd.
# Environment: FLOOD_GUARD (the guard's new flows per second, default 300), SY_EST_FLOWS (flood.lua's
# established flows, 256), SY_JOIN_FLOWS (distinct joins of each kind in the join flood's pcap, 10240),
# SY_JOIN_PASSES (loops of it, 5), MEMIF_RSIZE (log2 of the memif ring slots, 12), SY_* (perf/pktgen/sy_common.lua).
# Needs root, dpdk-testpmd, python3 (mixgen), dotnet. Cleans up its DPDK runtime directories and sockets.
set -euo pipefail
argv=("$@")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
load="$root/perf/load"
. "$root/perf/lib/require.sh"
require_tools dpdk-testpmd:dpdk python3:python3

smoke=0 mixes= targets=testpmd,switchyard latency=0 flood=0 trial=2 steps=7 report= work= prefix=pg$$ build=1
sydll="$root/src/Management/bin/Release/net10.0/switchyard.dll"
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --mixes) mixes=$2; shift ;;
    --targets) targets=$2; shift ;;
    --latency) latency=1 ;;
    --flood) flood=1 ;;
    --trial-seconds) trial=$2; shift ;;
    --steps) steps=$2; shift ;;
    --report) report=$2; shift ;;
    --work) work=$2; shift ;;
    --prefix) prefix=$2; shift ;;
    --switchyard) sydll=$2; shift ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -z "$mixes" ] && mixes=est,udp,tcp6,syn,imix,join-enc,join-learned
[ "$mixes" = none ] && mixes=
[ "$smoke" = 1 ] && targets=switchyard
pktgen="$root/artifacts/pktgen/pktgen"
if [ ! -x "$pktgen" ] || [ "$build" = 1 ]; then "$root/build.sh" pktgen; fi
if [ "$build" = 1 ]; then
  make -C "$root/native" -s
  dotnet build "$root/src/Management/Switchyard.Management.csproj" -c Release -nologo -v:q
fi
[ -f "$load/JoinGen/bin/Release/net10.0/joingen.dll" ] || dotnet build "$load/JoinGen/JoinGen.csproj" -c Release -nologo -v:q
command -v dpdk-testpmd >/dev/null || { echo "run.sh: dpdk-testpmd not found" >&2; exit 1; }

keep=0
if [ -n "$work" ]; then mkdir -p "$work"; keep=1; else work=$(mktemp -d /tmp/pg-run.XXXXXX); fi
work=$(cd "$work" && pwd)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  rm -rf /var/run/dpdk/"$prefix"-* 2>/dev/null || true
  rm -f "$work"/*.sock
  [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
field() { sed -n "s/\(^\|.* \)$1=\([^ ]*\).*/\2/p" | head -1; }  # field KEY < "k=v k=v ...": the value of KEY

# ---- traffic: mixgen pcaps for the mixes pktgen cannot make in range mode -------------------------
flows=1024 rounds=4
[ "$smoke" = 1 ] && { flows=64; rounds=4; }
pcapmixes=
for m in syn imix join-enc join-learned; do [[ ",$mixes," == *,$m,* ]] && pcapmixes="$pcapmixes,$m"; done
pcapmixes=${pcapmixes#,}
if [ -n "$pcapmixes" ]; then
  dotnet "$load/JoinGen/bin/Release/net10.0/joingen.dll" "$here/switchyard.json" dsr $((flows * rounds)) > "$work/join-tokens.txt"
  python3 "$load/mixgen.py" "$work" --flows "$flows" --rounds "$rounds" --mixes "$pcapmixes" \
    --join-tokens "$work/join-tokens.txt" >/dev/null
fi
frames() { python3 -c "import sys; d=open(sys.argv[1],'rb').read(); n=o=0; o=24
while o < len(d): l=int.from_bytes(d[o+8:o+12],'little'); o+=16+l; n+=1
print(n)" "$1"; }
# The join flood's pcap (--flood): SY_JOIN_FLOWS MP_JOIN SYNs from distinct 5-tuples to flood4 with tokens
# minted for the flood pool, then mixgen's join-learned-new (connections, then joins with their learned
# tokens); join-flood.txt: what one loop of it holds, counted from the frames' MPTCP options.
if [ "$flood" = 1 ] && [[ ",$targets," == *,switchyard,* ]]; then
  jn=${SY_JOIN_FLOWS:-10240}
  mkdir -p "$work/join-flood"
  dotnet "$load/JoinGen/bin/Release/net10.0/joingen.dll" "$here/switchyard.json" flood "$jn" > "$work/join-flood/tokens.txt"
  python3 "$load/mixgen.py" "$work/join-flood" --mixes join-enc-new,join-learned-new --new-flows "$jn" \
    --join-tokens "$work/join-flood/tokens.txt" --vip 198.18.0.101 >/dev/null
  python3 - "$work/join-flood.pcap" "$work/join-flood/join-enc-new.pcap" "$work/join-flood/join-learned-new.pcap" > "$work/join-flood.txt" <<'PY'
import sys
out = open(sys.argv[1], "wb")
n = {"frames": 0, "enc_joins": 0, "learned_joins": 0, "capable": 0, "other": 0}
for i, p in enumerate(sys.argv[2:]):
    d = open(p, "rb").read()
    out.write(d if i == 0 else d[24:])
    o = 24
    while o < len(d):
        l = int.from_bytes(d[o + 8:o + 12], "little"); f = d[o + 16:o + 16 + l]; o += 16 + l
        n["frames"] += 1
        t = 14 + (f[14] & 15) * 4; opts = f[t + 20:t + (f[t + 12] >> 4) * 4]
        j, sub = 0, None
        while j < len(opts):
            if opts[j] in (0, 1): j += 1; continue
            if opts[j] == 30: sub = opts[j + 2] >> 4
            j += max(opts[j + 1], 2)
        key = "other" if sub is None else "capable" if sub == 0 else ("enc_joins" if i == 0 else "learned_joins") if sub == 1 else "other"
        n[key] += 1
print(" ".join(f"{k}={v}" for k, v in n.items()))
PY
fi
# The smoke run's one pcap: every pcap mix's frames in turn (join-learned's connections before its joins).
if [ "$smoke" = 1 ] && [ -n "$pcapmixes" ]; then
  python3 - "$work/smoke.pcap" $(for m in ${pcapmixes//,/ }; do echo "$work/$m.pcap"; done) <<'EOF'
import sys
out = open(sys.argv[1], "wb")
for i, p in enumerate(sys.argv[2:]):
    d = open(p, "rb").read()
    out.write(d if i == 0 else d[24:])
EOF
fi

# ---- the targets: the appliance or testpmd io as memif server on both ports ----------------------
# rsize=12: 4096-slot rings, so that a process descheduled for some milliseconds on a shared machine
# does not overflow the ring it should drain (DPDK 22.11 default: 1024).
vdev() { echo "net_memif$1,role=$2,id=0,socket=$work/$3.sock,socket-abstract=no,rsize=${MEMIF_RSIZE:-12}"; }
start_switchyard() { # TAG [extra switchyard args...]
  local tag=$1; shift
  rm -f "$work/in.sock" "$work/out.sock" "$work/counters-$tag.json"
  dotnet "$sydll" --config "$here/switchyard.json" "--Eal:Vdevs:0=$(vdev 0 server in)" "--Eal:Vdevs:1=$(vdev 1 server out)" \
    "--Eal:FilePrefix=$prefix-sy" --Eal:Hugepages=off "--Run:CountersFile=$work/counters-$tag.json" "$@" \
    > "$work/switchyard-$tag.out" 2> "$work/switchyard-$tag.err" &
  target=$!; pids+=("$target")
}
start_testpmd() { # TAG
  local tag=$1
  rm -f "$work/in.sock" "$work/out.sock"
  dpdk-testpmd -l 0-1 --main-lcore 0 --no-huge -m 1024 --no-pci "--file-prefix=$prefix-tp" \
    --vdev "$(vdev 0 server in)" --vdev "$(vdev 1 server out)" -- --forward-mode=io --nb-cores=1 \
    --total-num-mbufs=16384 -a --stats-period=10 > "$work/testpmd-$tag.out" 2>&1 &
  target=$!; pids+=("$target")
}
wait_sockets() {
  for _ in $(seq 600); do
    [ -S "$work/in.sock" ] && [ -S "$work/out.sock" ] && return 0
    kill -0 "$target" 2>/dev/null || { echo "run.sh: target exited before listening (see $work)" >&2; return 1; }
    sleep 0.1
  done
  echo "run.sh: target never listened on $work/*.sock" >&2; return 1
}
stop_target() {
  kill -TERM "$target" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$target" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$target" 2>/dev/null || true
  wait "$target" 2>/dev/null || true
  rm -rf /var/run/dpdk/"$prefix"-sy /var/run/dpdk/"$prefix"-tp
}
# pktgen as memif client; core 0 forwards (the target's worker is on core 1), main lcore on core 1.
# The target is stopped while pktgen still holds the memif links (suite.lua waits for it to exit):
# net_memif in DPDK 22.11 can crash the server's polling lcore when the client disconnects under it.
run_pktgen() { # TAG SCRIPTS [PCAP]   (environment: SY_*)
  local tag=$1 scripts=$2 pcap=${3:-} pk
  rm -f "$work/res-$tag.txt"
  SY_SCRIPTS="$scripts" SY_OUT="$work/res-$tag.txt" SY_WORK="$work" SY_TARGET_PID="$target" \
  LUA_PATH="$root/artifacts/pktgen/?.lua;;" \
  timeout 1500 "$pktgen" -l 0-1 --main-lcore 1 --no-huge -m 4096 --no-pci "--file-prefix=$prefix-pk" \
    --vdev "$(vdev 0 client in)" --vdev "$(vdev 1 client out)" -- -P -m "0.[0-1]" \
    ${pcap:+-s "0:$pcap"} -f "$here/suite.lua" </dev/null > "$work/pktgen-$tag.out" 2>&1 &
  pk=$!; pids+=("$pk")
  rm -f "$work/change-request" "$work/change-done"
  while kill -0 "$pk" 2>/dev/null && ! grep -q '^done=1' "$work/res-$tag.txt" 2>/dev/null; do
    # flood.lua asks for the backend change (SY_CHANGE) once its established flows are pinned.
    if [ -n "${SY_CHANGE:-}" ] && [ -f "$work/change-request" ] && [ ! -f "$work/change-done" ]; then
      local t0 rc=0; t0=$(date +%s.%N)
      bash -c "$SY_CHANGE" || rc=$?
      echo "rc=$rc,seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')" > "$work/change-done.tmp" && mv "$work/change-done.tmp" "$work/change-done"
    fi
    sleep 0.2
  done
  stop_target
  wait "$pk" 2>/dev/null || true
  rm -rf /var/run/dpdk/"$prefix"-pk
  grep -q '^done=1' "$work/res-$tag.txt" 2>/dev/null || { echo "run.sh: pktgen $tag did not finish (see $work/pktgen-$tag.out)" >&2; return 1; }
}

range_scripts=
for m in est udp tcp6; do [[ ",$mixes," == *,$m,* ]] && range_scripts="$range_scripts,$here/$m.lua"; done
range_scripts=${range_scripts#,}

cd "$root"
if [ "$smoke" = 1 ]; then
  # One pktgen start: the range mixes, then the combined pcap (SY_COUNT: a whole number of its loops).
  total=0; [ -f "$work/smoke.pcap" ] && total=$(frames "$work/smoke.pcap")
  scripts=$range_scripts
  [ "$total" -gt 0 ] && scripts="${scripts:+$scripts,}$here/pcap.lua"
  for attempt in 1 2; do  # once more if pktgen's links never came up (memif connect failed)
    rm -f "$work"/counters-*.json
    start_switchyard smoke; wait_sockets
    echo "run.sh: smoke: $mixes (pcap frames $total), load $(loadavg)" >&2
    SY_MODE=count SY_COUNT=${SY_COUNT:-2048} SY_RATE=0.01 SY_CLIENTS_LAST=10.0.0.64 SY_COUNTERS="$work/counters-smoke.json" SY_LATENCY=1 \
      SY_MIX=pcap SY_PCAP_COUNT=$total run_pktgen smoke "$scripts" "$([ "$total" -gt 0 ] && echo "$work/smoke.pcap")" || exit 1
    grep -q '^error=links-down' "$work/res-smoke.txt" || break
    echo "run.sh: smoke: links never came up; once more" >&2
  done
  cat "$work/res-smoke.txt"
  echo "pcap_mixes=$pcapmixes pcap_frames=$total" >> "$work/res-smoke.txt"
  exit 0
fi

# ---- zero-loss throughput (and latency) per mix, testpmd io and the appliance on the same path -----
mode_env=(SY_MODE=search "SY_TRIAL_SECONDS=$trial" "SY_SEARCH_STEPS=$steps" "SY_LATENCY=$latency")
avgframe() { python3 -c "import sys; d=open(sys.argv[1],'rb').read(); n=b=0; o=24
while o < len(d): l=int.from_bytes(d[o+8:o+12],'little'); o+=16+l; n+=1; b+=l
print(round(b/n)+4)" "$1"; }  # pktgen counts frame sizes with the 4-byte CRC
groups=()
[ -n "$range_scripts" ] && groups+=(range)
for m in ${pcapmixes//,/ }; do groups+=("pcap:$m"); done
[ "$flood" = 1 ] && [[ ",$targets," == *,switchyard,* ]] && groups+=(flood flood-guard join-flood join-flood-guard)
for t in ${targets//,/ }; do
  for g in "${groups[@]}"; do
    [[ "$g" == *flood* ]] && [ "$t" != switchyard ] && continue
    tag="$t-${g#pcap:}"
    la=$(loadavg)
    echo "run.sh: $tag: load $la" >&2
    extra=()
    # The flood: the smallest flow table (1024 entries), a control socket for the backend change, and
    # for flood-guard the flood guard at ${FLOOD_GUARD:-300} new flows per second.
    [[ "$g" == *flood* ]] && extra=(--Dataplane:FlowTableEntries=1024 "--Control:Socket=$work/ctl.sock")
    [[ "$g" == *flood-guard ]] && extra+=("--Dataplane:FloodGuardNewFlowsPerSecond=${FLOOD_GUARD:-300}")
    for attempt in 1 2 3; do  # up to twice more if pktgen's links never came up (memif connect failed)
    if [ "$t" = switchyard ]; then start_switchyard "$tag" "${extra[@]}"; else start_testpmd "$tag"; fi
    wait_sockets
    case "$g" in
      range) ( export "${mode_env[@]}"; [ "$t" = switchyard ] && export SY_COUNTERS="$work/counters-$tag.json"; run_pktgen "$tag" "$range_scripts" ) || true ;;
      pcap:*) m=${g#pcap:}
        ( export "${mode_env[@]}" SY_MIX="$m" SY_FRAME="$(avgframe "$work/$m.pcap")" SY_COUNTERS="$work/counters-$tag.json"
          run_pktgen "$tag" "$here/pcap.lua" "$work/$m.pcap" ) || true ;;
      *flood*) ( export SY_MODE=flood SY_MIX="$g" SY_COUNTERS="$work/counters-$tag.json" \
          SY_CHANGE="dotnet $sydll ctl --socket $work/ctl.sock backend add dsr b5 198.19.0.15 mac 02:53:59:02:00:05 port out >> $work/ctl-$g.log 2>&1"
          if [[ "$g" == join-* ]]; then
            export SY_FLOOD_KIND=pcap SY_FLOOD_FLOWS="$(field frames < "$work/join-flood.txt")" SY_FLOOD_PASSES="${SY_JOIN_PASSES:-5}"
            run_pktgen "$tag" "$here/flood.lua" "$work/join-flood.pcap"
          else run_pktgen "$tag" "$here/flood.lua"; fi ) || true ;;
    esac
    stop_target
    grep -q '^error=links-down' "$work/res-$tag.txt" 2>/dev/null || break
    echo "run.sh: $tag: links never came up; once more" >&2
    done
    echo "loadavg_before=${la// /,} loadavg_after=$(loadavg | tr ' ' ,)" >> "$work/res-$tag.txt"
    grep -h '^mix=.*mode=\(search\|latency\)' "$work/res-$tag.txt" >&2 || true
  done
done

# ---- report ------------------------------------------------------------------------------------
[ -z "$report" ] && report="$root/perf/results/$(date +%Y-%m-%d)-pktgen.md"
pct_us() { # FILE P: the P-th percentile of pktgen's latency samples (ns), in microseconds
  tail -n +2 "$1" 2>/dev/null | sort -n | awk -v p="$2" '{v[NR]=$1} END {if (NR==0) {print "-"; exit}
    i=int((NR-1)*p/100)+1; printf "%.1f", v[i]/1000}'
}
{
  [ -n "$mixes" ] && echo "| mix | testpmd io zero-loss Mpps | switchyard zero-loss Mpps | ratio sy/testpmd | limited by (sy) | trials (sy) | load average before (tp / sy) |"
  [ -n "$mixes" ] && echo "|---|---|---|---|---|---|---|"
  for m in ${mixes//,/ }; do
    g=$m; case "$m" in est|udp|tcp6) g=range ;; esac
    tp=$(grep -h "^mix=$m mode=search" "$work/res-testpmd-$g.txt" 2>/dev/null | field zero_loss_pps || true)
    sy=$(grep -h "^mix=$m mode=search" "$work/res-switchyard-$g.txt" 2>/dev/null | field zero_loss_pps || true)
    lim=$(grep -h "^mix=$m mode=search" "$work/res-switchyard-$g.txt" 2>/dev/null | field limited || true)
    n=$(grep -c "^mix=$m mode=trial" "$work/res-switchyard-$g.txt" 2>/dev/null || true)
    latp=$(field loadavg_before < "$work/res-testpmd-$g.txt" 2>/dev/null || true)
    las=$(field loadavg_before < "$work/res-switchyard-$g.txt" 2>/dev/null || true)
    awk -v m="$m" -v tp="${tp:-}" -v sy="${sy:-}" -v lim="${lim:--}" -v n="${n:-0}" -v la="${latp:--} / ${las:--}" 'BEGIN {
      t = (tp == "") ? "-" : sprintf("%.3f", tp / 1e6); s = (sy == "") ? "-" : sprintf("%.3f", sy / 1e6)
      r = (tp == "" || sy == "" || tp + 0 == 0) ? "-" : sprintf("%.2f", sy / tp)
      printf "| %s | %s | %s | %s | %s | %d | %s |\n", m, t, s, r, lim, n, la }'
  done
  if [ "$latency" = 1 ]; then
    echo
    echo "Latency (pktgen latency packets, one per 10 ms, through the appliance; min / median / p99 / max in µs, samples):"
    echo
    echo "| mix | target | share of zero-loss rate | min | median | p99 | max | samples |"
    echo "|---|---|---|---|---|---|---|---|"
    for t in ${targets//,/ }; do for m in ${mixes//,/ }; do
      g=$m; case "$m" in est|udp|tcp6) g=range ;; esac
      { grep -h "^mix=$m mode=latency" "$work/res-$t-$g.txt" 2>/dev/null || true; } | while read -r line; do
        f=$(echo "$line" | field samples_file); s=$(echo "$line" | field share)
        n=$(($(wc -l < "$f" 2>/dev/null || echo 1) - 1))
        echo "| $m | $t | $s % | $(pct_us "$f" 0) | $(pct_us "$f" 50) | $(pct_us "$f" 99) | $(pct_us "$f" 100) | $n |"
      done
    done; done
  fi
  if [ "$flood" = 1 ]; then
    guard_of() { if [[ "$1" == *-guard ]]; then echo "${FLOOD_GUARD:-300}"; else echo off; fi; }
    echo
    echo "Unique-flow flood (flood.lua; flow table 1024 entries; established flows opened by SYN, then dsr gains backend b5;"
    echo "ACKs on the established flows run during the SYN flood of new 5-tuples to flood4; moved = packets of established flows at b5):"
    echo
    echo "| run | guard (new flows/s) | established flows | flood SYNs sent (distinct 5-tuples x passes) | flood seconds | new flows/s offered (M) | flowInserts | flowEvictions | handshakePinsRefused | floodGuardUnpinned | established packets sent / arriving at b5 (moved) | backend change (s) | load average before |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for g in flood flood-guard; do
      r="$work/res-switchyard-$g.txt"; [ -f "$r" ] || continue
      line=$(grep -h "^mix=$g mode=flood kind=" "$r" || true)
      python3 - "$work/counters-$g-pinned.json" "$work/counters-$g.json" "$g" "$line" "$(field loadavg_before < "$r")" "$(guard_of "$g")" <<'PY'
import json, sys
a, b, g, line, la, guard = sys.argv[1:7]
kv = dict(x.split("=", 1) for x in line.split()) if line else {}
try:
    A, B = json.load(open(a)), json.load(open(b))
except Exception as e:
    print(f"| {g} | {guard} | (no counters: {e}) | | | | | | | | | {la} |"); sys.exit(0)
d = lambda k: B["totals"][k] - A["totals"][k]
b5 = sum(x["packets"] for x in B["backends"] if x["name"] == "b5")
secs = float(kv.get("flood_seconds", "0") or 0)
sent = int(kv.get("flood_sent", "0") or 0)
rate = f"{sent / secs / 1e6:.3f}" if secs > 0 else "-"
chg = kv.get("change", "-").replace("rc=0,seconds=", "")
print(f"| {g} | {guard} | {kv.get('est_flows','-')} | {sent} ({kv.get('flood_flows','-')} x {kv.get('passes','-')}) | {secs:.2f} | {rate} | {d('flowInserts')} | {d('flowEvictions')} | "
      f"{d('handshakePinsRefused')} | {d('floodGuardUnpinned')} | {kv.get('est_sent','-')} / {b5} | {chg} | {la} |")
PY
    done
    if [ -f "$work/join-flood.txt" ]; then
      echo
      echo "MP_JOIN flood (flood.lua, SY_FLOOD_KIND=pcap; same table, established flows and b5 as above): pktgen replays join-flood.pcap"
      echo "to flood4 ($(cat "$work/join-flood.txt") per loop): joins from distinct new 5-tuples, each with its own token minted"
      echo "for the flood pool's ServerIds, then MPTCP connections (SYN, third ACK with both keys) and joins from distinct new 5-tuples"
      echo "carrying their learned tokens. Joins sent: pktgen's frames sent x the joins' share of a loop; the rest are the appliance's"
      echo "counters over the flood phase; rates are per flood second:"
      echo
      echo "| run | guard (new flows/s) | established flows | joins sent: encrypted + learned (loops) | connection frames sent | flood seconds | new joins/s offered (k) | joinsSeen | placed by encrypted token | placed by learned token | joins placed/s (k) | tokensLearned | joinsUnplaceable / joinReset | flowInserts | flowEvictions | handshakePinsRefused | floodGuardUnpinned | established packets sent / arriving at b5 (moved) | backend change (s) | load average before |"
      echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
      for g in join-flood join-flood-guard; do
        r="$work/res-switchyard-$g.txt"; [ -f "$r" ] || continue
        line=$(grep -h "^mix=$g mode=flood kind=" "$r" || true)
        python3 - "$work/counters-$g-pinned.json" "$work/counters-$g.json" "$g" "$line" "$(field loadavg_before < "$r")" "$(guard_of "$g")" "$(cat "$work/join-flood.txt")" <<'PY'
import json, sys
a, b, g, line, la, guard, comp = sys.argv[1:8]
kv = dict(x.split("=", 1) for x in line.split()) if line else {}
c = {k: int(v) for k, v in (x.split("=", 1) for x in comp.split())}
try:
    A, B = json.load(open(a)), json.load(open(b))
except Exception as e:
    print(f"| {g} | {guard} | (no counters: {e}) |" + " |" * 16 + f" {la} |"); sys.exit(0)
d = lambda k: B["totals"][k] - A["totals"][k]
b5 = sum(x["packets"] for x in B["backends"] if x["name"] == "b5")
secs = float(kv.get("flood_seconds", "0") or 0)
sent = int(kv.get("flood_sent", "0") or 0)
loops = sent / c["frames"] if c["frames"] else 0
enc, learned = round(loops * c["enc_joins"]), round(loops * c["learned_joins"])
conn = round(loops * c["capable"])
placed = d("joinsByEncryptedToken") + d("joinsByLearnedToken")
per_s = lambda n: f"{n / secs / 1e3:.1f}" if secs > 0 else "-"
print(f"| {g} | {guard} | {kv.get('est_flows','-')} | {enc} + {learned} ({loops:g}) | {conn} | {secs:.2f} | {per_s(enc + learned)} | {d('joinsSeen')} | "
      f"{d('joinsByEncryptedToken')} | {d('joinsByLearnedToken')} | {per_s(placed)} | {d('tokensLearned')} | {d('joinsUnplaceable')} / {d('joinReset')} | "
      f"{d('flowInserts')} | {d('flowEvictions')} | {d('handshakePinsRefused')} | {d('floodGuardUnpinned')} | {kv.get('est_sent','-')} / {b5} | {kv.get('change', '-').replace('rc=0,seconds=', '')} | {la} |")
PY
      done
    fi
  fi
} > "$work/table.md"
cat "$work/table.md"
{
  echo "# pktgen-dpdk against the running appliance over net_memif ($(date -u +%Y-%m-%d))"
  echo
  echo "Written by \`perf/pktgen/run.sh$(printf ' %s' "${argv[@]}")\` at $(date -u +%H:%MZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?');"
  echo "$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), load average at the end $(loadavg)."
  echo "pktgen 23.03.0 (\`./build.sh pktgen\`), DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?'), no hugepages (\`--no-huge\`),"
  echo "memif rings of $((1 << ${MEMIF_RSIZE:-12})) slots; pktgen forwards on core 0, the appliance's worker (or testpmd's) on core 1."
  echo "Figures from a shared machine are indicative only: compare the ratio within a run, never absolute figures across runs."
  echo
  cat "$work/table.md"
} > "$report.tmp" && mv "$report.tmp" "$report"
echo "run.sh: report: $report (raw: $work)" >&2
