#!/bin/bash
# ICNP 2017 experiment (b): an anycast service on 3 servers; every 10 s one server is removed for 5 s;
# long downloads from several clients; throughput with 3 and with 2 servers, and the RSTs the clients
# receive; regular TCP against MPTCP with the server-side load-balancing path manager.
#   perf/icnp/anycast.sh [--balancer ecmp|switchyard] [--duration S] [--clients K] [--conns M]
#                        [--server-rate RATE] [--protocols "tcp mptcp"] [--results FILE]
#   --balancer ecmp        a router namespace with an ECMP multipath route to the VIP over the 3 servers
#                          (fib_multipath_hash_policy=1: L4 hash); removal = the nexthop leaves the route
#   --balancer switchyard  the Switchyard appliance (L2 DSR, DPDK net_af_packet) in place of the router;
#                          removal = `switchyard ctl backend disable`, re-add = `backend enable`
#   --duration S           seconds per protocol (default 60: removals at 10, 20, ..., re-adds 5 s later)
#   --clients K --conns M  K client namespaces with M long connections each (default 3 x 4)
#   --server-rate RATE     tbf on each server's egress (default 200mbit): the servers' capacity, so that
#                          2 servers can serve less than 3, as in the source (where servers were the limit)
#   ICNP_PM=real|standin|auto as in balancer.sh
# A removed server stays up and reachable on its own address: only the anycast route (or the balancer's
# backend) goes, as when a site is withdrawn. Connections that fail are replaced at once by the client.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

balancer=ecmp duration=60 clients=3 conns=4 rate=200mbit protocols="tcp mptcp" results=
while [ $# -gt 0 ]; do
  case "$1" in
    --balancer) balancer=$2; shift ;;
    --duration) duration=$2; shift ;;
    --clients) clients=$2; shift ;;
    --conns) conns=$2; shift ;;
    --server-rate) rate=$2; shift ;;
    --protocols) protocols=$2; shift ;;
    --results) results=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "anycast.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
case "$balancer" in ecmp|switchyard) ;; *) echo "anycast.sh: --balancer ecmp|switchyard" >&2; exit 2 ;; esac
icnp_init ib
pm_resolve
NSERVERS=3 PORT=5001

# ---------------------------------------------------------------- ECMP router
VIP_ECMP=10.75.0.1
ecmp_build() {
  VIP=$VIP_ECMP
  local r=$P-r j i
  ns_add "$r"
  nsx "$r" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
  for ((j = 1; j <= NSERVERS; j++)); do
    ns_add "$P-s$j"
    veth "$r" "s$j" "$P-s$j" eth0
    ip -n "$r" addr add "10.74.$j.2/24" dev "s$j"
    ip -n "$P-s$j" addr add "10.74.$j.1/24" dev eth0
    ip -n "$P-s$j" addr add "$VIP/32" dev lo
    ip -n "$P-s$j" route add default via "10.74.$j.2"
    SERVER_NS[$j]=$P-s$j SERVER_ADDR[$j]=10.74.$j.1 SERVER_IF[$j]=eth0
  done
  for ((i = 1; i <= clients; i++)); do
    ns_add "$P-c$i"
    veth "$r" "c$i" "$P-c$i" eth0
    ip -n "$r" addr add "10.73.$i.2/24" dev "c$i"
    ip -n "$P-c$i" addr add "10.73.$i.1/24" dev eth0
    ip -n "$P-c$i" route add default via "10.73.$i.2"
    CLIENT_NS[$i]=$P-c$i
  done
  ecmp_route 0
}
ecmp_route() {  # ecmp_route J: the VIP route over every server but J (0: all of them)
  local hops=() j
  for ((j = 1; j <= NSERVERS; j++)); do [ "$j" = "$1" ] || hops+=(nexthop via "10.74.$j.1" dev "s$j"); done
  ip -n "$P-r" route replace "$VIP/32" "${hops[@]}"
}
ecmp_remove() { ecmp_route "$1"; }
ecmp_readd() { ecmp_route 0; }
ecmp_describe() { echo "router namespace, ECMP route over 3 servers, fib_multipath_hash_policy=1 (L4); removal = nexthop withdrawn"; }

