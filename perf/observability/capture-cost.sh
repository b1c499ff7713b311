#!/bin/bash
# What Observability.PacketCapture costs: the appliance on the load harness's "est" mix (perf/load, 1024 flows
# x 16 rounds, net_pcap infinite_rx into net_null), hugepages, once with capture off and once on, interleaved
# ROUNDS times; Mpps = rxPackets delta over MEASURE seconds read from /counters after WARMUP seconds.
#   perf/observability/capture-cost.sh [ROUNDS] [MEASURE] [WARMUP]    (defaults 2 5 3)
# Prints one line per run and the medians. Reserves/restores hugepages like perf/load/run.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$(cd "$(dirname "$0")/../.." && pwd)/perf/lib/require.sh"
require_tools curl:curl python3:python3
rounds=${1:-2} measure=${2:-5} warmup=${3:-3}
dll="$root/src/Management/bin/Release/net10.0/switchyard.dll"
[ -f "$dll" ] || dll="$root/src/Management/bin/Debug/net10.0/switchyard.dll"
prefix=sy-capcost
work=$(mktemp -d /tmp/sy-capcost.XXXXXX)
need=384
name=capture-cost.sh
. "$here/hugepages.sh"
python3 "$root/perf/load/mixgen.py" "$work" --flows 1024 --rounds 16 --mixes est >/dev/null
rx() { curl -sS http://127.0.0.1:9469/counters | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["rxPackets"])'; }
declare -A res
for r in $(seq 1 "$rounds"); do
  for cap in false true; do
    dotnet "$dll" --config "$root/perf/load/switchyard.json" "--Eal:Vdevs:0=net_pcap0,rx_pcap=$work/est.pcap,infinite_rx=1" \
      --Eal:FilePrefix=$prefix --Eal:Hugepages=require --Dataplane:MempoolMbufs=65535 --Observability:PacketCapture=$cap \
      --Observability:PrometheusListen=127.0.0.1:9469 --Run:DurationSeconds=60 >"$work/app.log" 2>&1 &
    app=$!
    for _ in $(seq 1 600); do grep -q "metrics: serving" "$work/app.log" && break; sleep 0.1; done
    sleep "$warmup"
    a=$(rx); sleep "$measure"; b=$(rx)
    kill -TERM $app; wait $app || true; app=
    mpps=$(python3 -c "print(f'{($b-$a)/$measure/1e6:.2f}')")
    echo "round $r PacketCapture=$cap: $mpps Mpps"
    res[$cap]="${res[$cap]:-} $mpps"
  done
done
for cap in false true; do
  echo "PacketCapture=$cap median: $(echo ${res[$cap]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}') Mpps (runs:${res[$cap]})"
done
