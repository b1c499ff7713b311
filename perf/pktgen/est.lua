-- pktgen-dpdk: Switchyard mix "est" (established IPv4 TCP, 64-byte frames on the wire).
-- pktgen's range mode sends TCP segments with the ACK flag (its default TCP header), so the appliance
-- sees mid-connection segments. A flow is pinned by its SYN: send syn.pcap (perf/LOADTEST.md) once
-- first, or these ACKs are steered by Maglev without a flow-table entry (still to the same backend).
--   pktgen -l 0-2 -n 4 -a <tx pci> -a <rx pci> -- -P -m "[1].0,[2].1" -f perf/pktgen/est.lua
package.path = package.path .. ";perf/pktgen/?.lua;?.lua"
require "Pktgen"
local sy = require "sy_common"

sy.setup("tcp", 64)
sy.ipv4_ranges(sy.tcp_port)
sy.measure("est")
