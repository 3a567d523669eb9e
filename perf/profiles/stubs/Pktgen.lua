-- A stand-in for pktgen's Lua library: records every call, so that
-- mediafwd's script runs (and is checked) without pktgen.
calls = {}
local function recorder(name)
    return function(...)
        table.insert(calls, { name, ... })
    end
end
pktgen = setmetatable({ range = setmetatable({}, { __index = function(_, k) return recorder("range." .. k) end }) },
    { __index = function(_, k) return recorder(k) end })
function printf(fmt, ...) io.write(string.format(fmt, ...)) end
