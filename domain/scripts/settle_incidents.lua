-- One round of incident partitions settled at once (domain/scripts/parking.py): dead letters, parked and
-- released incidents with their fixtures' counts, new offsets, forgotten records of delivered fixtures.
-- One script instead of a MULTI of thousands of commands: a flood of parked incidents costs the worker
-- one call per round, not two queued commands (and their replies) per incident.
-- KEYS: the dead letters' stream, the offsets' hash, then per partition its parked stream, its
--       parked-fixtures hash and its delivered hash (an operation names the first of these three)
-- ARGV: the dead letters' approximate maximum length, then operations one after the other:
--   D n field value …           a dead letter of n strings (field, value, …)
--   P k id fixture since message  park (under the incident's own stream id), count the fixture
--   U k id fixture              release: drop from the parked stream, count the fixture down (gone at 0)
--   O partition offset          the partition's new offset
--   F k                         forget the delivered record
local i = 2
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'D' then
    local n = tonumber(ARGV[i + 1])
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 2, i + 1 + n))
    i = i + 2 + n
  elseif op == 'P' then
    local k = tonumber(ARGV[i + 1])
    -- Parked before (a commit whose reply was lost): counted then, so not again.
    local added = redis.pcall('XADD', KEYS[k], ARGV[i + 2], 'message', ARGV[i + 5], 'fixture', ARGV[i + 3],
      'since', ARGV[i + 4])
    if type(added) ~= 'table' or not added.err then
      redis.call('HINCRBY', KEYS[k + 1], ARGV[i + 3], 1)
    end
    i = i + 6
  elseif op == 'U' then
    local k = tonumber(ARGV[i + 1])
    if redis.call('XDEL', KEYS[k], ARGV[i + 2]) == 1 then
      if redis.call('HINCRBY', KEYS[k + 1], ARGV[i + 3], -1) <= 0 then
        redis.call('HDEL', KEYS[k + 1], ARGV[i + 3])
      end
    end
    i = i + 4
  elseif op == 'O' then
    redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'F' then
    redis.call('DEL', KEYS[tonumber(ARGV[i + 1]) + 2])
    i = i + 2
  else
    return redis.error_reply('settle_incidents: unknown operation ' .. tostring(op))
  end
end
return 1
