#!/bin/sh
# Installs the Debian packages Switchyard needs, when any is missing. Shared by .ci/run and the
# Deps build target. Needs root to install; without root it only reports what is missing.
set -eu
pkgs="gobgpd golang-github-osrg-gobgp-dev bird2 dpdk dpdk-dev libdpdk-dev pkg-config make gcc tshark iproute2 ethtool nftables iperf3 mptcpd libmptcpd3-dev libjson-c-dev mptcpize libpcap-dev iputils-ping python3-scapy lua5.4 libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev ngtcp2-client ngtcp2-server openssl meson ninja-build libnuma-dev liblua5.4-dev patch xz-utils"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages:$missing (run as root to install them)" >&2
  exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
