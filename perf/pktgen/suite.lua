-- pktgen-dpdk: run several mix scripts in one pktgen start, then quit (perf/pktgen/run.sh, PktgenSmokeTests).
--   SY_SCRIPTS=perf/pktgen/est.lua,perf/pktgen/udp.lua,... pktgen ... -f perf/pktgen/suite.lua
-- Each script is one mix (est.lua, udp.lua, tcp6.lua, pcap.lua, flood.lua); SY_MODE applies to all.
-- pcap.lua replays what pktgen loaded with -s 0:FILE (one pcap per start), named by SY_MIX.
package.path = package.path .. ";perf/pktgen/?.lua;?.lua"
require "Pktgen"
local sy = require "sy_common"

local ok, err = pcall(function()
  pktgen.screen("off")
  for script in string.gmatch(os.getenv("SY_SCRIPTS") or "", "[^,]+") do
    if not sy.wait_links() then break end
    dofile(script)
  end
end)
if not ok then sy.emit("error=" .. string.gsub(tostring(err), "%s", "_")) end
sy.emit("done=1")
-- net_memif (DPDK 22.11) can crash the server's polling lcore when the client goes away under it:
-- keep the link until the driver has stopped the target (SY_TARGET_PID), then quit.
local pid = os.getenv("SY_TARGET_PID")
if pid and pid ~= "" then
  for _ = 1, 600 do
    local f = io.open("/proc/" .. pid .. "/stat", "r")
    if f == nil then break end
    f:close()
    pktgen.delay(100)
  end
end
pktgen.quit()
