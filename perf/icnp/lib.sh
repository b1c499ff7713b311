# Shared helpers for the ICNP 2017 experiment scripts (sourced, not run).
# Every namespace is named "$P-..." with a random prefix P, recorded when created, and removed by
# icnp_cleanup (installed as an EXIT trap by icnp_init), also when a script fails half-way.

icnp_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
icnp_root=$(cd "$icnp_here/../.." && pwd)
BULK="/usr/bin/python3 $icnp_here/bulk.py"
ICNP_NS=()
ICNP_PIDS=()

icnp_init() {   # icnp_init STEM: sets P (e.g. "ia3f9c"), installs the cleanup trap
  P="$1$(printf '%04x' $((RANDOM * 2 + RANDOM % 2)) | cut -c1-4)"
  WORK=$(mktemp -d "/tmp/icnp-$P.XXXXXX")
  trap icnp_cleanup EXIT
  trap 'exit 130' INT TERM
  [ "$(id -u)" = 0 ] || { echo "$0: needs root (network namespaces)" >&2; exit 1; }
}

icnp_cleanup() {
  local rc=$?
  local pid i
  # TERM first (the appliance then stops cleanly and removes its DPDK run files), up to 5 s; then KILL
  # whatever still runs in our namespaces.
  for pid in "${ICNP_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for i in $(seq 1 50); do
    local alive=0
    for pid in "${ICNP_PIDS[@]}"; do  # running, and not a zombie waiting to be reaped
      case "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" in ''|Z) ;; *) alive=1 ;; esac
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for ((i=${#ICNP_NS[@]}-1; i>=0; i--)); do
    local ns=${ICNP_NS[$i]}
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  wait 2>/dev/null || true   # reap our children quietly
  rm -rf "/var/run/dpdk/icnp-$P" 2>/dev/null || true
  [ "${KEEP_WORK:-0}" = 1 ] && echo "work directory kept: $WORK" >&2 || rm -rf "$WORK"
  exit $rc
}

ns_add() {      # ns_add NAME: a namespace with lo up, no DAD, mptcp enabled
  ip netns add "$1"
  ICNP_NS+=("$1")
  ip -n "$1" link set lo up
  nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.mptcp.enabled=1
}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

bg_in() {       # bg_in NS LOGFILE CMD...: start CMD in NS in the background, remember its pid
  local ns=$1 log=$2; shift 2
  ip netns exec "$ns" "$@" >"$log" 2>&1 &
  ICNP_PIDS+=($!)
}

veth() {        # veth NS_A IF_A NS_B IF_B: a veth pair between two namespaces (never in the root namespace), both ends up
  ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

# Server-side MPTCP path manager.
#   real     : the load-balancing path manager from branch pm (announces the server's own address,
#              marks the initial subflow backup, C flag). Started by pm_start_real (below).
#   standin  : STAND-IN, not the real path manager: the in-kernel PM with `ip mptcp endpoint add
#              OWN signal` and allow_join_initial_addr_port=0 (C flag). It announces the same address
#              but CANNOT mark the initial subflow backup, so the scheduler keeps sending on both.
PM=${ICNP_PM:-auto}
pm_resolve() {
  if [ "$PM" = auto ]; then
    if pm_real_available; then PM=real; else PM=standin; fi
  fi
  case "$PM" in real|standin) ;; *) echo "ICNP_PM must be real, standin or auto" >&2; exit 2 ;; esac
  [ "$PM" = real ] && ! pm_real_available && { echo "real path manager not available (branch pm not merged/built)" >&2; exit 1; }
  true
}
pm_label() { [ "$PM" = real ] && echo "the load-balancing path manager (mptcpd 0.12 + native/mptcpd-plugin switchyard_pm: own address announced, initial subflow backup, C flag)" || echo "STAND-IN: in-kernel PM, signal endpoint + C flag, no backup initial subflow"; }

pm_real_available() { [ -x "$icnp_here/pm-real.sh" ] && "$icnp_here/pm-real.sh" check >/dev/null 2>&1; }

pm_server() {   # pm_server NS OWN_ADDR VIP PORT LOGDIR: the server side of the PM in NS, for MPTCP connections to VIP:PORT
  local ns=$1 own=$2 vip=$3 port=$4 logdir=$5
  nsx "$ns" sysctl -qw net.mptcp.allow_join_initial_addr_port=0
  if [ "$PM" = real ]; then
    ICNP_PIDS+=("$("$icnp_here/pm-real.sh" start "$ns" "$own" "$vip" "$port" "$logdir/pm-$ns.log")")
  else
    nsx "$ns" sysctl -qw net.mptcp.path_manager=kernel
    ip -n "$ns" mptcp limits set subflows 2 add_addr_accepted 0
    ip -n "$ns" mptcp endpoint add "$own" signal
  fi
}

pm_client() {   # pm_client NS: accept the announced address, one extra subflow
  ip -n "$1" mptcp limits set add_addr_accepted 2 subflows 2
}

# Statistics over numbers on stdin: "mean median min max n"
stats() { sort -g | awk '{a[NR]=$1; s+=$1} END {if (NR==0) {print "- - - - 0"; exit}
  m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.2f %.2f %.2f %.2f %d\n", s/NR, m, a[1], a[NR], NR}'; }
