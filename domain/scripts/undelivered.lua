-- What a stream's consumer groups have not been delivered yet: a fragment of the scripts that need it,
-- the fixtures queue's publish and status read (through backlog.lua, the backlog of SPEC §4, one
-- definition for both) and the workers' lag gauge (group_figures.lua).
--
-- XINFO GROUPS reports each group's `lag`, but not always: it is nil for a group created at an arbitrary
-- id or moved with XGROUP SETID, and after Redis 7.0 restarts from its append-only file (which replays
-- reads without the group's read counter). Redis 7.0 may even report a lag that is too large after a
-- restart: the counter it restores is the one of its last AOF rewrite (seen here; redis/redis#12898
-- fixed it upstream). So a lag that Redis cannot tell, or one that would decide something, is counted:
-- the entries after the group's last-delivered-id. An exact count also sets the group's read counter to
-- match (XGROUP SETID … ENTRIESREAD), after which Redis reports the right lag again and keeps it up to
-- date, so that the count is paid once rather than on every call (on Redis 7.0, until it next restarts).
--
-- A count reads entries a page at a time, so that a long one holds little memory in the script. Each
-- entry read costs Redis about 1.5 µs here (measured: 100,000 entries block it for ~130–160 ms), so a
-- count stays on the shorter side of the group's position and never reads much more than `most` entries.

local function field(entry, name)
  for i = 1, #entry, 2 do if entry[i] == name then return entry[i + 1] end end
  return false
end

-- The entries of `stream` after `last`, the last-delivered-id of `group`: counted after that id, or,
-- when more than half the stream lies beyond it, as the length less the entries up to it. Exact, unless
-- the stream and the count both exceed `most`: then `most` + 1. An exact count that differs from what
-- Redis reports (`reported`, false when it cannot tell) repairs the group's read counter. (Its helpers
-- are defined inside: a script defines its functions on every call, and most calls never count.)
local function undelivered(stream, group, last, most, reported)
  local function count_range(first, to, at_most)
    local n = 0
    while n < at_most do
      local want = math.min(1000, at_most - n)
      local page = redis.call('XRANGE', stream, first, to, 'COUNT', want)
      n = n + #page
      if #page < want then break end
      first = '(' .. page[#page][1]
    end
    return n
  end

  local length = redis.call('XLEN', stream)
  local half = length <= most and math.ceil(length / 2) or most
  local n = count_range('(' .. last, '+', half + 1)
  if n > half then
    if length > most then return most + 1 end
    n = length - count_range('-', last, length)
  end
  if n ~= reported then
    local added = field(redis.call('XINFO', 'STREAM', stream), 'entries-added')
    if added then redis.call('XGROUP', 'SETID', stream, group, last, 'ENTRIESREAD', added - n) end
  end
  return n
end
