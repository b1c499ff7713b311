-- pktgen-dpdk: Switchyard mix "udp" (IPv4 UDP to the VIP's UDP port, 64-byte frames on the wire).
--   pktgen -l 0-2 -n 4 -a <tx pci> -a <rx pci> -- -P -m "[1].0,[2].1" -f perf/pktgen/udp.lua
package.path = package.path .. ";perf/pktgen/?.lua;?.lua"
require "Pktgen"
local sy = require "sy_common"

sy.setup("udp", 64)
sy.ipv4_ranges(sy.udp_port)
sy.run("udp", 64)
