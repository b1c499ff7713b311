-- Switchyard load mixes for pktgen-dpdk (Lua API): shared settings and helpers.
-- Edit the values below (or set environment variables of the same name, upper case, before starting
-- pktgen) for your topology: perf/LOADTEST.md. Port 0 sends to the appliance's client-side port; port 1
-- receives what the appliance forwards to the backends (L2 DSR: frames to the backend MACs).
-- Run for real by perf/pktgen/run.sh (pktgen 23.03 built by `./build.sh pktgen`, net_memif to the running
-- appliance) and by the test suite (PktgenSmokeTests). Every mix script ends with sy.run(name), which
-- does what SY_MODE asks:
--   measure  (default) print the offered and forwarded rate every second for SY_SECONDS and the mean;
--   count    send SY_COUNT packets at SY_RATE and report what came back (the functional check);
--   search   zero-loss throughput: binary search of the offered rate, loss <= SY_LOSS_PCT (RFC 2544 style),
--            then, with SY_LATENCY=1, pktgen's latency packets at 10, 50 and 90 % of that rate.
-- Results go to SY_OUT (one "key=value ..." line per result), or stdout when unset.
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
M.mode = env("SY_MODE", "measure")
M.count = tonumber(env("SY_COUNT", "10000"))             -- count mode: packets per mix
M.trial_seconds = tonumber(env("SY_TRIAL_SECONDS", "2")) -- search mode: length of one trial
M.loss_pct = tonumber(env("SY_LOSS_PCT", "0.001"))       -- search mode: the loss that still counts as none
M.steps = tonumber(env("SY_SEARCH_STEPS", "7"))          -- search mode: binary search steps
M.latency = env("SY_LATENCY", "0") == "1"                -- search mode: latency at 10/50/90 % afterwards
M.out = env("SY_OUT", "")                                -- results file (appended)
M.counters = env("SY_COUNTERS", "")                      -- the appliance's Run.CountersFile, copied per mix
M.workdir = env("SY_WORK", "/tmp")

local function emit(line)
  if M.out ~= "" then
    local f = io.open(M.out, "a")
    f:write(line .. "\n")
    f:close()
  else
    print(line)
  end
end
M.emit = emit

-- A pktgen CLI command (the Lua API lacks some, e.g. range TCP flags): run as a one-line command file.
function M.cli(line)
  local path = M.workdir .. "/sy-cli.pkt"
  local f = io.open(path, "w")
  f:write(line .. "\n")
  f:close()
  pktgen.run("cmd", path, "")
end

-- Wait until both ports' links are up (net_memif: until the appliance's memif server has accepted us).
-- A memif client connects when its port starts and does not try again: a port still down after 10 s
-- is restarted (stop, start), which connects it again.
function M.wait_links(timeout_s)
  local ports = M.tx_port .. "," .. M.rx_port
  for i = 1, (timeout_s or 60) * 10 do
    local l = pktgen.linkState(ports)
    local up_tx = string.find(tostring(l[tonumber(M.tx_port)]), "UP") ~= nil
    local up_rx = string.find(tostring(l[tonumber(M.rx_port)]), "UP") ~= nil
    if up_tx and up_rx then return true end
    if i % 100 == 0 then
      if not up_tx then pktgen.port_restart(M.tx_port) end
      if not up_rx then pktgen.port_restart(M.rx_port) end
    end
    pktgen.delay(100)
  end
  emit("error=links-down")
  return false
end