# ---------------------------------------------------------------- Switchyard (L2 DSR)
. "$icnp_here/switchyard-lb.sh"

# ---------------------------------------------------------------- common
declare -A SERVER_NS SERVER_ADDR SERVER_IF CLIENT_NS
"${balancer}_build"
for ((j = 1; j <= NSERVERS; j++)); do
  s=${SERVER_NS[$j]}
  # The servers' capacity: a token bucket on egress (the data direction).
  nsx "$s" tc qdisc add dev "${SERVER_IF[$j]}" root tbf rate "$rate" burst 256kb latency 50ms
  pm_server "$s" "${SERVER_ADDR[$j]}" "$VIP" $PORT "$WORK"
  bg_in "$s" "$WORK/serve-$j.log" $BULK serve --port $PORT --mptcp
done
for ((i = 1; i <= clients; i++)); do
  c=${CLIENT_NS[$i]}
  pm_client "$c"
  nsx "$c" nft -f - <<'EOF'
table inet icnp {
  chain in {
    type filter hook input priority 0; policy accept;
    tcp flags & rst == rst counter
  }
}
EOF
done
sleep 1
for ((i = 1; i <= clients; i++)); do
  # One short TCP transfer per client (the appliance answers no ICMP echo for a TCP VIP).
  nsx "${CLIENT_NS[$i]}" $BULK get --to "$VIP" --port $PORT --bytes 100000 --timeout 5 >/dev/null \
    || { echo "anycast.sh: client $i cannot download from $VIP:$PORT" >&2; exit 1; }
done

rsts() {  # RST segments received by all clients so far
  local i n=0 k
  for ((i = 1; i <= clients; i++)); do
    k=$(nsx "${CLIENT_NS[$i]}" nft list chain inet icnp in | grep -o 'packets [0-9]*' | awk '{print $2}')
    n=$((n + k))
  done
  echo $n
}

run_protocol() {  # run_protocol tcp|mptcp: one full schedule; writes $WORK/$proto-*.log and the timeline
  local proto=$1 flag= i
  CLIENT_PIDS=()
  [ "$proto" = mptcp ] && flag=--mptcp
  "${balancer}_readd" 0
  sleep 2
  for ((i = 1; i <= clients; i++)); do
    bg_in "${CLIENT_NS[$i]}" "$WORK/$proto-client-$i.out" $BULK stream --to "$VIP" --port $PORT \
      --conns "$conns" --duration $((duration + 2)) --log "$WORK/$proto-client-$i.log" $flag
    CLIENT_PIDS+=("${ICNP_PIDS[-1]}")
  done
  local t0 tl="$WORK/$proto-timeline.txt" k tt removed=0 now
  t0=$(date +%s.%N)
  : > "$tl"
  for ((k = 0; k <= 2 * duration; k++)); do
    now=$(date +%s.%N)
    sleep "$(awk -v a="$t0" -v k="$k" -v n="$now" 'BEGIN { d = a + k / 2 - n; print (d > 0 ? d : 0) }')"
    tt=$((k * 5))  # in units of 0.1 s: k * 0.5 s
    rst_pre=$(rsts)  # before this tick's change: the RSTs since the last tick belong to the state before it
    if [ $((tt % 50)) = 0 ] && [ "$tt" -ge 100 ] && [ "$k" -lt $((2 * duration)) ]; then
      if [ $((tt % 100)) = 0 ]; then
        removed=$(( (tt / 100 - 1) % NSERVERS + 1 ))
        "${balancer}_remove" "$removed"
        echo "  t=$((tt / 10))s: server $removed removed" >&2
      else
        "${balancer}_readd" "$removed"
        echo "  t=$((tt / 10))s: server $removed re-added" >&2
        removed=0
      fi
    fi
    echo "$((tt / 10)).$((tt % 10)) $removed $rst_pre" >> "$tl"
  done
  wait_clients
}

wait_clients() {  # the clients stop by themselves 2 s after the schedule's end
  local pid
  for pid in "${CLIENT_PIDS[@]}"; do wait "$pid" || true; done
}

start=$(date +%s)
for proto in $protocols; do
  echo "anycast.sh: $balancer, $proto, ${duration}s, $clients x $conns connections" >&2
  run_protocol "$proto"
