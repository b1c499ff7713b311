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
. "$(cd "$(dirname "$0")/../.." && pwd)/perf/lib/require.sh"
require_tools ip:iproute2 tc:iproute2 nft:nftables ethtool:ethtool python3:python3 sysctl:procps timeout:coreutils tcpdump:tcpdump tshark:tshark
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

sleep_until() { local d; d=$(awk -v t="$1" -v n="$(date +%s.%N)" 'BEGIN { d = t - n; print (d > 0 ? d : 0) }'); sleep "$d"; }

run_protocol() {  # run_protocol tcp|mptcp: one full schedule. Writes $WORK/$proto-*: client logs (epoch-stamped
                  # 0.5 s byte counts), the timeline (t0, then "REQUESTED DONE SERVER_REMOVED_OR_0"
                  # for each change: the command's start and return), every RST the clients received (tcpdump), and the clients' nftables RST totals.
  local proto=$1 flag= i t0 e removed=0 tl="$WORK/$proto-timeline.txt"
  CLIENT_PIDS=() CAPTURE_PIDS=()
  [ "$proto" = mptcp ] && flag=--mptcp
  "${balancer}_readd" 0
  for ((i = 1; i <= clients; i++)); do  # every RST a client receives, for the per-event listing
    bg_in "${CLIENT_NS[$i]}" "$WORK/$proto-tcpdump-$i.log" tcpdump -i eth0 -Q in -s 128 -U \
      -w "$WORK/$proto-rst-$i.pcap" 'tcp[tcpflags] & tcp-rst != 0'
    CAPTURE_PIDS+=("${ICNP_PIDS[-1]}")
  done
  sleep 2
  rsts > "$WORK/$proto-nft-before"
  t0=$(date +%s.%N)
  echo "$t0 $t0 0" > "$tl"
  for ((i = 1; i <= clients; i++)); do
    bg_in "${CLIENT_NS[$i]}" "$WORK/$proto-client-$i.out" $BULK stream --to "$VIP" --port $PORT \
      --conns "$conns" --duration $((duration + 2)) --log "$WORK/$proto-client-$i.log" $flag
    CLIENT_PIDS+=("${ICNP_PIDS[-1]}")
  done
  for ((e = 10; e < duration; e += 5)); do
    sleep_until "$(awk -v a="$t0" -v e="$e" 'BEGIN { printf "%.3f", a + e }')"
    local treq; treq=$(date +%s.%N)
    if [ $((e % 10)) = 0 ]; then
      removed=$(( (e / 10 - 1) % NSERVERS + 1 ))
      "${balancer}_remove" "$removed"
      echo "  t=${e}s: server $removed removed" >&2
    else
      "${balancer}_readd" "$removed"
      echo "  t=${e}s: server $removed re-added" >&2
      removed=0
    fi
    echo "$treq $(date +%s.%N) $removed" >> "$tl"
  done
  sleep_until "$(awk -v a="$t0" -v e="$duration" 'BEGIN { printf "%.3f", a + e }')"
  rsts > "$WORK/$proto-nft-after"
  wait_clients
  local pid
  for pid in "${CAPTURE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  # One line per RST: epoch, from, to, MPTCP reset reason (- if none).
  for ((i = 1; i <= clients; i++)); do
    tshark -r "$WORK/$proto-rst-$i.pcap" -T fields -E separator=' ' -e frame.time_epoch -e ip.src -e tcp.srcport \
      -e ip.dst -e tcp.dstport -e tcp.options.mptcp.rst_reason 2>/dev/null
  done | awk '{ printf "%s %s:%s %s:%s %s\n", $1, $2, $3, $4, $5, ($6 == "" ? "-" : "mptcp-reason-" $6) }' \
    | sort -g > "$WORK/$proto-rsts.txt"
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

ICNP_VIP=$VIP /usr/bin/python3 - "$WORK" "$duration" "$clients" "$balancer" "$(pm_label)" "$rate" "$conns" "$took" "$("${balancer}_describe")" $protocols <<'EOF' | tee "$WORK/table.md"
import sys, statistics, time, os, json
work, duration, clients, balancer, pm, rate, conns, took, describe = sys.argv[1:10]
vip = os.environ["ICNP_VIP"]
protocols = sys.argv[10:]
duration, clients, conns = float(duration), int(clients), int(conns)
print(f"### Experiment (b): anycast, {balancer} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.uname().release})")
print()
print(f"{describe}. 3 servers, each limited to {rate} (tbf); {clients} clients x {conns} long downloads, {duration:.0f} s per")
print(f"protocol; every 10 s one server removed for 5 s. MPTCP path manager: {pm}.")
print("Throughput: per client, its 0.5 s bins that lie wholly in one state (the first 2 s left out), summed over the clients.")
print("RSTs: TCP segments with RST received by the clients (tcpdump; in brackets the clients' nftables counter over the")
print("same time), by the change that preceded them (from the moment its command started). Failed: connections the clients lost (RST, or 5 s without")
print("data) and replaced at once.")
print()
print("| protocol | Mbit/s, 3 servers | Mbit/s, 2 servers | 2/3 ratio | RSTs after removals | RSTs after re-adds | RSTs in total (nft) | connections failed | connections with a join |")
print("|---|---|---|---|---|---|---|---|---|")
spikes = []
for proto in protocols:
    tl = [l.split() for l in open(f"{work}/{proto}-timeline.txt")]
    t0 = float(tl[0][0])
    # (seconds when the change was requested, server removed or 0); it took effect before the command returned
    events = [(float(r[0]) - t0, int(r[2])) for r in tl[1:]]
    changing = [(float(r[0]) - t0, float(r[1]) - t0) for r in tl[1:]]

    def state(t):  # server removed at t (0: all three in), -1 before the first change
        st = -1
        for te, r in events:
            if te <= t:
                st = r
        return st if st != -1 else 0

    def window(t):  # index of the last change at or before t, -1 before the first
        k = -1
        for i, (te, _) in enumerate(events):
            if te <= t:
                k = i
        return k

    # Throughput: each client's 0.5 s bins that lie wholly in one state (and after the first 2 s), summed over clients.
    rate3 = rate2 = 0.0
    fails = conns_total = conns_join = 0
    for i in range(1, clients + 1):
        b3 = n3 = b2 = n2 = 0
        lines = [l.split() for l in open(f"{work}/{proto}-client-{i}.log")]
        lines = [l for l in lines if float(l[0]) - t0 <= duration]  # the clients run 2 s longer: no teardown
        for l in lines:
            te = float(l[0]) - t0
            ts = te - 0.5
            if ts < 2 or window(ts) != window(te) or any(a < te and ts < b for a, b in changing):
                continue  # the bin spans a change, or the time its command ran (switchyard ctl: ~1 s)
            if state(ts):
                b2 += int(l[1]); n2 += 1
            else:
                b3 += int(l[1]); n3 += 1
        rate3 += b3 * 8 / (n3 * 0.5) / 1e6 if n3 else float("nan")
        rate2 += b2 * 8 / (n2 * 0.5) / 1e6 if n2 else float("nan")
        if lines:
            fails += int(lines[-1][2]) + int(lines[-1][3])
        try:
            last = json.loads(open(f"{work}/{proto}-client-{i}.out").read().strip().splitlines()[-1])
            conns_total += last["connections"]; conns_join += last["with_join"]
        except (OSError, ValueError, IndexError, KeyError):
            pass
    # RSTs: from the clients' captures, by the change that preceded them.
    rl = []
    for l in open(f"{work}/{proto}-rsts.txt"):
        f = l.split()
        t = float(f[0]) - t0
        if 0 <= t <= duration:
            rl.append((t, f[1], f[3]))
    rst_rm = sum(1 for t, _, _ in rl if window(t) >= 0 and state(t))
    rst_add = sum(1 for t, _, _ in rl if window(t) >= 0 and not state(t))
    rst_before = sum(1 for t, _, _ in rl if window(t) < 0)
    nft = int(open(f"{work}/{proto}-nft-after").read()) - int(open(f"{work}/{proto}-nft-before").read())
    name = "TCP" if proto == "tcp" else "MPTCP + PM"
    joins = f"{conns_join} of {conns_total}" if proto == "mptcp" else f"- ({conns_total} in all)"
    print(f"| {name} | {rate3:.0f} | {rate2:.0f} | {rate2 / rate3:.2f} | {rst_rm} | {rst_add} | {len(rl)} ({nft}) | {fails} | {joins} |")
    per = []
    for k, (te, r) in enumerate(events):
        lab = f"-{r}" if r else f"+{events[k - 1][1] if k else '?'}"
        per.append(f"{lab}@{te:.1f}s: {sum(1 for t, _, _ in rl if window(t) == k)}")
    took_cmd = [b - a for a, b in changing]
    srcs = {}
    for t, src, flag in rl:
        key = ("from the VIP" if src.split(":")[0] == vip else "from a server address") + (" with MP_TCPRST" if flag != "-" else "")
        srcs[key] = srcs.get(key, 0) + 1
    spikes.append(f"- {name}: before the first change: {rst_before}; " + ", ".join(per) +
                  (f"; change commands took {min(took_cmd):.2f}-{max(took_cmd):.2f} s" if took_cmd else "") +
                  (f" ({'; '.join(f'{k}: {v}' for k, v in sorted(srcs.items()))})" if srcs else ""))
print()
print("RSTs received per event window (tcpdump at the clients; -N = server N removed, +N = re-added):")
print("\n".join(spikes))
print()
print("Source (ICNP 2017, ECMP pool of 3): TCP about 2800 Mbit/s with 3 servers and 1900 with 2 (ratio 0.68), RST spikes at")
print(f"every removal and re-add; MPTCP + path manager: no drop in bandwidth, no RST. Run took {took} s.")
EOF
if [ -n "$results" ]; then { cat "$WORK/table.md"; echo; } >> "$results"; fi
