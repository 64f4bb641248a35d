-- Gives back the try a login reserved, in every budget (tries.py: give_back_try). Only a counter that
-- still exists gives a try back: DECR would recreate one whose window has ended, without an expiry, and
-- so for good.
-- KEYS: the counters
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
