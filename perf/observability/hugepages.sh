# Sourced by session.sh and capture-cost.sh (bash). Before sourcing set: prefix (DPDK file prefix), work (a
# temporary directory), need (2 MiB hugepages wanted) and name (the script's name, for messages).
# Reserves hugepages (and mounts hugetlbfs) only when not enough are free, and on exit, also on failure, undoes
# exactly that, stops the appliance whose pid is in $app, removes the prefix's DPDK files and $work.
orig_nr=$(cat /proc/sys/vm/nr_hugepages)
set_nr= mounted= made_dir= app=
cleanup() {
  if [ -n "$app" ] && kill -0 "$app" 2>/dev/null; then kill -TERM "$app"; wait "$app" || true; fi
  rm -f /dev/hugepages/${prefix}map_* 2>/dev/null || true
  rm -rf /var/run/dpdk/$prefix 2>/dev/null || true
  if [ -n "$mounted" ]; then umount /dev/hugepages || true; fi
  if [ -n "$made_dir" ]; then rmdir /dev/hugepages || true; fi
  if [ -n "$set_nr" ] && [ "$(cat /proc/sys/vm/nr_hugepages)" = "$set_nr" ]; then echo "$orig_nr" > /proc/sys/vm/nr_hugepages; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
if [ "$free" -lt "$need" ]; then
  echo $((orig_nr + need - free)) > /proc/sys/vm/nr_hugepages
  set_nr=$(cat /proc/sys/vm/nr_hugepages)
  free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
fi
[ "$free" -ge "$need" ] || { echo "$name: only $free free hugepages ($need needed)" >&2; exit 1; }
if ! grep -q hugetlbfs /proc/mounts; then
  [ -d /dev/hugepages ] || { mkdir -p /dev/hugepages; made_dir=1; }
  mount -t hugetlbfs nodev /dev/hugepages; mounted=1
fi