done
took=$(( $(date +%s) - start ))

/usr/bin/python3 - "$WORK" "$duration" "$clients" "$balancer" "$(pm_label)" "$rate" "$conns" "$took" "$("${balancer}_describe")" $protocols <<'EOF' | tee "$WORK/table.md"
import sys, statistics, time, os, json
work, duration, clients, balancer, pm, rate, conns, took, describe = sys.argv[1:10]
protocols = sys.argv[10:]
duration, clients, conns = float(duration), int(clients), int(conns)
print(f"### Experiment (b): anycast, {balancer} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.uname().release})")
print()
print(f"{describe}. 3 servers, each limited to {rate} (tbf); {clients} clients x {conns} long downloads, {duration:.0f} s per")
print(f"protocol; every 10 s one server removed for 5 s. MPTCP path manager: {pm}.")
print("Throughput: mean of 0.5 s bins (the first 2 s and the bin of each change left out). RSTs: TCP segments with RST")
print("received by the clients (nftables counter). Failed: connections the clients lost (RST or 5 s without data) and replaced.")
print()
print("| protocol | Mbit/s, 3 servers | Mbit/s, 2 servers | 2/3 ratio | RSTs after removals | RSTs after re-adds | RSTs in total | connections failed | connections with a join |")
print("|---|---|---|---|---|---|---|---|---|")
for proto in protocols:
    tl = [l.split() for l in open(f"{work}/{proto}-timeline.txt")]
    # timeline row k: time t (s), server removed during [t, t+0.5) (0: none), cumulative RSTs just before t
    bins = {}
    fails = 0
    conns_total = conns_join = 0
    for i in range(1, clients + 1):
        try:
            last = json.loads(open(f"{work}/{proto}-client-{i}.out").read().strip().splitlines()[-1])
            conns_total += last["connections"]; conns_join += last["with_join"]
        except (OSError, ValueError, IndexError, KeyError):
            pass
    for i in range(1, clients + 1):
        lines = [l.split() for l in open(f"{work}/{proto}-client-{i}.log")]
        lines = [l for l in lines if float(l[0]) <= duration + 0.01]  # the clients run 2 s longer: no teardown
        for l in lines:
            t = round(float(l[0]) * 2) / 2  # end of the bin
            bins[t] = bins.get(t, 0) + int(l[1])
        if lines:
            fails += int(lines[-1][2]) + int(lines[-1][3])
    state = {float(r[0]): int(r[1]) for r in tl}
    three, two = [], []
    changes = {float(r[0]) for r, p in zip(tl[1:], tl) if r[1] != p[1]}
    for t_end, b in bins.items():
        t = t_end - 0.5
        if t < 2 or t not in state or t in changes:
            continue
        (two if state[t] else three).append(b * 8 / 0.5 / 1e6)
    rst_rm = rst_add = 0
    for r, p in zip(tl[1:], tl):
        d = int(r[2]) - int(p[2])
        # RSTs in [p.t, r.t) belong to the state entered at p.t: a removal window or a re-add window
        if int(p[1]):
            rst_rm += d
        elif float(p[0]) >= 10:
            rst_add += d
    total = int(tl[-1][2]) - int(tl[0][2])
    m3 = statistics.mean(three) if three else float("nan")
    m2 = statistics.mean(two) if two else float("nan")
    name = "TCP" if proto == "tcp" else "MPTCP + PM"
    joins = f"{conns_join} of {conns_total}" if proto == "mptcp" else f"- ({conns_total} in all)"
    print(f"| {name} | {m3:.0f} | {m2:.0f} | {m2 / m3:.2f} | {rst_rm} | {rst_add} | {total} | {fails} | {joins} |")
print()
print("Source (ICNP 2017, ECMP pool of 3): TCP about 2800 Mbit/s with 3 servers and 1900 with 2 (ratio 0.68), RST spikes at")
print(f"every removal and re-add; MPTCP + path manager: no drop in bandwidth, no RST. Run took {took} s.")
EOF
if [ -n "$results" ]; then { cat "$WORK/table.md"; echo; } >> "$results"; fi
