-- Publishes what fits under the limit to an active package's queue (publishing.py: publish). Any lag
-- that would keep a message out is counted first (undelivered.lua): a customer who has read everything is
-- never refused because Redis misreports a group after a restart. What does not fit is left to the
-- caller, who has the package deactivated (domain/queue_limit.py), as with a broker that refuses it.
-- KEYS: view, queue
-- ARGV: limit, message field, then the messages
-- Returns {'inactive', 0}, {'full', messages published} or {'ok', messages published}.
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return {'inactive', 0} end
local limit, message_field = tonumber(ARGV[1]), ARGV[2]
local first = 3
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
if count < size then return {'full', count} end
return {'ok', count}
