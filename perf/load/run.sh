#!/bin/bash
# Load harness: Switchyard next to dpdk-testpmd (io, macswap) on the same devices in the same run.
#   perf/load/run.sh [--smoke] [--joins] [--workers N] [--duration S] [--warmup S] [--flows N] [--rounds N]
#                    [--repeat N] [--profile] [--no-huge] [--report FILE] [--prefix TAG] [--switchyard DLL] [--no-build]
#   (default)   mixes est, syn, udp, tcp6, imix (IMIX sizes), join-enc (MP_JOIN flood, encrypted tokens),
#               join-learned (MP_CAPABLE connections, then joins with their learned tokens); est also through
#               the IPIP pool. Writes perf/results/<date>-load.md (or --report FILE).
#   --smoke     every default mix, 1-second windows, 256 flows x 4 rounds: checks the pipeline end to end
#               (nonzero Mpps for Switchyard, testpmd io and macswap; every minted or learned join placed)
#               and writes the report to --report FILE (default: the work directory, printed); judges no
#               speed; exits nonzero on failure.
#   --workers N also a scaling table: est and syn with 1..N forwarding cores for every tool (N <= cores).
#   --scaling-only  only the --workers table (mixes est and syn).
#   --joins     MPTCP join steering instead of the standard mixes: syn, syn-ts, join-enc, join-rand (FLOWS*ROUNDS
#               distinct 5-tuples each, default 4096*16 = 65536), tokens minted by perf/load/JoinGen;
#               writes perf/results/<date>-joins.md.
#   --mixes L   only these mixes (comma-separated, e.g. udp,quic) and their cases.
#   --newflows  new flows at rate instead of the standard mixes: syn-new, udp-new, join-enc-new, join-learned-new
#               (every packet a distinct 5-tuple, 1024-entry flow table: every packet misses and is inserted) and
#               est-10x (10240 established flows over the 1024-entry table), next to the pinned syn, udp and est
#               rows; writes perf/results/<date>-newflows.md with new flows per second per core. --smoke runs
#               these mixes too (16384 5-tuples each).
#   --stages    also the per-stage cycle budget: one extra Switchyard est run with Run:StageStamps (sampled TSC
#               stamps per stage) and one with Run:ForwardOnly (the rx -> tx floor, same process and ports).
#   --baseline DLL  also run this switchyard.dll (a build before a change) in every case, right after the
#               current one: before/after in one sitting, against the same testpmd figures.
#   --repeat N  N rounds over the cases, interleaved: N Switchyard runs per case and N testpmd io and macswap runs
#               per mix, each median reported (shared machines: one testpmd window moved 25 % between sittings).
#   --profile   also perf-record the worker core during one extra Switchyard est run (needs linux-perf).
#   --no-huge   never reserve hugepages (4 KiB pages: functional runs only, about half the throughput).
#   --prefix T  DPDK file prefixes tp-T and sy-T (default "load"; the CI smoke test uses a random one).
#   --switchyard DLL  the switchyard.dll to run (default src/Management/bin/Release/net10.0/switchyard.dll).
#   --no-build  use what is built (perf/load/JoinGen is still built when its dll is missing).
# Full runs write perf/results/<date>-load.md (-load-scaling.md with --workers, -joins.md with --joins).
# Needs root (hugepages) and dpdk-testpmd.
# Machine state: reserves 2 MiB hugepages (and mounts hugetlbfs) only if not enough are free, and
# undoes exactly that on exit, also on failure; falls back to --no-huge (and says so) if it cannot.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

only= smoke=0 joins=0 newflows=0 stages= duration=10 warmup=2 flows= rounds=16 build=1 profile= repeat=1 workers=0 scalingonly=0 nohuge=0 report= prefix=load sydll= baseline=
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --joins) joins=1 ;;
    --newflows) newflows=1 ;;
    --stages) stages=--stages ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --flows) flows=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --mixes) only=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --profile) profile=--profile ;;
    --workers) workers=$2; shift ;;
    --no-huge) nohuge=1 ;;
    --scaling-only) scalingonly=1 ;;
    --report) report=$2; shift ;;
    --prefix) prefix=$2; shift ;;
    --switchyard) sydll=$2; shift ;;
    --baseline) baseline=$2; shift ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$flows" ]; then flows=1024; [ "$joins" = 1 ] && flows=4096; fi
if [ "$smoke" = 1 ]; then duration=1; warmup=1; flows=256; rounds=4; fi
# The pcap driver copies the whole mix into mbufs: 65535 holds the standard 16k-frame mixes; the join
# mixes (64k frames) need twice that, for testpmd and Switchyard alike.
mbufs=65535
[ $((flows * rounds)) -gt 32768 ] && mbufs=131071
[ "$newflows" = 1 ] && mbufs=131071  # est-10x: 61440 frames

. "$root/perf/lib/require.sh"
require_tools dpdk-testpmd:dpdk python3:python3
if [ "$build" = 1 ]; then
  make -C "$root/native" -s
  dotnet build "$root/Switchyard.slnx" -c Release -nologo -v:q
  dotnet build "$here/JoinGen/JoinGen.csproj" -c Release -nologo -v:q
elif [ ! -f "$here/JoinGen/bin/Release/net10.0/joingen.dll" ]; then
  dotnet build "$here/JoinGen/JoinGen.csproj" -c Release -nologo -v:q
