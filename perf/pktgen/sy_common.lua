-- Switchyard load mixes for pktgen-dpdk (Lua API): shared settings and helpers.
-- Edit the values below (or set environment variables of the same name, upper case, before starting
-- pktgen) for your topology: perf/LOADTEST.md. Port 0 sends to the appliance's client-side port; port 1
-- receives what the appliance forwards to the backends (L2 DSR: frames to the backend MACs).
-- Checked here with `luac -p` only (pktgen-dpdk is not packaged for Debian): the pktgen.* calls follow
-- pktgen-dpdk's documented Lua API (set_mac, set_ipaddr, set_proto, set, set_range, range.*,
-- start, stop, delay, portStats) and were never executed against a running pktgen.
local M = {}

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

M.tx_port = env("SY_TX_PORT", "0")            -- pktgen port facing the appliance's "in" port
M.rx_port = env("SY_RX_PORT", "1")            -- pktgen port facing the appliance's backend side
M.dst_mac = env("SY_DST_MAC", "02:00:00:00:00:01")   -- the appliance port's MAC (Ports[].Mac)
M.src_mac = env("SY_SRC_MAC", "02:00:00:00:00:02")   -- this port's MAC, as the appliance's router sees it
M.vip = env("SY_VIP", "198.18.0.100")
M.vip6 = env("SY_VIP6", "2001:db8::100")
M.tcp_port = tonumber(env("SY_TCP_PORT", "80"))
M.udp_port = tonumber(env("SY_UDP_PORT", "53"))
M.clients_first = env("SY_CLIENTS_FIRST", "10.0.0.1")
M.clients_last = env("SY_CLIENTS_LAST", "10.0.255.255")  -- 65535 client addresses = flows
M.rate = tonumber(env("SY_RATE", "100"))                 -- percent of line rate
M.seconds = tonumber(env("SY_SECONDS", "10"))            -- measured window
M.warmup = tonumber(env("SY_WARMUP", "2"))

-- Common set-up of the sending port: MACs, VIP, rate, range mode over the client addresses.
function M.setup(proto, size)
  local p = M.tx_port
  pktgen.stop(p)
  pktgen.set_mac(p, "src", M.src_mac)
  pktgen.set_mac(p, "dst", M.dst_mac)
  pktgen.set_proto(p, proto)
  pktgen.set(p, "size", size)
  pktgen.set(p, "rate", M.rate)
  pktgen.range.dst_mac(p, "start", M.dst_mac)
  pktgen.range.src_mac(p, "start", M.src_mac)
  pktgen.range.pkt_size(p, "start", size)
  pktgen.range.pkt_size(p, "inc", 0)
  pktgen.range.pkt_size(p, "min", size)
  pktgen.range.pkt_size(p, "max", size)
  pktgen.range.src_port(p, "start", 10000)
  pktgen.range.src_port(p, "inc", 0)
  pktgen.range.src_port(p, "min", 10000)
  pktgen.range.src_port(p, "max", 10000)
end

function M.ipv4_ranges(dport)
  local p = M.tx_port
  pktgen.range.dst_ip(p, "start", M.vip)
  pktgen.range.dst_ip(p, "inc", "0.0.0.0")
  pktgen.range.dst_ip(p, "min", M.vip)
  pktgen.range.dst_ip(p, "max", M.vip)
  pktgen.range.src_ip(p, "start", M.clients_first)
  pktgen.range.src_ip(p, "inc", "0.0.0.1")
  pktgen.range.src_ip(p, "min", M.clients_first)
  pktgen.range.src_ip(p, "max", M.clients_last)
  pktgen.range.dst_port(p, "start", dport)
  pktgen.range.dst_port(p, "inc", 0)
  pktgen.range.dst_port(p, "min", dport)
  pktgen.range.dst_port(p, "max", dport)
  pktgen.set_range(p, "on")
end

-- Start, wait for the warm-up, then print the receive rate of the backend-side port every second
-- for M.seconds and its mean: what the appliance forwarded.
function M.measure(name)
  local tx, rx = M.tx_port, M.rx_port
  pktgen.start(tx)
  pktgen.delay(M.warmup * 1000)
  local sum, n = 0, 0
  for _ = 1, M.seconds do
    pktgen.delay(1000)
    local r = pktgen.portStats(rx, "rate")[tonumber(rx)]
    local t = pktgen.portStats(tx, "rate")[tonumber(tx)]
    print(string.format("%s: sent %.3f Mpps, forwarded %.3f Mpps", name, t.pkts_tx / 1e6, r.pkts_rx / 1e6))
    sum = sum + r.pkts_rx
    n = n + 1
  end
  pktgen.stop(tx)
  print(string.format("%s: mean forwarded %.3f Mpps over %d s", name, sum / n / 1e6, n))
end

return M
