-- remember_state.lua for the packages of a whole batch in one call (views.py: remember_states): each
-- copy takes its state if its command is newer than the copy's. Credential versions are left alone.
-- KEYS: views
-- ARGV: per view, four: status, ms, seq, reason ('' = none)
-- Returns the number of copies written.
local written = 0
for i, view in ipairs(KEYS) do
  local at = (i - 1) * 4
  local status, ms, seq, reason = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  local order = copy_order(view, ms, seq)
  if order == nil or order < 0 then
    redis.call('HSET', view, 'status', status, 'ms', ms, 'seq', seq, 'reason', reason)
    written = written + 1
  end
end
return written
