
-- The backlog of a fixtures queue, given its XINFO GROUPS: the most entries not yet delivered to one of
-- its groups, or its length when it has none. A group's lag as Redis reports it is taken up to `trusted`;
-- above that, or when Redis cannot tell it, it is counted. A queue is trimmed to about 2 × limit, so a
-- count bounded by 3 × limit is exact for every queue the service keeps, and always above the limit
-- when it is not. (A fragment, after undelivered.lua, of publish.lua and read_view.lua.)
local function backlog(queue, groups, trusted, limit)
  if #groups == 0 then return redis.call('XLEN', queue) end
  local worst = 0
  for _, group in ipairs(groups) do
    local lag = field(group, 'lag')
    if not lag or lag > trusted then
      local name, last = field(group, 'name'), field(group, 'last-delivered-id')
      lag = undelivered(queue, name, last, 3 * limit, lag)
    end
    if lag > worst then worst = lag end
  end
  return worst
end
