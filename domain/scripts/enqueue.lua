-- Appends a command to the commands stream, if the caller's failure budgets are not spent (locked.lua),
-- the caller's credential version is still current and, for a snapshot, the package is active and no
-- snapshot of it is queued (appends.py: enqueue).
-- KEYS: view, commands stream, snapshot in flight, then the caller's failure counters
-- ARGV: credential version, commands maxlen, is snapshot ('1' or '0'), request id, in-flight ttl (s),
--       the number of counters, each counter's limit, then the entry's field/value pairs
-- Returns {'locked', seconds to wait}, {'stale'}, {'inactive'}, {'coalesced', the queued snapshot's
-- request id} or {'queued', entry id}.
local counters = tonumber(ARGV[6])
local retry_after = locked(KEYS, 4, ARGV, 7, counters)
if retry_after > 0 then return {'locked', retry_after} end
local view = redis.call('HMGET', KEYS[1], 'cv', 'status')
if view[1] ~= ARGV[1] then return {'stale'} end
if ARGV[3] == '1' then
  if view[2] ~= 'active' then return {'inactive'} end
  local running = redis.call('GET', KEYS[3])
  if running then return {'coalesced', running} end
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 7 + counters))
return {'queued', id}
