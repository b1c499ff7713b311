#!/bin/bash
# Reproduces the two ICNP 2017 experiments (Duchene, Bonaventure: "Making Multipath TCP friendlier to load
# balancers and anycast") on this machine, in network namespaces, and prints their tables.
#   perf/icnp/run.sh [--quick] [--no-build] [--only a|b-ecmp|b-switchyard] [--results FILE]
#   (full)     (a) balancer.sh: loss 0/1/2/5 % (nftables) and the same with +200 ms RTT (user-space wire),
#                  5 x 10 MB per cell and protocol;
#              (b) anycast.sh, 60 s per protocol, over the ECMP router and then over Switchyard.
#              Appends every table to perf/results/<date>-icnp.md (or FILE). About 8-9 minutes.
#   --quick    smoke check in about 3 minutes: (a) loss 0 and 2 %, 1 % + 200 ms RTT, 2 transfers each;
#              (b) 22 s per protocol (two removals, one re-add) on both balancers. Writes no results file
#              unless --results is given. Exits nonzero when a script fails or a sanity check does (MPTCP
#              without its join, a lost MPTCP connection, an empty measurement); speed is never judged.
#   --no-build skip `make -C native` (DPDK shim, path-manager plugin) and the Release build of switchyard
#   ICNP_PM=real|standin|auto: auto (default) uses the real path manager (native/mptcpd-plugin) when it builds.
# Needs root, iproute2, nftables, ethtool, jq, python3, mptcpd (Debian 12 packages; build/install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
quick=0 build=1 only= results=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --only) only=$2; shift ;;
    --results) results=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (network namespaces)" >&2; exit 1; }
. "$root/perf/lib/require.sh"
# Everything balancer.sh, anycast.sh and switchyard-lb.sh use, checked (and installed) before the first experiment:
# anycast.sh captures the clients' RSTs with tcpdump and reads the captures with tshark.
require_tools ip:iproute2 tc:iproute2 nft:nftables ethtool:ethtool jq:jq python3:python3 sysctl:procps \
  timeout:coreutils tcpdump:tcpdump tshark:tshark
if [ "$quick" = 0 ] && [ -z "$results" ]; then results="$root/perf/results/$(date -u +%Y-%m-%d)-icnp.md"; fi
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }

if [ "$build" = 1 ]; then
  make -C "$root/native" -s
  if want b-switchyard; then dotnet build "$root/src/Management/Switchyard.Management.csproj" -c Release -nologo -v:q; fi
fi

if [ -n "$results" ]; then
  mkdir -p "$(dirname "$results")"
  {
    echo
    echo "## Run of $(date -u '+%Y-%m-%d %H:%M UTC'): \`perf/icnp/run.sh $([ "$quick" = 1 ] && echo "--quick ")${only:+--only $only}\`"
    echo
    echo "Commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), kernel $(uname -r), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
  } >> "$results"
fi
ra=() ; [ -n "$results" ] && ra=(--results "$results")
out=$(mktemp /tmp/icnp-run.XXXXXX); trap 'rm -f "$out"' EXIT
start=$(date +%s)
if want a; then
  if [ "$quick" = 1 ]; then "$here/balancer.sh" --loss "0 2" --delay-rows "1:100" --reps 2 "${ra[@]}" | tee -a "$out"
  else "$here/balancer.sh" "${ra[@]}" | tee -a "$out"; fi
  echo
fi
dur=60; [ "$quick" = 1 ] && dur=22
if want b-ecmp; then "$here/anycast.sh" --balancer ecmp --duration $dur "${ra[@]}" | tee -a "$out"; echo; fi
if want b-switchyard; then "$here/anycast.sh" --balancer switchyard --duration $dur "${ra[@]}" | tee -a "$out"; echo; fi
# Sanity, not speed: MPTCP must have used the path manager's join (a: most bytes over the direct path with
# +RTT; b: every connection with a join) and no MPTCP connection may have been lost.
bad=$(awk -F'|' '
  /MPTCP \+ PM/ && NF >= 13 && $3 ~ /\+/ && ($11 + 0) < 90 { print "a: MPTCP row with " $11 " of the bytes on the direct path: " $0 }
  /MPTCP \+ PM/ && NF == 11 { split($10, j, " of "); if (j[1] != j[2] + 0 || $9 + 0 != 0) print "b: MPTCP row with lost connections or missing joins: " $0 }
  /^\| (TCP|MPTCP)/ && /nan/ { print "empty measurement: " $0 }' "$out")
if [ -n "$bad" ]; then echo "run.sh: FAILED sanity checks:"; echo "$bad"; exit 1; fi
echo "run.sh: done in $(( $(date +%s) - start )) s${results:+; tables appended to $results}"
