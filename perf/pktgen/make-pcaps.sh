#!/bin/bash
# Writes the load mixes as pcaps for pktgen-dpdk's pcap mode (or any replayer) on a real NIC.
#   perf/pktgen/make-pcaps.sh OUTDIR [--dst-mac M] [--src-mac M] [--vip A] [--vip6 A]
#                                    [--config APPLIANCE_JSON --pool POOL] [--flows N] [--rounds N]
# --config/--pool: mint join-enc's tokens for that pool's ServerIds with that config's Mptcp.TokenKeys
# (default: perf/load/switchyard.json, pool dsr). Needs dotnet (perf/load/JoinGen) and python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$(cd "$(dirname "$0")/../.." && pwd)/perf/lib/require.sh"
require_tools python3:python3
load="$here/../load"
out=${1:?usage: make-pcaps.sh OUTDIR [options]}; shift
config="$load/switchyard.json" pool=dsr flows=4096 rounds=16 pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=$2; shift ;;
    --pool) pool=$2; shift ;;
    --flows) flows=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --dst-mac|--src-mac|--vip|--vip6) pass+=("$1" "$2"); shift ;;
    *) echo "make-pcaps.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
[ -f "$load/JoinGen/bin/Release/net10.0/joingen.dll" ] || dotnet build "$load/JoinGen/JoinGen.csproj" -c Release -nologo -v:q
dotnet "$load/JoinGen/bin/Release/net10.0/joingen.dll" "$config" "$pool" $((flows * rounds)) > "$out/join-tokens.txt"
python3 "$load/mixgen.py" "$out" --flows "$flows" --rounds "$rounds" \
  --mixes est,syn,udp,tcp6,imix,join-enc,join-learned --join-tokens "$out/join-tokens.txt" "${pass[@]}"
