-- Forgets a request that every partition served and frees its package for the next one, unless a newer
-- request holds it; signals an activation waiting for its image (owner_requests.py: finish_request).
-- KEYS: the requests hash, the package's in-flight key, the request's finished signal
-- ARGV: request id, the number of partitions, 1 to signal (an image) or 0, the signal's lifetime (s)
local id = ARGV[1]
local fields = {id, id .. ':n', id .. ':f', id .. ':i'}
for p = 0, tonumber(ARGV[2]) - 1 do fields[#fields + 1] = id .. ':' .. p end
redis.call('HDEL', KEYS[1], unpack(fields))
if redis.call('GET', KEYS[2]) == id then redis.call('DEL', KEYS[2]) end
if ARGV[3] == '1' then
  redis.call('RPUSH', KEYS[3], '1')
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
return 1
