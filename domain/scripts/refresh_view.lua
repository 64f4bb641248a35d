-- Makes a package's copy say what storage holds after a write outside the commands stream (SPEC §2.5;
-- views.py: refresh_view). A copy newer than what was read from storage reflects a command committed
-- since, or one storage no longer holds (a restored database): it is dropped, and the next request
-- rebuilds it from storage. Either way the copy never says what storage does not.
-- KEYS: view
-- ARGV: status, ms, seq, reason, credential version — as storage holds them
-- Returns 1 when the copy was written, 0 when it was dropped.
local order = copy_order(KEYS[1], ARGV[2], ARGV[3])
if order ~= nil and order > 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'ms', ARGV[2], 'seq', ARGV[3], 'reason', ARGV[4],
  'cv', ARGV[5])
return 1
