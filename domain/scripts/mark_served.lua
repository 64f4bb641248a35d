-- Marks partitions of a request served, adding what each sent, each once (owner_requests.py:
-- mark_served).
-- KEYS: the requests hash
-- ARGV: request id, then per partition: partition, scoreboards sent, incidents sent
-- Returns {partitions served, scoreboards, incidents} of the request so far, or {} when it is gone.
local id = ARGV[1]
if redis.call('HEXISTS', KEYS[1], id) == 0 then return {} end
for i = 2, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[1], id .. ':' .. ARGV[i], '1') == 1 then
    redis.call('HINCRBY', KEYS[1], id .. ':f', ARGV[i + 1])
    redis.call('HINCRBY', KEYS[1], id .. ':i', ARGV[i + 2])
    redis.call('HINCRBY', KEYS[1], id .. ':n', 1)
  end
end
local got = redis.call('HMGET', KEYS[1], id .. ':n', id .. ':f', id .. ':i')
return {tonumber(got[1]), tonumber(got[2]), tonumber(got[3])}
