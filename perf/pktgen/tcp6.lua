-- pktgen-dpdk: Switchyard mix "tcp6" (IPv6 TCP to the IPv6 VIP, 78-byte frames on the wire).
-- pktgen's range mode varies IPv6 addresses less freely than IPv4 ones: this sends from one client
-- address with a source-port range instead (64512 flows), ACK segments (Maglev-steered: no SYN first).
-- For the exact mixgen frames, replay tcp6.pcap.
--   pktgen -l 0-2 -n 4 -a <tx pci> -a <rx pci> -- -P -m "[1].0,[2].1" -f perf/pktgen/tcp6.lua
package.path = package.path .. ";perf/pktgen/?.lua;?.lua"
require "Pktgen"
local sy = require "sy_common"

local p = sy.tx_port
sy.setup("tcp", 78)
-- The single-packet template, which pktgen makes its latency packets from: IPv6 UDP to [VIP6]:SY_UDP_PORT
-- (VIP udp6), on both ports (port 1 finds the timestamp by the same layout). pktgen 23.03 itself makes
-- every latency packet IPv4 UDP, whatever the template (pktgen_latency_setup), so that an IPv6 template
-- gave IPv4 packets addressed from the first bytes of the IPv6 addresses (the appliance counted them
-- NotForVip); perf/pktgen/patches/04-latency-ipv6.patch keeps an IPv6 template IPv6.
pktgen.set_type(p .. "," .. sy.rx_port, "ipv6")
pktgen.set_proto(p .. "," .. sy.rx_port, "udp")
pktgen.set(p, "dport", sy.udp_port)
pktgen.set_ipaddr(p, "dst", sy.vip6)
pktgen.set_ipaddr(p, "src", "2001:db8:abcd::1/64")
pktgen.range.set_type(p, "ipv6")
pktgen.range.dst_ip(p, "start", sy.vip6)
pktgen.range.dst_ip(p, "inc", "::")
pktgen.range.dst_ip(p, "min", sy.vip6)
pktgen.range.dst_ip(p, "max", sy.vip6)
pktgen.range.src_ip(p, "start", "2001:db8:abcd::1")
pktgen.range.src_ip(p, "inc", "::")
pktgen.range.src_ip(p, "min", "2001:db8:abcd::1")
pktgen.range.src_ip(p, "max", "2001:db8:abcd::1")
pktgen.range.src_port(p, "start", 1024)
pktgen.range.src_port(p, "inc", 1)
pktgen.range.src_port(p, "min", 1024)
pktgen.range.src_port(p, "max", 65535)
pktgen.range.dst_port(p, "start", sy.tcp_port)
pktgen.range.dst_port(p, "inc", 0)
pktgen.range.dst_port(p, "min", sy.tcp_port)
pktgen.range.dst_port(p, "max", sy.tcp_port)
pktgen.set_range(p, "on")
sy.run("tcp6", 78)
