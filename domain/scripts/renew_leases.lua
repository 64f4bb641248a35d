-- Renews an incidents worker's partition leases and takes free ones up to its fair share
-- (partitions.py: renew_leases). Redis's clock decides liveness, so workers on machines whose clocks
-- differ still agree.
-- KEYS: the workers' set, then the lease of every partition
-- ARGV: this worker, the lease in ms, where to start looking for free partitions, then the partitions it
--       believes it holds
-- Returns: the number of live workers, the fair share, the partitions renewed, those newly taken
local me, lease, start = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + lease, me)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local partitions = #KEYS - 1
local fair = math.ceil(partitions / math.max(1, redis.call('ZCARD', KEYS[1])))
local kept, taken, mine = {}, {}, {}
for i = 4, #ARGV do
  local p = tonumber(ARGV[i])
  if redis.call('GET', KEYS[p + 2]) == me then
    redis.call('PEXPIRE', KEYS[p + 2], lease)
    kept[#kept + 1] = p
    mine[p] = true
  end
end
local held = #kept
for i = 0, partitions - 1 do
  if held >= fair then break end
  local p = (start + i) % partitions
  if not mine[p] and redis.call('SET', KEYS[p + 2], me, 'NX', 'PX', lease) then
    taken[#taken + 1] = p
    held = held + 1
  end
end
return {redis.call('ZCARD', KEYS[1]), fair, kept, taken}
