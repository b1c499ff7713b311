#!/bin/bash
# ICNP 2017 experiment (a): the path through the Layer-4 balancer is impaired; 10 MB downloads,
# regular TCP against MPTCP with the server-side load-balancing path manager.
#   perf/icnp/balancer.sh [--loss "0 1 2 5"] [--delay-rows "1:100"] [--reps N] [--bytes N] [--results FILE]
#   --loss        loss rates in % on the balancer path (nftables numgen, both directions, kernel forwarding)
#   --delay-rows  "LOSS:ONEWAY_MS ..." (default 0:100 1:100 2:100 5:100) rows run through a userspace delaying wire (wire.py) instead of the
#                 kernel router: every frame on the balancer path waits ONEWAY_MS in each direction
#                 (1:100 = 1 % loss, +200 ms RTT: the source's setting); "" for none
#   --reps N      transfers per protocol and row (TCP and MPTCP interleaved)
#   ICNP_PM=real|standin|auto (default auto: real if branch pm's path manager is present)
# Topology (namespaces $P-{r,w}{c,l,s}):
#   client c --bal--> balancer l --> server s (VIP on lo)      the balancer path (impaired)
#   client c <--dir--> server s (its own address 10.71.3.2)     the direct path (never impaired)
# Server replies to the client's balancer-side address go back through l as well (both directions lossy).
set -euo pipefail
. "$(cd "$(dirname "$0")/../.." && pwd)/perf/lib/require.sh"
require_tools ip:iproute2 tc:iproute2 nft:nftables ethtool:ethtool jq:jq python3:python3 sysctl:procps timeout:coreutils
. "$(dirname "$0")/lib.sh"

losses="0 1 2 5" delay_rows="0:100 1:100 2:100 5:100" reps=5 bytes=$((10 * 1000 * 1000)) results=
while [ $# -gt 0 ]; do
  case "$1" in
    --loss) losses=$2; shift ;;
    --delay-rows) delay_rows=$2; shift ;;
    --reps) reps=$2; shift ;;
    --bytes) bytes=$2; shift ;;
    --results) results=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "balancer.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
icnp_init ia
pm_resolve
VIP=10.71.9.1 DIRECT=10.71.3.2 PORT_MPTCP=5001 PORT_TCP=5002

