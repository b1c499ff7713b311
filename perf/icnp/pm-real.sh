#!/bin/bash
# The real load-balancing path manager (native/mptcpd-plugin: mptcpd + the switchyard_pm plugin) for the
# ICNP experiments.
#   pm-real.sh check                          exit 0 when the plugin and its start script are present (builds
#                                             the plugin with make when only the source is there)
#   pm-real.sh start NS OWN VIP PORT LOG      start it in NS in the background: connections to VIP:PORT announce
#                                             OWN and get their initial subflow marked backup; prints the pid
# ICNP_PM_DIR overrides where native/mptcpd-plugin is (default: this repository's).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src=${ICNP_PM_DIR:-$root/native/mptcpd-plugin}
run="$src/switchyard-pm-run"
plugin="$src/../build/mptcpd-plugin/switchyard_pm.so"

case "${1:-}" in
  check)
    [ -x "$run" ] && [ -f "$src/switchyard_pm.c" ] || exit 1
    [ -f "$plugin" ] || make -s -C "$src" >&2 || exit 1
    [ -f "$plugin" ] && [ -x /usr/libexec/mptcpd ]
    ;;
  start)
    ns=$2 own=$3 vip=$4 port=$5 log=$6
    cfg="${log%.log}.json"
    cat > "$cfg" <<EOF
{ "PathManager": { "Vips": [
  { "Name": "icnp", "Address": "$vip", "Port": $port, "Mode": "announced-address", "Announce": "$own" } ] } }
EOF
    "$run" --netns "$ns" --config "$cfg" --plugin-dir "$(dirname "$plugin")" >"$log" 2>&1 &
    pid=$!
    # Ready once mptcpd has loaded the plugin (or failed): up to 10 s.
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || { echo "pm-real.sh: mptcpd exited in $ns:" >&2; cat "$log" >&2; exit 1; }
      [ "$(ip netns exec "$ns" sysctl -n net.mptcp.path_manager 2>/dev/null)" = userspace ] && grep -qi "switchyard" "$log" && break
      sleep 0.1
    done
    sleep 0.5
    echo "$pid"
    ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
