#!/bin/bash
# Profile the packet path on one traffic mix (perf/results/2026-11-22-optimisation.md, "How it was measured"):
#   perf/profile/profile.sh MIX TAG [TOP]     e.g. perf/profile/profile.sh TcpEstablishedIpip ipip
# Records 6 s of BurstRig(MIX) with perf at 2999 Hz, maps every sample onto the JIT listing of BurstRig.Run (everything
# inlines into it) and prints the TOP hottest instructions. Writes TAG.data, TAG.asm and TAG.annot in the current
# directory. Needs linux-perf. Timing: dotnet perf/profile/bin/Release/net10.0/prof.dll min MIX[,MIX...] 20000;
# token batches: ... prof.dll tok 32.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/require.sh"
require_tools perf:linux-perf python3:python3
if [ $# -lt 2 ]; then echo "usage: perf/profile/profile.sh MIX TAG [TOP]   (e.g. TcpEstablishedIpip ipip)" >&2; exit 2; fi
mix=$1 tag=$2 top=${3:-15}
dotnet build "$here" -c Release -v q >/dev/null
export DOTNET_PerfMapEnabled=3 DOTNET_EnableWriteXorExecute=0 DOTNET_JitDisasm='Run' DOTNET_JitDisasmWithCodeBytes=1
export DOTNET_JitStdOutFile="$PWD/$tag.asm"
rm -f "$tag.asm"
perf record -F 2999 -o "$tag.data" -- dotnet "$here/bin/Release/net10.0/prof.dll" "$mix" 6 2>&1 | grep -v "^\[" || true
python3 "$here/annot.py" "$tag.asm" "$tag.data" "$(ls -t /tmp/perf-*.map | head -1)" 'BurstRig::Run()' OptimizedTier1 Tier1 > "$tag.annot"
head -2 "$tag.annot" | tail -1
sort -k1 -n -r "$tag.annot" | head -"$top"