fi

work=$(mktemp -d /tmp/sy-load.XXXXXX)
need=512                 # 2 MiB pages: 1 GiB, room for one DPDK process at a time
orig_nr=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
set_nr=
mounted=
made_dir=
cleanup() {
  rm -f /dev/hugepages/sy-"$prefix"map_* /dev/hugepages/tp-"$prefix"map_* 2>/dev/null || true
  rm -rf /var/run/dpdk/sy-"$prefix" /var/run/dpdk/tp-"$prefix" 2>/dev/null || true
  if [ -n "$mounted" ]; then umount /dev/hugepages 2>/dev/null || true; fi
  if [ -n "$made_dir" ]; then rmdir /dev/hugepages 2>/dev/null || true; fi
  # Restore the reservation only if nobody changed it since we did.
  if [ -n "$set_nr" ] && [ "$(cat /proc/sys/vm/nr_hugepages)" = "$set_nr" ]; then
    echo "$orig_nr" > /proc/sys/vm/nr_hugepages || true
  fi
  [ "${KEEP_WORK:-0}" = 1 ] && echo "run.sh: work directory kept: $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

huge=0
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
[ "$nohuge" = 1 ] && free=-1
if [ "$nohuge" = 0 ] && [ "$free" -lt "$need" ]; then
  target=$((orig_nr + need - free))
  if echo "$target" > /proc/sys/vm/nr_hugepages 2>/dev/null; then set_nr=$(cat /proc/sys/vm/nr_hugepages); fi
  free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
fi
if [ "$free" -ge "$need" ]; then
  if ! grep -q hugetlbfs /proc/mounts; then
    [ -d /dev/hugepages ] || { mkdir -p /dev/hugepages; made_dir=1; }
    mount -t hugetlbfs nodev /dev/hugepages && mounted=1
  fi
  grep -q hugetlbfs /proc/mounts && huge=1
fi
if [ "$huge" = 1 ]; then echo "run.sh: hugepages: $free free 2 MiB pages" >&2
elif [ "$nohuge" = 1 ]; then echo "run.sh: --no-huge: 4 KiB pages (about half the throughput)" >&2
else echo "run.sh: hugepages could not be reserved: running with --no-huge (about half the throughput)" >&2; fi

newmixes=syn-new,udp-new,join-enc-new,join-learned-new,est-10x
if [ "$joins" = 1 ]; then mixes=syn,syn-ts,join-enc,join-rand
elif [ "$scalingonly" = 1 ]; then mixes=est,syn
elif [ "$newflows" = 1 ]; then mixes=est,syn,udp,join-enc,$newmixes
else mixes=est,syn,udp,tcp6,imix,join-enc,join-learned,quic; fi
[ "$smoke" = 1 ] && mixes=$mixes,$newmixes
# New-flow mixes: distinct 5-tuples per mix (mixgen's default: max(flows * rounds, 16384)); est-10x rounds.
newcount=$(( flows * rounds > 16384 ? flows * rounds : 16384 ))
est10x_rounds=6
[ "$smoke" = 1 ] && est10x_rounds=2
[ -n "$only" ] && mixes=$only
tokens=
if [[ ",$mixes," == *,join-enc,* || ",$mixes," == *,join-enc-new,* ]]; then
  tokens="$work/join-tokens.txt"
  dotnet "$here/JoinGen/bin/Release/net10.0/joingen.dll" "$here/switchyard.json" dsr "$newcount" > "$tokens"
fi
cids=
if [[ ",$mixes," == *,quic,* ]]; then
  cids="$work/quic-cids.txt"
  dotnet "$here/JoinGen/bin/Release/net10.0/joingen.dll" "$here/switchyard.json" dsr $((flows * rounds)) quic > "$cids"
fi
python3 "$here/mixgen.py" "$work" --flows "$flows" --rounds "$rounds" --mixes "$mixes" ${tokens:+--join-tokens "$tokens"} \
  ${cids:+--quic-cids "$cids"} --new-flows "$newcount" --est10x-rounds "$est10x_rounds" >&2
results=$report
if [ -z "$results" ] && [ "$smoke" = 1 ]; then results="$work/report.md"; fi
if [ -z "$results" ]; then
  mkdir -p "$root/perf/results"
  kind=load; [ "$joins" = 1 ] && kind=joins; [ "$newflows" = 1 ] && kind=newflows
  results="$root/perf/results/$(date +%Y-%m-%d)-$kind$( [ "$workers" -gt 0 ] && echo "-scaling" || true).md"
fi
python3 "$here/load.py" --pcaps "$work" --duration "$duration" --warmup "$warmup" --huge "$huge" \
  --mixgen "--flows $flows --rounds $rounds --mixes $mixes" --mbufs "$mbufs" --repeat "$repeat" \
  --workers "$workers" $( [ "$scalingonly" = 1 ] && echo --scaling-only ) --prefix "$prefix" ${sydll:+--switchyard "$sydll"} ${baseline:+--baseline "$baseline"} \
  $( [ "$smoke" = 1 ] && echo --smoke ) $( [ "$joins" = 1 ] && echo --joins ) $( [ "$newflows" = 1 ] && echo --newflows ) $stages ${only:+--only "$only"} \
  ${results:+--results "$results"} $profile
[ "$smoke" = 1 ] && [ -z "$report" ] && cat "$results"
exit 0