-- pktgen's single-packet template, which its latency packets are made from: UDP to the VIP's UDP
-- port (IPv4) on both ports (port 1 finds the timestamp in what returns by the same layout), so that
-- the appliance forwards the latency packets whatever the mix (a 64-byte TCP frame has no room for
-- pktgen's timestamp; pcap mixes have no template of their own).
function M.single_udp(size)
  local p, both = M.tx_port, M.tx_port .. "," .. M.rx_port
  pktgen.set_mac(p, "src", M.src_mac)
  pktgen.set_mac(p, "dst", M.dst_mac)
  pktgen.set_type(both, "ipv4")
  pktgen.set_proto(both, "udp")
  pktgen.set_ipaddr(p, "dst", M.vip)
  pktgen.set_ipaddr(p, "src", M.clients_first .. "/8")
  pktgen.set(p, "dport", M.udp_port)
  pktgen.set(p, "sport", 10000)
  pktgen.set(p, "size", math.max(size or 64, 64))
end

-- Common set-up of the sending port: MACs, VIP, rate, range mode over the client addresses.
function M.setup(proto, size)
  local p = M.tx_port
  pktgen.stop(p)
  pktgen.pcap(p, "off")
  pktgen.set_mac(p, "src", M.src_mac)
  pktgen.set_mac(p, "dst", M.dst_mac)
  M.single_udp(size)
  pktgen.set(p, "rate", M.rate)
  pktgen.range.ip_proto(p, proto)
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

-- The number of client addresses in SY_CLIENTS_FIRST..SY_CLIENTS_LAST (IPv4): flows of a range mix.
local function ip4(a)
  local x1, x2, x3, x4 = string.match(a, "(%d+)%.(%d+)%.(%d+)%.(%d+)")
  return ((tonumber(x1) * 256 + tonumber(x2)) * 256 + tonumber(x3)) * 256 + tonumber(x4)
end
function M.flows_in_range()
  return ip4(M.clients_last) - ip4(M.clients_first) + 1
end

-- Range-mode TCP flags of the sending port, e.g. M.tcp_flags("syn") or M.tcp_flags("ack").
function M.tcp_flags(flag)
  M.cli("range " .. M.tx_port .. " tcp flag clr all")
  M.cli("range " .. M.tx_port .. " tcp flag set " .. flag)
end

-- pktgen's port statistics are taken once a second by its timer thread: wait for two updates.
local function settle() pktgen.delay(2100) end

local function stats()
  local s = pktgen.portStats(M.tx_port .. "," .. M.rx_port, "port")
  return s[tonumber(M.tx_port)].opackets, s[tonumber(M.rx_port)].ipackets
end

-- Wait while the sending port sends (a counted burst), at most limit_s seconds; the highest
-- per-second transmit rate pktgen's timer saw meanwhile (packets per second).
local function wait_sent(limit_s)
  local peak, ticks = 0, 0
  for _ = 1, limit_s * 20 do
    local s = pktgen.isSending(M.tx_port)[tonumber(M.tx_port)]
    if s ~= "y" and s ~= true then return peak end
    pktgen.delay(50)
    ticks = ticks + 1
    if ticks % 10 == 0 then
      local r = pktgen.portStats(M.tx_port, "rate")[tonumber(M.tx_port)].opackets
      if r > peak then peak = r end
    end
  end
  pktgen.stop(M.tx_port)
  return peak
end

-- Send `count` packets at `rate` percent of the link; what was sent, what came back and the peak
-- per-second transmit rate (0 when the burst lasted less than a second).
function M.trial(rate, count)
  local p = M.tx_port
  pktgen.clr()
  pktgen.set(p, "rate", rate)
  pktgen.set(p, "count", count)
  pktgen.start(p)
  local peak = wait_sent(120 + count / 10000)
  settle()
  local tx, rx = stats()
  return tx, rx, peak
end

-- The rate (percent of the link) that makes `pps` packets per second of frames of `size` bytes
-- (with CRC): pktgen's own arithmetic (20 bytes of preamble and gap per frame, the link speed that the
-- port reports: 100 Gb/s for net_memif).
M.link_mbps = tonumber(env("SY_LINK_MBPS", "100000"))
function M.pct(pps, size)
  return pps * (size + 20) * 8 / (M.link_mbps * 1e6) * 100
end

