-- Whether a batch registered before a moment is still publishing (domain/scripts/fence.py).
-- KEYS[1]: the in-flight set
-- ARGV[1]: the moment (ms of Redis's clock; 0: now, which is then returned); ARGV[2]: how long a batch
--          can publish at most (ms): one registered longer ago belonged to a worker that died, and leaves
-- Reply: {the moment, batches registered before it and still publishing}
local moment = tonumber(ARGV[1])
if moment == 0 then
  local now = redis.call('TIME')
  moment = now[1] * 1000 + math.floor(now[2] / 1000)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (moment - tonumber(ARGV[2])))
return {moment, redis.call('ZCOUNT', KEYS[1], '-inf', moment)}
