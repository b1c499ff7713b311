-- pktgen-dpdk: Switchyard mix "est" (established IPv4 TCP, 64-byte frames on the wire).
-- Range mode over SY_CLIENTS_FIRST..SY_CLIENTS_LAST: one pass of SYNs opens (pins) the flows, then the
-- measured stream is ACK segments on those flows (flow-table hits, as in mixgen's est.pcap).
--   pktgen -l 0-2 -n 4 -a <tx pci> -a <rx pci> -- -P -m "[1].0,[2].1" -f perf/pktgen/est.lua
--   perf/pktgen/run.sh runs it over net_memif against the running appliance (perf/LOADTEST.md).
package.path = package.path .. ";perf/pktgen/?.lua;?.lua"
require "Pktgen"
local sy = require "sy_common"

sy.setup("tcp", 64)
sy.ipv4_ranges(sy.tcp_port)
if sy.wait_links() then
  -- Open the flows: one SYN per client address (the range wraps after the last one).
  sy.tcp_flags("syn")
  local tx, rx = sy.trial(sy.rate, sy.flows_in_range())
  sy.emit(string.format("mix=est-open mode=open sent=%d received=%d", tx, rx))
  sy.tcp_flags("ack")
  sy.run("est", 64)
end
