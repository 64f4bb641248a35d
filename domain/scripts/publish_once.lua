-- Appends one message to an active package's queue, if it fits under the limit, unless the marker was set
-- before: a snapshot's completion, sent once however often its command is delivered (publishing.py:
-- publish_once). The marker is set only when the message is appended.
-- KEYS: view, queue, once marker
-- ARGV: message, marker ttl (s), limit, message field
-- Returns {'ok', 0} (sent before), {'inactive', 0}, {'full', 0} or {'ok', 1}.
if redis.call('EXISTS', KEYS[3]) == 1 then return {'ok', 0} end
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return {'inactive', 0} end
local limit = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then
  local taken = backlog(KEYS[2], redis.call('XINFO', 'GROUPS', KEYS[2]), limit - 1, limit)
  if taken >= limit then return {'full', 0} end
end
redis.call('SET', KEYS[3], '1', 'EX', ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 2 * limit, '*', ARGV[4], ARGV[1])
return {'ok', 1}