-- Copy the appliance's counters file (if any): what it counted up to the end of this mix.
function M.snapshot(name)
  if M.counters == "" then return end
  -- Called after settle() (2.1 s after the last packet): with Run.CountersIntervalSeconds = 1 the file
  -- has been rewritten since everything sent was processed.
  local src = io.open(M.counters, "r")
  if src == nil then emit("mix=" .. name .. " counters=missing"); return end
  local text = src:read("a")
  src:close()
  local dst = io.open(M.workdir .. "/counters-" .. name .. ".json", "w")
  dst:write(text)
  dst:close()
end

-- Start, wait for the warm-up, then print the receive rate of the backend-side port every second
-- for M.seconds and its mean: what the appliance forwarded.
function M.measure(name)
  local tx, rx = M.tx_port, M.rx_port
  pktgen.set(tx, "count", 0)
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
  emit(string.format("mix=%s mode=measure forwarded_mpps=%.4f seconds=%d", name, sum / n / 1e6, n))
end

-- count mode: SY_COUNT packets at SY_RATE percent; tx and rx as pktgen counted them. With SY_LATENCY=1
-- (the smoke run) a latency phase follows in the same window: SY_LAT_COUNT packets in single-packet mode
-- (the template as the mix script left it, from a source port of its own: one new flow per phase) with
-- pktgen's latency packets among them (made from the same template: the first at once, then one per
-- 10 ms), so that the judge sees each mix's latency packets reach the VIP and come back. sent and
-- received are the window's (both phases); lat_pkts are the timestamped packets port 1 recognised.
M.lat_count = tonumber(env("SY_LAT_COUNT", "1024"))
local lat_phases = 0
function M.count_mix(name)
  local p, both = M.tx_port, M.tx_port .. "," .. M.rx_port
  pktgen.clr()
  pktgen.set(p, "rate", M.rate)
  pktgen.set(p, "count", M.count)
  pktgen.start(p)
  wait_sent(120 + M.count / 10000)
  local lat_sent = 0
  if M.latency then
    lat_phases = lat_phases + 1
    pktgen.pcap(p, "off")
    pktgen.set_range(p, "off")
    pktgen.set(p, "sport", 20000 + lat_phases)
    pktgen.latency(both, "enable")
    pktgen.set(p, "count", M.lat_count)
    pktgen.start(p)
    wait_sent(120 + M.lat_count / 10000)
    lat_sent = M.lat_count
  end
  settle()
  local tx, rx = stats()
  local line = string.format("mix=%s mode=count sent=%d received=%d", name, tx, rx)
  if M.latency then
    local lat = (pktgen.pktStats(M.rx_port)[tonumber(M.rx_port)] or {}).latency or {}
    pktgen.latency(both, "disable")
    line = line .. string.format(" lat_sent=%d lat_pkts=%d lat_skipped=%d", lat_sent, lat.num_pkts or 0, lat.num_skipped or 0)
  end
  emit(line)
  M.snapshot(name)
end

-- Latency at `pct` percent of the link: pktgen's latency packets (one per millisecond, injected into
-- the stream) and its latency sampler on the receiving port (every timestamped packet that returns).
local function latency_at(name, share, pct, size)
  local tx, rx = M.tx_port, M.rx_port
  local both = tx .. "," .. rx
  local tag = string.match(M.out, "res%-(.+)%.txt$") or "pktgen"   -- run.sh: res-<target>-<group>.txt
  local file = string.format("%s/lat-%s-%s-%d.txt", M.workdir, tag, name, share)
  os.remove(file)
  pktgen.clr()
  pktgen.latsampler_params(rx, "simple", 10000, 1000000, file)
  pktgen.latency(both, "enable")
  pktgen.latsampler(rx, "on")
  pktgen.set(tx, "rate", pct)
  pktgen.set(tx, "count", 0)
  pktgen.start(tx)
  pktgen.delay(M.trial_seconds * 2000)
  pktgen.stop(tx)
  pktgen.delay(200)
  pktgen.latsampler(rx, "off")
  pktgen.latency(both, "disable")
  settle()
  local st = pktgen.pktStats(rx)[tonumber(rx)]
  local lat = st and st.latency or {}
  emit(string.format("mix=%s mode=latency share=%d rate_pct=%.5f samples_file=%s pkts=%d min_us=%.2f avg_us=%.2f max_us=%.2f",
    name, share, pct, file, lat.num_pkts or 0, lat.min_us or 0, lat.avg_us or 0, lat.max_us or 0))
