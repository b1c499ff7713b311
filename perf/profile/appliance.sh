#!/bin/bash
# Profile one method of the running appliance, instruction by instruction (perf/results/2026-12-07-perf-2.md):
#   perf/profile/appliance.sh PCAP CLASS:METHOD [TOP] [-- APPLIANCE-ARGS...]
#   e.g. perf/profile/appliance.sh /tmp/ap/est.pcap BurstProcessor:ClassifyPass 20
#        perf/profile/appliance.sh /tmp/ap/est.pcap Forwarder:Run 20 -- --Vips:0:Pool=ipip
# Runs the appliance on perf/load/switchyard.json with PCAP replayed on port "in" (make pcaps with perf/load/mixgen.py),
# records the worker core (1) with perf for 5 s after a 7 s warm-up, maps the samples onto the JIT listing of the
# method's optimised code (perf/profile/annot.py) and prints the TOP hottest instructions and the share of samples per
# method. Writes the listing, perf.data and the annotation to a temporary directory it names. Needs root (hugepages),
# linux-perf, python3 and a Release build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/perf/lib/require.sh"
require_tools perf:linux-perf python3:python3
command -v dotnet >/dev/null || { echo "appliance.sh: needs the .NET 10 SDK on PATH (dotnet), as the README says" >&2; exit 1; }
if [ $# -lt 2 ]; then echo "usage: perf/profile/appliance.sh PCAP CLASS:METHOD [TOP] [-- APPLIANCE-ARGS...]" >&2; exit 2; fi
pcap=$1 method=$2 top=15
shift 2
if [ $# -gt 0 ] && [ "$1" != "--" ]; then top=$1; shift; fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
dll="$root/src/Management/bin/Release/net10.0/switchyard.dll"
[ -f "$pcap" ] || { echo "appliance.sh: no pcap $pcap (perf/load/mixgen.py makes them)" >&2; exit 2; }
[ -f "$dll" ] || { echo "appliance.sh: no $dll: build first (dotnet build Switchyard.slnx -c Release)" >&2; exit 2; }

out=$(mktemp -d /tmp/sy-profile.XXXXXX)
prefix=sy-prof$$
orig_nr=$(cat /proc/sys/vm/nr_hugepages) mounted=
cleanup() {
  rm -rf "/var/run/dpdk/$prefix"; rm -f /dev/hugepages/"$prefix"map_* 2>/dev/null || true
  if [ -n "$mounted" ]; then umount /dev/hugepages || true; fi
  echo "$orig_nr" > /proc/sys/vm/nr_hugepages || true
}
trap cleanup EXIT
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
[ "$free" -ge 512 ] || echo $((orig_nr + 512 - free)) > /proc/sys/vm/nr_hugepages
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
[ "$free" -ge 512 ] || { echo "appliance.sh: only $free free 2 MiB hugepages (512 needed)" >&2; exit 1; }
if ! grep -q hugetlbfs /proc/mounts; then mkdir -p /dev/hugepages; mount -t hugetlbfs nodev /dev/hugepages; mounted=1; fi

DOTNET_PerfMapEnabled=3 DOTNET_EnableWriteXorExecute=0 DOTNET_JitDisasm="*$method*" DOTNET_JitDisasmWithCodeBytes=1 \
DOTNET_JitStdOutFile="$out/method.asm" dotnet "$dll" --config "$root/perf/load/switchyard.json" \
  "--Eal:Vdevs:0=net_pcap0,rx_pcap=$pcap,infinite_rx=1" "--Eal:FilePrefix=$prefix" --Eal:Hugepages=require \
  --Dataplane:MempoolMbufs=65535 --Run:DurationSeconds=14 "$@" > "$out/switchyard.out" 2> "$out/switchyard.err" &
pid=$!
sleep 7
kill -0 "$pid" 2>/dev/null || { echo "appliance.sh: the appliance exited early; see $out/switchyard.err" >&2; tail -5 "$out/switchyard.err" >&2; exit 1; }
perf record -C 1 -e cpu-clock -F 4999 -o "$out/perf.data" -- sleep 5 >/dev/null 2>&1
wait "$pid" || { echo "appliance.sh: the appliance failed; see $out/switchyard.err" >&2; exit 1; }
[ -s "$out/method.asm" ] || { echo "appliance.sh: the JIT listed no method matching *$method*" >&2; exit 1; }
python3 "$here/annot.py" "$out/method.asm" "$out/perf.data" "/tmp/perf-$pid.map" "${method/:/::}" OptimizedTier1 Tier1 > "$out/method.annot"
echo "appliance.sh: $out"
# (head closes the pipes early: their SIGPIPE is not a failure)
perf report -i "$out/perf.data" --no-children --sort sym --stdio 2>/dev/null | grep '%' | cut -c1-160 | head -8 || true
sed -n 2p "$out/method.annot"
sort -k1 -n -r "$out/method.annot" | head -"$top" || true