build() {  # build r|w : r = kernel-routed balancer (nft loss), w = delaying wire (wire.py)
  local m=$1 c=$P-${1}c l=$P-${1}l s=$P-${1}s
  ns_add "$c"; ns_add "$l"; ns_add "$s"
  veth "$c" bal "$l" lc
  veth "$l" ls "$s" bal
  veth "$c" dir "$s" dir
  ip -n "$c" addr add 10.71.3.1/24 dev dir
  ip -n "$s" addr add $DIRECT/24 dev dir
  ip -n "$s" addr add $VIP/32 dev lo
  ip -n "$c" addr add 10.71.1.1/24 dev bal
  if [ "$m" = r ]; then
    ip -n "$l" addr add 10.71.1.2/24 dev lc
    ip -n "$l" addr add 10.71.2.2/24 dev ls
    ip -n "$s" addr add 10.71.2.1/24 dev bal
    nsx "$l" sysctl -qw net.ipv4.ip_forward=1
    ip -n "$l" route add $VIP/32 via 10.71.2.1
    ip -n "$c" route add $VIP/32 via 10.71.1.2
    ip -n "$s" route add 10.71.1.0/24 via 10.71.2.2
    nsx "$l" nft -f - <<EOF
table ip icnp {
  chain impair { type filter hook forward priority 0; policy accept; }
}
EOF
  else
    ip -n "$s" addr add 10.71.1.2/24 dev bal
    ip -n "$c" route add $VIP/32 via 10.71.1.2
  fi
  # Every frame on every path is one MTU-sized packet: without this, veths pass 64 KB GSO super-packets
  # and one nftables drop would remove ~45 segments at once (and the user-space wire could not send them).
  # tx checksumming off as well, for the wire (it relays frames from user space). Same on both paths.
  local x
  for x in "$c bal" "$c dir" "$s bal" "$s dir" "$l lc" "$l ls"; do
    nsx ${x% *} ethtool -K ${x#* } tx off tso off gso off gro off >/dev/null
  done
  pm_client "$c"
  pm_server "$s" $DIRECT $VIP $PORT_MPTCP "$WORK"
  bg_in "$s" "$WORK/serve-mptcp-$m.log" $BULK serve --port $PORT_MPTCP --mptcp
  bg_in "$s" "$WORK/serve-tcp-$m.log" $BULK serve --port $PORT_TCP
}

set_loss() {  # set_loss PCT on the routed balancer (both directions)
  local t; t=$(awk -v p="$1" 'BEGIN { printf "%d", p * 100 + 0.5 }')
  nsx "$P-rl" nft flush chain ip icnp impair
  nsx "$P-rl" nft add rule ip icnp impair counter
  nsx "$P-rl" nft add rule ip icnp impair numgen random mod 10000 '<' "$t" counter drop
}

rx() { nsx "$1" cat "/sys/class/net/$2/statistics/rx_bytes"; }

build r
build w
sleep 1
bg_in "$P-wl" "$WORK/wire-check.log" /usr/bin/python3 "$icnp_here/wire.py" lc ls
sleep 1
for m in r w; do  # sanity: both paths answer before anything is measured
  nsx "$P-${m}c" ping -q -c1 -W2 $VIP >/dev/null || { echo "balancer.sh: $VIP unreachable ($m)" >&2; exit 1; }
  nsx "$P-${m}c" ping -q -c1 -W2 $DIRECT >/dev/null || { echo "balancer.sh: $DIRECT unreachable ($m)" >&2; exit 1; }
done
kill "${ICNP_PIDS[-1]}"; wait "${ICNP_PIDS[-1]}" 2>/dev/null || true

raw="$WORK/raw.txt"; : > "$raw"
run_row() {  # run_row MODE LOSS ONEWAY_MS
  local m=$1 loss=$2 d=$3 c=$P-${1}c wpid=
  if [ "$m" = r ]; then set_loss "$loss"
  else
    bg_in "$P-wl" "$WORK/wire-$loss-$d.log" /usr/bin/python3 "$icnp_here/wire.py" lc ls --delay-ms "$d" --loss-pct "$loss"
    wpid=${ICNP_PIDS[-1]}
    sleep 1
  fi
  for ((i = 1; i <= reps; i++)); do
    for proto in tcp mptcp; do
      local port=$PORT_TCP flag=
      [ "$proto" = mptcp ] && { port=$PORT_MPTCP; flag=--mptcp; }
      local d0 b0 out
      d0=$(rx "$c" dir); b0=$(rx "$c" bal)
      out=$(nsx "$c" timeout 600 $BULK get --to $VIP --port $port --bytes "$bytes" --timeout 120 $flag || true)
      [ -n "$out" ] || out='{"seconds":0,"bytes":0,"goodput_mbps":0,"subflows":-1,"error":"killed after 600 s"}'
      local dd bb
      dd=$(( $(rx "$c" dir) - d0 )); bb=$(( $(rx "$c" bal) - b0 ))
      echo "$loss $d $proto $(jq -r '[.seconds, .goodput_mbps, .subflows, (.error // "-" | gsub(" "; "_"))] | @tsv' <<<"$out") $dd $bb $(jq -r '.data_mbps // 0' <<<"$out")" >> "$raw"
      echo "  loss=$loss% delay=${d}ms $proto #$i: $out direct=$dd bal=$bb" >&2
    done
  done
  if [ -n "$wpid" ]; then kill "$wpid"; wait "$wpid" 2>/dev/null || true; cat "$WORK/wire-$loss-$d.log" >&2; fi
  if [ "$m" = r ]; then
    echo "  nft on the balancer (all, dropped): $(nsx "$P-rl" nft list chain ip icnp impair | grep -o 'packets [0-9]*' | tr '\n' ' ')" >&2
  fi
}

start=$(date +%s)
for loss in $losses; do run_row r "$loss" 0; done
for row in $delay_rows; do run_row w "${row%%:*}" "${row##*:}"; done
took=$(( $(date +%s) - start ))

table() {
  echo "### Experiment (a): impaired balancer path, $((bytes / 1000000)) MB downloads ($(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r))"
  echo
  echo "MPTCP path manager: $(pm_label). $reps transfers per cell; time = connect() to last byte at the client;"
  echo "Mbit/s = 10 MB over that time; \"after 1st byte\" leaves connection set-up out (what iperf-style tools report)."
  echo "Joined subflows: MPTCP_INFO subflows at the end of each transfer (1 = the join to the server's own address)."
  echo
  echo "| loss on balancer path | added RTT | protocol | n ok | median s | mean s | median Mbit/s | mean Mbit/s | median Mbit/s after 1st byte | bytes via direct path | joined subflows | failed |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  awk '{print $1" "$2}' "$raw" | uniq | while read -r loss d; do
    for proto in tcp mptcp; do
      local sel="$WORK/sel"
      awk -v l="$loss" -v d="$d" -v p="$proto" '$1==l && $2==d && $3==p' "$raw" > "$sel"
      local ok fails secs mbps dir bal sub
      ok=$(awk '$7=="-"' "$sel" | wc -l); fails=$(awk '$7!="-"' "$sel" | wc -l)
      secs=$(awk '$7=="-" {print $4}' "$sel" | stats); mbps=$(awk '$7=="-" {print $5}' "$sel" | stats)
      local data; data=$(awk '$7=="-" {print $10}' "$sel" | stats)
      dir=$(awk '{s+=$8} END {print s+0}' "$sel"); bal=$(awk '{s+=$9} END {print s+0}' "$sel")
      sub=$(awk '{print $6}' "$sel" | sort -u | tr '\n' ' ')
      local pct; pct=$(awk -v a="$dir" -v b="$bal" 'BEGIN { printf "%.1f %%", (a+b) ? 100*a/(a+b) : 0 }')
      [ "$proto" = tcp ] && sub="-"
      echo "| $loss % | $([ "$d" = 0 ] && echo 0 || echo "+$((2 * d)) ms") | $([ "$proto" = tcp ] && echo "TCP" || echo "MPTCP + PM") | $ok | $(cut -d' ' -f2 <<<"$secs") | $(cut -d' ' -f1 <<<"$secs") | $(cut -d' ' -f2 <<<"$mbps") | $(cut -d' ' -f1 <<<"$mbps") | $(cut -d' ' -f2 <<<"$data") | $pct | $sub | $fails |"
    done
  done
  echo
  echo "Loss: nftables \`numgen random mod 10000 < 100*p drop\` in the balancer's forward chain (rows with 0 added RTT),"
  echo "or drawn per frame by the delaying wire (wire.py; rows with added RTT). Source (ICNP 2017), 1 % loss + 200 ms"
  echo "delay on the balancer path, 10 MB: TCP 16 Mbit/s, MPTCP + path manager 803 Mbit/s. Run took ${took} s."
}
table | tee "$WORK/table.md"
if [ -n "$results" ]; then { cat "$WORK/table.md"; echo; } >> "$results"; fi
