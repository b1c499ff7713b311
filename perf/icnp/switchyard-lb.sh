# Switchyard in place of the ECMP router (sourced by anycast.sh): the L2 DSR topology of
# src/Tools/Demo/Topology.cs, built here in shell with this run's prefix:
#   $P-c1..cK (clients 198.18.0.1i)   $P-s1..s3 (servers 198.18.0.2j, VIP on lo)   $P-lb (appliance, DPDK
#   net_af_packet on lb0)   all on bridge br0 in $P-lan. Clients reach the VIP through the appliance (it answers
#   ARP for it); servers answer clients directly; MPTCP joins go to the servers' own addresses over the bridge.
# Removal = `switchyard ctl backend disable` (no new flows; flows pinned to it are re-steered: Pools[].RemovedFlows
# "rehash", the default), re-add = `switchyard ctl backend enable`.
# SWITCHYARD (default src/Management/bin/Release/net10.0/switchyard, built by run.sh) is the appliance binary.

VIP_SY=198.18.0.100
SWITCHYARD=${SWITCHYARD:-$icnp_root/src/Management/bin/Release/net10.0/switchyard}

sy_host() {  # sy_host NS BRIDGE_PORT MAC [ADDR/24]
  ns_add "$1"
  ip -n "$P-lan" link add "$2" type veth peer name eth0 netns "$1"
  ip -n "$1" link set eth0 address "$3"
  ip -n "$P-lan" link set "$2" master br0
  ip -n "$P-lan" link set "$2" up
  ip -n "$1" link set eth0 up
  # The appliance relays frames through AF_PACKET: no partial checksums from either side (environment.md).
  nsx "$1" ethtool -K eth0 tx off >/dev/null
  nsx "$P-lan" ethtool -K "$2" tx off >/dev/null
  [ -z "${4:-}" ] || ip -n "$1" addr add "$4" dev eth0
}

switchyard_build() {
  VIP=$VIP_SY
  [ -x "$SWITCHYARD" ] || { echo "anycast.sh: $SWITCHYARD missing (dotnet build src/Management -c Release)" >&2; exit 1; }
  "$SWITCHYARD" ctl --help >/dev/null 2>&1 || { echo "anycast.sh: this switchyard has no 'ctl' (merge branch ctl)" >&2; exit 1; }
  local i j backends=""
  ns_add "$P-lan"
  ip -n "$P-lan" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
  ip -n "$P-lan" link set br0 up
  for ((i = 1; i <= clients; i++)); do
    sy_host "$P-c$i" "c${i}br" "$(printf '02:53:59:01:00:%02x' "$i")" "198.18.0.$((10 + i))/24"
    CLIENT_NS[$i]=$P-c$i
  done
  for ((j = 1; j <= NSERVERS; j++)); do
    local mac; mac=$(printf '02:53:59:02:00:%02x' "$j")
    sy_host "$P-s$j" "s${j}br" "$mac" "198.18.0.$((20 + j))/24"
    nsx "$P-s$j" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
      net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
    ip -n "$P-s$j" addr add "$VIP/32" dev lo
    SERVER_NS[$j]=$P-s$j SERVER_ADDR[$j]=198.18.0.$((20 + j)) SERVER_IF[$j]=eth0
    backends+="${backends:+,}{ \"Name\": \"s$j\", \"Address\": \"198.18.0.$((20 + j))\", \"Mac\": \"$mac\" }"
  done
  sy_host "$P-lb" lbbr 02:53:59:03:00:00
  local worker=$(( $(nproc) > 1 ? 1 : 0 ))
  cat > "$WORK/appliance.json" <<EOF
{
  "Eal": { "Args": [ "--no-pci" ], "Vdevs": [ "net_af_packet0,iface=eth0,qpairs=1,framecnt=2048" ],
           "FilePrefix": "icnp-$P", "Hugepages": "off", "MemoryMb": 512 },
  "Ports": [ { "Name": "lan", "Device": "net_af_packet0", "Mtu": 1500, "Addresses": [ "198.18.0.2" ] } ],
  "Workers": [ { "Core": $worker, "Queues": [ { "Port": "lan", "Queue": 0 } ] } ],
  "Pools": [ { "Name": "anycast", "Forwarding": "l2dsr", "Backends": [ $backends ] } ],
  "Vips": [ { "Name": "icnp", "Address": "$VIP", "Port": $PORT, "Protocol": "tcp", "Pool": "anycast",
              "Joins": [ "announced-address" ] } ],
  "Dataplane": { "FlowTableEntries": 65536 },
  "Control": { "Socket": "$WORK/ctl.sock", "WatchConfigFile": false },
  "Run": { "CountersFile": "$WORK/counters.json", "CountersIntervalSeconds": 1 }
}
EOF
  bg_in "$P-lb" "$WORK/switchyard.log" "$SWITCHYARD" --config "$WORK/appliance.json"
  SY_PID=${ICNP_PIDS[-1]}
  for _ in $(seq 1 300); do
    [ -S "$WORK/ctl.sock" ] && sy_ctl list >/dev/null 2>&1 && break
    kill -0 "$SY_PID" 2>/dev/null || { echo "anycast.sh: switchyard exited:" >&2; tail -20 "$WORK/switchyard.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -S "$WORK/ctl.sock" ] || { echo "anycast.sh: no control socket after 30 s" >&2; tail -20 "$WORK/switchyard.log" >&2; exit 1; }
}
sy_ctl() { "$SWITCHYARD" ctl --socket "$WORK/ctl.sock" "$@"; }
switchyard_remove() { sy_ctl backend disable anycast "s$1" >&2; }
switchyard_readd() {
  local j
  if [ "$1" != 0 ]; then sy_ctl backend enable anycast "s$1" >&2; return; fi
  # Start of a run: make sure every backend is enabled (they are, unless a previous run was cut short).
  for ((j = 1; j <= NSERVERS; j++)); do sy_ctl backend enable anycast "s$j" >/dev/null 2>&1 || true; done
}
switchyard_describe() { echo "Switchyard (L2 DSR, DPDK net_af_packet, one worker) in place of the router; removal = \`switchyard ctl backend disable\`, re-add = \`backend enable\`"; }