end

-- search mode: the highest offered rate with loss <= M.loss_pct (RFC 2544 style). The first trial is
-- at 100 % of the link: pktgen sends as fast as it can (on net_memif far below the nominal 100 Gb/s),
-- which gives the top of the range (and, if even that has no loss, the figure is pktgen's own limit:
-- limited=generator). Then decades (1/10, 1/100 of it) and a binary search of M.steps steps.
-- Rates are offered packets per second; each trial sends max(1e5, rate * SY_TRIAL_SECONDS) packets
-- (at least 1e5: 0.001 % of them is one packet).
function M.search(name, size)
  size = (size and size > 0) and size or 64
  local function run(pps)
    local count = math.max(100000, math.floor(pps * M.trial_seconds))
    local pct = M.pct(pps, size)
    if pct > 100 then pct = 100 end
    local tx, rx, peak = M.trial(pct, count)
    local loss = tx > 0 and (tx - rx) * 100.0 / tx or 100
    emit(string.format("mix=%s mode=trial offered_pps=%.0f peak_tx_pps=%d sent=%d received=%d loss_pct=%.5f",
      name, pps, peak, tx, rx, loss))
    return loss <= M.loss_pct, peak
  end
  -- The top: pktgen at 100 % for a few seconds; its own per-second transmit rate once it is going.
  pktgen.clr()
  pktgen.set(M.tx_port, "rate", 100)
  pktgen.set(M.tx_port, "count", 0)
  pktgen.start(M.tx_port)
  pktgen.delay(math.max(3, M.trial_seconds + 1) * 1000)
  local top = pktgen.portStats(M.tx_port, "rate")[tonumber(M.tx_port)].opackets
  pktgen.stop(M.tx_port)
  settle()
  local tx, rx = stats()
  -- pktgen's timer thread may have missed the second (a starved machine): fall back to the mean.
  if top <= 0 then top = math.floor(tx / math.max(3, M.trial_seconds + 1)) end
  local loss = tx > 0 and (tx - rx) * 100.0 / tx or 100
  emit(string.format("mix=%s mode=trial offered_pps=max peak_tx_pps=%d sent=%d received=%d loss_pct=%.5f",
    name, top, tx, rx, loss))
  local best, limited = 0, "appliance"
  if loss <= M.loss_pct then
    best, limited = top, "generator"
  else
    local lo, hi = 0, top
    for _, div in ipairs({ 10, 100 }) do
      if run(top / div) then lo = top / div; break else hi = top / div end
    end
    if lo > 0 or hi > top / 100 then
      for _ = 1, M.steps do
        local mid = (lo + hi) / 2
        if run(mid) then lo = mid else hi = mid end
      end
    end
    best = lo
  end
  emit(string.format("mix=%s mode=search zero_loss_pps=%.0f top_pps=%.0f frame=%d limited=%s", name, best, top, size, limited))
  if M.latency and best > 0 then
    for _, share in ipairs({ 10, 50, 90 }) do latency_at(name, share, M.pct(best * share / 100, size), size) end
  end
  M.snapshot(name)
end

-- What every mix script calls last.
function M.run(name, size)
  if not M.wait_links() then return end
  if M.mode == "count" then M.count_mix(name)
  elseif M.mode == "search" then M.search(name, size)
  else M.measure(name) end
end

return M
