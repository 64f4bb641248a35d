-- A publishing batch registers itself, then reads its packages' statuses (domain/scripts/fence.py).
-- Registered first, in the same script: a deactivation that waits for every batch registered before its
-- moment (fence.lua) also covers every batch that could have read the status `active`.
-- KEYS[1]: the in-flight set; KEYS[2…]: the packages' status copies (livescore:package:{id})
-- ARGV[1]: the batch's id
-- Reply: each package's status, in KEYS' order (false when it has no copy)
local now = redis.call('TIME')
redis.call('ZADD', KEYS[1], now[1] * 1000 + math.floor(now[2] / 1000), ARGV[1])
local statuses = {}
for i = 2, #KEYS do
  statuses[i - 1] = redis.call('HGET', KEYS[i], 'status')
end
return statuses
