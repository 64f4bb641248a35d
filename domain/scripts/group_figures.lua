
-- A consumer group's pending entries, consumers and undelivered entries, for the metrics (groups.py:
-- group_figures). Redis 7.0 may report a lag that is too large after a restart (undelivered.lua), so any
-- lag but 0 is counted, up to `most` entries.
-- KEYS: stream
-- ARGV: group, most
-- Returns {pending, consumers, lag}, or {} when there is no such stream or group.
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local most = tonumber(ARGV[2])
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  if field(group, 'name') == ARGV[1] then
    local lag = field(group, 'lag')
    if lag ~= 0 then
      local counted = undelivered(KEYS[1], ARGV[1], field(group, 'last-delivered-id'), most, lag)
      lag = counted <= most and counted or math.max(counted, lag or 0)
    end
    return {field(group, 'pending'), field(group, 'consumers'), lag}
  end
end
return {}
