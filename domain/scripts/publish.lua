
-- Publishes what fits under the limit to an active package's queue; when some does not fit, appends the
-- package's deactivation to the commands stream, once per guard time (publishing.py: publish). Any lag
-- that would keep a message out is counted first (undelivered.lua): a customer who has read everything is
-- never refused because Redis misreports a group after a restart.
-- KEYS: view, queue, commands stream, full guard
-- ARGV: limit, commands maxlen, guard ttl (s), message field, the number n of the deactivation's
--       field/value items, those n items, then the messages
-- Returns {'inactive', 0}, {'full', messages published} or {'ok', messages published}.
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return {'inactive', 0} end
local limit, message_field, nfields = tonumber(ARGV[1]), ARGV[4], tonumber(ARGV[5])
local first = 6 + nfields
local size = #ARGV - first + 1
local taken = 0
if redis.call('EXISTS', KEYS[2]) == 1 then
  taken = backlog(KEYS[2], redis.call('XINFO', 'GROUPS', KEYS[2]), limit - size, limit)
end
local count = math.max(0, math.min(limit - taken, size))
-- Trimmed far above the limit: only entries every group has already received are ever dropped.
for i = first, first + count - 1 do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 2 * limit, '*', message_field, ARGV[i])
end
if first + count - 1 < #ARGV then
  if redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[3]) then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 6, 5 + nfields))
  end
  return {'full', count}
end
return {'ok', count}
