-- pktgen-dpdk: unique-flow flood while established streams run (perf/pktgen/run.sh --flood).
--   1. port 1 (SY_RX_PORT, into the appliance's backend-side port "out") opens SY_EST_FLOWS established
--      flows to tcp4 (198.18.0.100:80): one SYN each, pinned to dsr's backends b1..b4;
--   2. SY_CHANGE runs (run.sh runs it when flood.lua asks: `switchyard ctl backend add dsr b5 ...`): the
--      Maglev table of "dsr" now sends about a fifth of all 5-tuples to b5, so an established flow that loses its pin moves to b5
--      with that probability, and b5's packet counter counts the moved flows' packets;
--   3. port 1 sends ACKs on the established flows without pause while port 0 sends a SYN flood of
--      SY_FLOOD_FLOWS new 5-tuples (default 10240: 10x the 1024-entry flow table run.sh configures),
--      SY_FLOOD_PASSES times over (default 10), to flood4 (198.18.0.101:80, pool "flood"), then the
--      established stream runs one more second.
-- SY_FLOOD_KIND=pcap (run.sh's join-flood): step 3's flood is the pcap pktgen loaded on port 0 (-s 0:FILE)
-- instead, SY_FLOOD_FLOWS frames (one loop of the pcap) x SY_FLOOD_PASSES: run.sh's join-flood.pcap holds
-- MP_JOIN SYNs from distinct new 5-tuples to flood4, each with its own token minted by perf/load/JoinGen
-- for the flood pool's ServerIds, then MPTCP connections (SYN, third ACK with both keys) and joins from
-- distinct new 5-tuples carrying their learned tokens (mixgen's join-enc-new and join-learned-new).
-- With Dataplane.FloodGuardNewFlowsPerSecond, the established flows' SYNs count against the guard too:
-- keep it above SY_EST_FLOWS (run.sh: 300 for 256), or some established flows are never pinned.
-- The appliance's counters (copied per phase) give flowEvictions, flowInserts, floodGuardUnpinned and b5's
-- packets (moved); pktgen gives the flood's offered rate (new flows per second).
package.path = package.path .. ";perf/pktgen/?.lua;?.lua"
require "Pktgen"
local sy = require "sy_common"

local tx, rx = sy.tx_port, sy.rx_port
local est_flows = tonumber(os.getenv("SY_EST_FLOWS") or "256")
local flood_flows = tonumber(os.getenv("SY_FLOOD_FLOWS") or "10240")
-- Passes over the flood's 5-tuples: after the first, each comes back long after the 1024-entry table
-- dropped it, so every SYN is a new flow to the appliance; several passes make the flood last long
-- enough for a rate.
local passes = tonumber(os.getenv("SY_FLOOD_PASSES") or "10")
local flood_rate = os.getenv("SY_FLOOD_RATE") or "100"     -- percent of the link: as fast as pktgen goes
local est_rate = os.getenv("SY_EST_RATE") or "0.02"        -- percent of the link (about 30 kpps at 64 bytes)
local name = os.getenv("SY_MIX") or "flood"
local kind = os.getenv("SY_FLOOD_KIND") or "syn"

local function addr(base, n) -- base "a.b.0.0" + n (n < 65536)
  local a, b = string.match(base, "(%d+)%.(%d+)")
  return string.format("%s.%s.%d.%d", a, b, n // 256, n % 256)
end

local function port_setup(p, dst_mac, vip, first, last, flags)
  pktgen.stop(p)
  pktgen.pcap(p, "off")
  pktgen.set_proto(p, "tcp")
  pktgen.set(p, "size", 64)
  pktgen.range.ip_proto(p, "tcp")
  pktgen.range.dst_mac(p, "start", dst_mac)
  pktgen.range.src_mac(p, "start", sy.src_mac)
  pktgen.range.pkt_size(p, "start", 64); pktgen.range.pkt_size(p, "inc", 0)
  pktgen.range.pkt_size(p, "min", 64); pktgen.range.pkt_size(p, "max", 64)
  pktgen.range.dst_ip(p, "start", vip); pktgen.range.dst_ip(p, "inc", "0.0.0.0")
  pktgen.range.dst_ip(p, "min", vip); pktgen.range.dst_ip(p, "max", vip)
  pktgen.range.src_ip(p, "start", first); pktgen.range.src_ip(p, "inc", "0.0.0.1")
  pktgen.range.src_ip(p, "min", first); pktgen.range.src_ip(p, "max", last)
  pktgen.range.src_port(p, "start", 10000); pktgen.range.src_port(p, "inc", 0)
  pktgen.range.src_port(p, "min", 10000); pktgen.range.src_port(p, "max", 10000)
  pktgen.range.dst_port(p, "start", 80); pktgen.range.dst_port(p, "inc", 0)
  pktgen.range.dst_port(p, "min", 80); pktgen.range.dst_port(p, "max", 80)
  pktgen.set_range(p, "on")
  sy.cli("range " .. p .. " tcp flag clr all")
  sy.cli("range " .. p .. " tcp flag set " .. flags)
end

local function clock() -- wall clock in seconds (Lua's os.time has whole seconds only)
  local f = io.popen("date +%s.%N")
  local t = tonumber(f:read("l"))
  f:close()
  return t
end

local function running(p)
  local s = pktgen.isSending(p)[tonumber(p)]
  return s == "y" or s == true
end

if sy.wait_links() then
  local out_mac = os.getenv("SY_OUT_MAC") or "02:00:00:00:00:03"
  -- 1. open the established flows
  port_setup(rx, out_mac, sy.vip, "10.1.0.1", addr("10.1.0.0", est_flows), "syn")
  pktgen.clr()
  pktgen.set(rx, "rate", est_rate)
  pktgen.set(rx, "count", est_flows)
  pktgen.start(rx)
  for _ = 1, 600 do if not running(rx) then break end pktgen.delay(50) end
  pktgen.delay(1500)
  sy.snapshot(name .. "-pinned")
  -- 2. the backend set changes
  -- run.sh runs the change (it watches for the request file): not a child of pktgen, whose fork would
  -- inherit the main lcore's pinning to the appliance worker's core (once it took 10 minutes to return
  -- here, long enough for the established flows' pins to idle out).
  local change, change_answer = os.getenv("SY_CHANGE"), "none"
  if change and change ~= "" then
    local req, done = sy.workdir .. "/change-request", sy.workdir .. "/change-done"
    os.remove(done)
    local f = io.open(req, "w"); f:write(name .. "\n"); f:close()
    local answer = "timeout"
    for _ = 1, 1200 do
      local d = io.open(done, "r")
      if d then answer = string.gsub(d:read("a") or "", "%s+$", ""); d:close(); break end
      pktgen.delay(100)
    end
    os.remove(req)
    os.remove(done)
    change_answer = string.gsub(answer, "%s", "_")
    sy.emit(string.format("mix=%s mode=flood change=%s", name, change_answer))
  end
  -- 3. established stream + flood
  port_setup(rx, out_mac, sy.vip, "10.1.0.1", addr("10.1.0.0", est_flows), "ack")
  if kind == "pcap" then
    pktgen.stop(tx)
    pktgen.set_range(tx, "off")
    pktgen.pcap(tx, "on")
  else
    port_setup(tx, sy.dst_mac, os.getenv("SY_FLOOD_VIP") or "198.18.0.101", "10.2.0.1", addr("10.2.0.0", flood_flows), "syn")
  end
  pktgen.clr()
  pktgen.set(rx, "rate", est_rate)
  pktgen.set(rx, "count", 0)
  pktgen.set(tx, "rate", flood_rate)
  pktgen.set(tx, "count", flood_flows * passes)
  pktgen.start(rx)
  pktgen.delay(1000)
  local t0 = clock()
  pktgen.start(tx)
  local peak = 0
  for i = 1, 20 * 600 do
    if not running(tx) then break end
    pktgen.delay(50)
    if i % 10 == 0 then
      local r = pktgen.portStats(tx, "rate")[tonumber(tx)].opackets
      if r > peak then peak = r end
    end
  end
  local secs = clock() - t0
  pktgen.delay(1000)
  pktgen.stop(rx)
  pktgen.delay(2100)
  local s = pktgen.portStats(tx .. "," .. rx, "port")
  sy.emit(string.format("mix=%s mode=flood kind=%s est_flows=%d flood_flows=%d passes=%d flood_sent=%d flood_peak_pps=%d flood_seconds=%.3f est_sent=%d received=%d change=%s",
    name, kind, est_flows, flood_flows, passes, s[tonumber(tx)].opackets, peak, secs, s[tonumber(rx)].opackets, s[tonumber(rx)].ipackets, change_answer))
  sy.snapshot(name)
end
