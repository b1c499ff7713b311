-- pktgen-dpdk: replay a mixgen pcap (every mix: syn, imix, join-enc, join-learned, ... with the exact
-- frames of perf/load/mixgen.py) and measure. The pcap is loaded by pktgen's command line, not by Lua:
--   perf/pktgen/make-pcaps.sh OUTDIR --dst-mac <appliance port MAC>     (writes OUTDIR/<mix>.pcap)
--   SY_MIX=join-enc pktgen -l 0-2 -n 4 -a <tx pci> -a <rx pci> -- -P -m "[1].0,[2].1" -s 0:OUTDIR/join-enc.pcap -f perf/pktgen/pcap.lua
-- pktgen sends a loaded pcap in a loop once pcap mode is on (as net_pcap's infinite_rx does in the
-- harness): join-learned.pcap opens its MPTCP connections at the start of each loop, so the appliance
-- has learned every token before the joins that carry it. SY_COUNT (count mode) should be a multiple
-- of the pcap's frame count, so that whole loops are sent.
package.path = package.path .. ";perf/pktgen/?.lua;?.lua"
require "Pktgen"
local sy = require "sy_common"

local p = sy.tx_port
if os.getenv("SY_PCAP_COUNT") then sy.count = tonumber(os.getenv("SY_PCAP_COUNT")) end
pktgen.stop(p)
sy.single_udp(64) -- the latency packets' template (pcap mode replays the pcap, not the template)
pktgen.set(p, "rate", sy.rate)
pktgen.set_range(p, "off")
pktgen.pcap(p, "on")
sy.run(os.getenv("SY_MIX") or "pcap", tonumber(os.getenv("SY_FRAME") or "0"))
