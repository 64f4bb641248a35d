-- One round of incident partitions settled at once (domain/scripts/parking.py): dead letters, parked and
-- released incidents with their fixtures' counts, new offsets, forgotten records of delivered fixtures.
-- One script instead of a MULTI of thousands of commands: a flood of parked incidents costs the worker
-- one call per round, not two queued commands (and their replies) per incident. The operations come as
-- one MessagePack array rather than as thousands of arguments: packing each argument in the worker cost
-- more than Redis running the script.
-- KEYS: the dead letters' stream, the offsets' hash, then per partition its parked stream, its
--       parked-fixtures hash and its delivered hash (an operation names the first of these three)
-- ARGV[1]: the dead letters' approximate maximum length; ARGV[2]: the operations, each an array (ids,
--   fixtures and times as strings: a Lua number would reach Redis as "1.7e+12"):
--   {'D', field, value, …}              a dead letter
--   {'P', k, id, fixture, since, message}  park (under the incident's own stream id), count the fixture
--   {'U', k, id, fixture}               release: drop from the parked stream, count the fixture down
--   {'O', partition, offset}            the partition's new offset
--   {'F', k}                            forget the delivered record
for _, op in ipairs(cmsgpack.unpack(ARGV[2])) do
  local what = op[1]
  if what == 'D' then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(op, 2))
  elseif what == 'P' then
    local k = op[2]
    -- Parked before (a commit whose reply was lost): counted then, so not again.
    local added = redis.pcall('XADD', KEYS[k], op[3], 'message', op[6], 'fixture', op[4], 'since', op[5])
    if type(added) ~= 'table' or not added.err then
      redis.call('HINCRBY', KEYS[k + 1], op[4], 1)
    end
  elseif what == 'U' then
    local k = op[2]
    if redis.call('XDEL', KEYS[k], op[3]) == 1 then
      if redis.call('HINCRBY', KEYS[k + 1], op[4], -1) <= 0 then
        redis.call('HDEL', KEYS[k + 1], op[4])
      end
    end
  elseif what == 'O' then
    redis.call('HSET', KEYS[2], op[2], op[3])
  elseif what == 'F' then
    redis.call('DEL', KEYS[op[2] + 2])
  else
    return redis.error_reply('settle_incidents: unknown operation ' .. tostring(what))
  end
end
return 1
