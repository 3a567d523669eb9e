-- Runs perf/profiles/pktgen_g711.lua against the stand-in library and checks its settings.
local here = arg[0]:match("(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
require "Pktgen"
dofile(here .. "../pktgen_g711.lua")

local function find(name, port, what)
    for _, c in ipairs(calls) do
        if c[1] == name and c[2] == port and (what == nil or c[3] == what) then return c end
    end
    error("no call " .. name .. " " .. port .. " " .. tostring(what))
end
assert(find("range.src_ip", "0", "max")[4] == "198.18.67.231", "1000 callers from 198.18.64.0")
assert(find("range.dst_port", "1", "max")[4] == 30000 + 2 * 999)
assert(find("range.pkt_size", "0", "start")[4] == 214)
-- 1000 calls x 50 pps x 238 wire bytes on 10 Gb/s: 0.952%.
local rate = find("set", "0", "rate")[4]
assert(math.abs(rate - 0.952) < 1e-9, rate)
assert(find("userPattern", "1")[3]:byte(1) == 0x80, "RTP version 2")
assert(find("start", "all"))
print("pktgen script ok")
