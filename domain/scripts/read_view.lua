
-- A package's status copy and its queue's distribution figures, read together so that a status answer
-- costs one round trip (views.py: read_view). The backlog is the publish script's own (backlog.lua):
-- what Redis reports is taken as it is, and only a lag it cannot tell is counted, once.
-- KEYS: view, the package's queue
-- ARGV: the queue limit
-- Returns {credential version, status, reason, length, pending, consumers, lag}.
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
return {view[1], view[2], view[3], length, pending, consumers, lag}
