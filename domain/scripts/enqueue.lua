-- Appends a command to the commands stream, if the caller's credential version is still current and,
-- for a snapshot, the package is active and no snapshot of it is queued (appends.py: enqueue).
-- KEYS: view, commands stream, snapshot in flight
-- ARGV: credential version, commands maxlen, is snapshot ('1' or '0'), request id, in-flight ttl (s),
--       then the entry's field/value pairs
-- Returns {'stale'}, {'inactive'}, {'coalesced', the queued snapshot's request id} or {'queued', entry id}.
local view = redis.call('HMGET', KEYS[1], 'cv', 'status')
if view[1] ~= ARGV[1] then return {'stale'} end
if ARGV[3] == '1' then
  if view[2] ~= 'active' then return {'inactive'} end
  local running = redis.call('GET', KEYS[3])
  if running then return {'coalesced', running} end
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 6))
return {'queued', id}
