-- A package's status copy and its queue's distribution figures, read together so that a status answer
-- costs one round trip (views.py: read_view). The backlog is the publish script's own (backlog.lua):
-- what Redis reports is taken as it is, and only a lag it cannot tell is counted, once.
-- The caller's failure budgets are checked in the same round trip (locked.lua): a spent one answers
-- nothing else.
-- KEYS: view, the package's queue, then the caller's failure counters
-- ARGV: the queue limit, then each counter's limit
-- Returns {credential version, status, reason, length, pending, consumers, lag, 0}, or
-- {nil, nil, nil, 0, 0, 0, 0, seconds to wait} when a budget is spent.
local retry_after = locked(KEYS, 3, ARGV, 2, #KEYS - 2)
if retry_after > 0 then
  return {false, false, false, 0, 0, 0, 0, retry_after}
end
local view = redis.call('HMGET', KEYS[1], 'cv', 'status', 'reason')
local length, pending, consumers, lag = 0, 0, 0, 0
if redis.call('EXISTS', KEYS[2]) == 1 then
  length = redis.call('XLEN', KEYS[2])
  local groups = redis.call('XINFO', 'GROUPS', KEYS[2])
  for _, group in ipairs(groups) do
    pending = pending + field(group, 'pending')
    consumers = consumers + field(group, 'consumers')
  end
  lag = backlog(KEYS[2], groups, math.huge, tonumber(ARGV[1]))
end
return {view[1], view[2], view[3], length, pending, consumers, lag, 0}
