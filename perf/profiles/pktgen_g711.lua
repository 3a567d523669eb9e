-- G.711 calls against a mediafwd node: a pktgen-dpdk script.
--
-- pktgen sends one packet template per port and varies fields with its
-- range mode, so every packet of port 0 (the callers, leg a) comes from the
-- next caller address and goes to that call's relay port; port 1 (the
-- callees, leg b) does the same towards the relay's other address. Frames are
-- 214 bytes (Ethernet, IPv4, UDP, a 12-byte RTP header, 160 bytes of payload)
-- at the packet rate of CALLS G.711 streams per port (50 packets per second
-- each). pktgen cannot number packets per call: the RTP header is a fixed
-- pattern (version 2, PCMA), enough for the relay to forward it; use rtpgen
-- or the TRex profile to measure loss per stream.
--
-- The calls must exist on the node first, relay ports allocated in call
-- order (see docs/performance.md: rtpgen --setup-only ... --concurrency 1).
--
--   pktgen -l 0-2 -n 4 -a <pci0> -a <pci1> -- -P -m "[1].0,[2].1" -f perf/profiles/pktgen_g711.lua
--
-- Edit the values below, or set them in the environment (MFW_CALLS, ...).

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local function env(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then return default end
    return v
end

local calls      = tonumber(env("MFW_CALLS", "1000"))
local ptime_ms   = tonumber(env("MFW_PTIME", "20"))
local link_gbps  = tonumber(env("MFW_LINK_GBPS", "10"))
local relay      = { env("MFW_RELAY_A", "198.18.0.1"), env("MFW_RELAY_B", "198.19.0.1") }
local relay_mac  = { env("MFW_RELAY_MAC_A", "02:00:00:00:02:00"), env("MFW_RELAY_MAC_B", "02:00:00:00:02:01") }
local endpoints  = { env("MFW_ENDPOINTS_A", "198.18.64.0"), env("MFW_ENDPOINTS_B", "198.19.64.0") }
local first_port = tonumber(env("MFW_FIRST_PORT", "30000"))
local seconds    = tonumber(env("MFW_SECONDS", "60"))

local FRAME = 214
-- On the wire a frame also takes 20 bytes of preamble, start delimiter and gap.
local WIRE_BITS = (FRAME + 4 + 20) * 8

-- "a.b.c.d" plus n, as a dotted quad.
local function ip_add(ip, n)
    local a, b, c, d = ip:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    local v = ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d) + n
    return string.format("%d.%d.%d.%d", (v >> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255)
end

-- The share of the link, in percent, that carries `calls` streams.
local function rate_pct(n)
    local pps = n * 1000 / ptime_ms
    return 100 * pps * WIRE_BITS / (link_gbps * 1e9)
end

-- RTP version 2, payload type 8 (PCMA), fixed sequence number, timestamp
-- and SSRC; no zero byte, so the pattern string is not cut short.
local RTP_PATTERN = "\128\008\001\001\001\001\001\001MFG\001"

for side = 0, 1 do
    local p = tostring(side)
    local first, last = endpoints[side + 1], ip_add(endpoints[side + 1], calls - 1)
    pktgen.set_proto(p, "udp")
    pktgen.range.dst_mac(p, "start", relay_mac[side + 1])
    pktgen.range.dst_ip(p, "start", relay[side + 1])
    pktgen.range.dst_ip(p, "inc", "0.0.0.0")
    pktgen.range.dst_ip(p, "min", relay[side + 1])
    pktgen.range.dst_ip(p, "max", relay[side + 1])
    -- Caller i sends from endpoint address i to relay port first_port + 2i.
    pktgen.range.src_ip(p, "start", first)
    pktgen.range.src_ip(p, "inc", "0.0.0.1")
    pktgen.range.src_ip(p, "min", first)
    pktgen.range.src_ip(p, "max", last)
    pktgen.range.src_port(p, "start", 20000)
    pktgen.range.src_port(p, "inc", 0)
    pktgen.range.src_port(p, "min", 20000)
    pktgen.range.src_port(p, "max", 20000)
    pktgen.range.dst_port(p, "start", first_port)
    pktgen.range.dst_port(p, "inc", 2)
    pktgen.range.dst_port(p, "min", first_port)
    pktgen.range.dst_port(p, "max", first_port + 2 * (calls - 1))
    pktgen.range.pkt_size(p, "start", FRAME)
    pktgen.range.pkt_size(p, "inc", 0)
    pktgen.range.pkt_size(p, "min", FRAME)
    pktgen.range.pkt_size(p, "max", FRAME)
    pktgen.pattern(p, "user")
    pktgen.userPattern(p, RTP_PATTERN)
    pktgen.set(p, "rate", rate_pct(calls))
    pktgen.set_range(p, "on")
end

printf("mediafwd G.711 mix: %d calls per port, %.0f pps per port (%.4f%% of %g Gb/s), %d s\n",
    calls, calls * 1000 / ptime_ms, rate_pct(calls), link_gbps, seconds)
pktgen.start("all")
pktgen.delay(seconds * 1000)
pktgen.stop("all")
