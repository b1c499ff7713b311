#!/bin/sh
# Installs the Debian packages Switchyard needs, when any is missing. Shared by .ci/run and the
# Deps build target. Needs root to install; without root it only reports what is missing.
# When another apt/dpkg process holds the package manager's lock, waits for it (at most
# SWITCHYARD_APT_LOCK_WAIT seconds, default 600, saying who holds it) instead of failing at once.
set -eu
# dpkg-dev and lintian: the Debian package (./build.sh package) and its test (PackageTests).
# meson ... xz-utils: pktgen-dpdk built from source (./build.sh pktgen) for PktgenSmokeTests.
pkgs="${SWITCHYARD_DEPS_PACKAGES:-gobgpd golang-github-osrg-gobgp-dev bird2 dpdk dpdk-dev libdpdk-dev pkg-config make gcc tshark tcpdump iproute2 ethtool nftables iperf3 mptcpd libmptcpd3-dev libjson-c-dev mptcpize libpcap-dev iputils-ping python3-scapy lua5.4 libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev ngtcp2-client ngtcp2-server openssl jq curl linux-perf dpkg-dev binutils lintian meson ninja-build libnuma-dev liblua5.4-dev patch xz-utils}"
# The locks apt and dpkg take (fcntl locks; lslocks lists them with their holder).
locks="${SWITCHYARD_APT_LOCKS:-/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock}"
wait_max="${SWITCHYARD_APT_LOCK_WAIT:-600}"
apt_get="${SWITCHYARD_APT_GET:-apt-get}"

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages:$missing (run as root to install them)" >&2
  exit 1
fi

# Prints "COMMAND (pid N) on PATH" for the first of $locks that a process holds, nothing when none is held.
lock_holder() {
  lslocks -n -r -o PID,COMMAND,PATH 2>/dev/null | while read -r pid cmd path; do
    for l in $locks; do
      if [ "$path" = "$l" ]; then echo "$cmd (pid $pid) on $path"; return 0; fi
    done
  done
}

# Waits until no process holds an apt/dpkg lock, at most $wait_max seconds in all.
start=$(date +%s)
wait_for_lock() {
  said=""
  while holder=$(lock_holder); [ -n "$holder" ]; do
    if [ -z "$said" ]; then
      echo "install-deps.sh: waiting for the apt/dpkg lock, held by $holder (at most ${wait_max} s)" >&2
      said=1
    fi
    waited=$(( $(date +%s) - start ))
    if [ "$waited" -ge "$wait_max" ]; then
      echo "install-deps.sh: gave up after ${waited} s: the apt/dpkg lock is still held by $holder;" \
           "let it finish (or stop it), then run this again (SWITCHYARD_APT_LOCK_WAIT sets the wait)" >&2
      exit 1
    fi
    sleep 2
  done
}
# What apt itself waits when the lock is taken between our check and its start.
remaining() { r=$(( wait_max - ($(date +%s) - start) )); [ "$r" -gt 0 ] && echo "$r" || echo 1; }

echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
wait_for_lock
$apt_get -o DPkg::Lock::Timeout="$(remaining)" update -qq
wait_for_lock
$apt_get -o DPkg::Lock::Timeout="$(remaining)" install -y -qq --no-install-recommends $missing >/dev/null
