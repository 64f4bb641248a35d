-- Reserves one try of every failure budget before a password is verified (tries.py: reserve_try).
-- Refuses, counting nothing, with the seconds left in the window of the counter (or the latest of them)
-- already above its limit; else counts a try in each, starting its window if it is new.
-- KEYS: the counters
-- ARGV: each counter's limit, in the order of KEYS, then the window (s)
-- Returns 0 when the try is reserved, else the seconds to wait.
local retry_after = locked(KEYS, 1, ARGV, 1, #KEYS)
if retry_after > 0 then
  return retry_after
end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[#KEYS + 1], 'NX')
end
return 0
