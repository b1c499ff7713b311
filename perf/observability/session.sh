#!/bin/bash
# Observability session: the appliance running (perf/load/switchyard.json, a small "est" mix replayed forever
# by net_pcap, hugepages, Observability.PacketCapture on), then DPDK's own tools and the HTTP endpoint
# against it: dpdk-telemetry.py, dpdk-dumpcap (checked with tshark), curl /metrics and /counters.
#   perf/observability/session.sh [OUT.md]     default OUT: perf/results/<date>-observability.md
# Needs root, a built tree (make -C native; dotnet build Switchyard.slnx) and the dpdk + tshark packages.
# Machine state: reserves 2 MiB hugepages (and mounts hugetlbfs) only if not enough are free, and undoes
# exactly that on exit, also on failure; if it cannot, it stops (dpdk-dumpcap needs hugepages).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$(cd "$(dirname "$0")/../.." && pwd)/perf/lib/require.sh"
require_tools curl:curl python3:python3 tshark:tshark dpdk-telemetry.py:dpdk dpdk-dumpcap:dpdk
out=${1:-$root/perf/results/$(date -u +%Y-%m-%d)-observability.md}
dll="$root/src/Management/bin/Debug/net10.0/switchyard.dll"
[ -f "$dll" ] || dll="$root/src/Management/bin/Release/net10.0/switchyard.dll"
[ -f "$dll" ] || { echo "session.sh: build first (dotnet build Switchyard.slnx)" >&2; exit 1; }
prefix=sy-obs
work=$(mktemp -d /tmp/sy-obs.XXXXXX)
need=384
name=session.sh
. "$here/hugepages.sh"

python3 "$root/perf/load/mixgen.py" "$work" --flows 8 --rounds 4 --mixes est >/dev/null
appcmd=(dotnet "$dll" --config "$root/perf/load/switchyard.json"
  "--Eal:Vdevs:0=net_pcap0,rx_pcap=$work/est.pcap,infinite_rx=1" --Eal:FilePrefix=$prefix --Eal:Hugepages=require
  --Observability:PacketCapture=true --Observability:PrometheusListen=127.0.0.1:9469 --Run:DurationSeconds=120)
"${appcmd[@]}" >"$work/app.log" 2>&1 &
app=$!
for _ in $(seq 1 600); do grep -q "metrics: serving" "$work/app.log" && break; kill -0 $app || { cat "$work/app.log"; exit 1; }; sleep 0.1; done
grep -q "metrics: serving" "$work/app.log" || { cat "$work/app.log"; exit 1; }
sleep 2

show() {  # show "command line" : runs it with bash, prints the command and its output
  { echo '```'; echo "\$ $1" | sed "s|$work|\$WORK|g"; bash -c "$1" 2>&1 | sed "s|$work|\$WORK|g"; echo '```'; echo; } >> "$out"
}
mkdir -p "$(dirname "$out")"
{
  echo "# Observability session, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Written by \`perf/observability/session.sh\` (everything below is real output of this run; \$WORK is its"
  echo "temporary directory). Machine: $(nproc) cores, $(uname -r), DPDK $(pkg-config --modversion libdpdk),"
  echo "$free free 2 MiB hugepages. The appliance: perf/load/switchyard.json, the \"est\" mix (8 flows x 4 rounds,"
  echo "made by perf/load/mixgen.py) replayed forever by net_pcap, one worker on core 1:"
  echo
  echo '```'
  echo "${appcmd[*]}" | sed "s|$work|\$WORK|g; s|$root/||g"
  echo '```'
  echo
  echo "Its log up to now:"
  echo
  echo '```'
  sed "s|$work|\$WORK|g" "$work/app.log"
  echo '```'
  echo
  echo "## dpdk-telemetry.py"
  echo
  echo "Commands on stdin, one JSON reply per line (non-interactive mode of DPDK's client)."
  echo
} > "$out"
show "printf '%s\n' /switchyard/info /switchyard/vips /switchyard/vip,tcp4 /switchyard/backends /switchyard/backend,0 /switchyard/workers /switchyard/worker,1 /switchyard/drops /switchyard/drops,1 /switchyard/vip,nope /ethdev/list | dpdk-telemetry.py -f $prefix"
show "echo /help,/switchyard/vip | dpdk-telemetry.py -f $prefix"
echo "## dpdk-dumpcap" >> "$out"; echo >> "$out"
show "dpdk-dumpcap --file-prefix=$prefix -i net_pcap0 -c 64 -w $work/capture.pcapng"
show "dpdk-dumpcap --file-prefix=$prefix -i net_null0 -c 16 -w $work/out.pcapng"
show "tshark -r $work/out.pcapng -c 8 -T fields -E header=y -e frame.number -e eth.src -e eth.dst -e ip.src -e ip.dst -e tcp.srcport -e tcp.flags.str"
show "tshark -r $work/capture.pcapng -c 12 -T fields -E header=y -e frame.number -e eth.dst -e ip.src -e ip.dst -e tcp.srcport -e tcp.dstport -e tcp.flags.str"
show "capinfos -c -T $work/capture.pcapng"
show "tshark -r $work/capture.pcapng -q -z endpoints,eth"
echo "## HTTP endpoint" >> "$out"; echo >> "$out"
show "curl -sS -i http://127.0.0.1:9469/metrics | head -40"
show "curl -sS http://127.0.0.1:9469/metrics | grep -E '^switchyard_(drops_total|vip_packets_total|backend_new_flows_total|worker_rx_packets_total|port_rx_packets_total)' | grep -v ' 0\$'"
show "curl -sS http://127.0.0.1:9469/metrics | grep -c '^switchyard_'"
show "curl -sS http://127.0.0.1:9469/counters | head -30"
show "curl -sS -i -X POST http://127.0.0.1:9469/metrics"
show "exec 3<>/dev/tcp/127.0.0.1/9469; printf 'garbage\\x01\\r\\n\\r\\n' >&3; cat <&3"
kill -TERM $app; wait $app || true; app=
{ echo "## Stop (SIGTERM)"; echo; echo '```'; grep -E '^switchyard: (stopping|kept)' "$work/app.log" | sed "s|$work|\$WORK|g"; echo '```'; } >> "$out"
# The same appliance with PacketCapture off (the default): dpdk-dumpcap is refused, as docs/observability.md says.
"${appcmd[@]/--Observability:PacketCapture=true/--Observability:PacketCapture=false}" >"$work/app2.log" 2>&1 &
app=$!
for _ in $(seq 1 600); do grep -q "metrics: serving" "$work/app2.log" && break; kill -0 $app || break; sleep 0.1; done
{ echo "## The default, Observability.PacketCapture false: dpdk-dumpcap cannot attach"; echo;
  echo "The same command with \`--Observability:PacketCapture=false\`; its log says:"; echo; echo '```';
  grep 'packet capture' "$work/app2.log"; echo '```'; echo; } >> "$out"
show "dpdk-dumpcap --file-prefix=$prefix -i net_pcap0 -c 64 -w $work/refused.pcapng; echo exit \$?"
kill -TERM $app; wait $app || true; app=
echo "session.sh: wrote $out" >&2
