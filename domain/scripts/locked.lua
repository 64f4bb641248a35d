-- A fragment: whether a failure budget is spent (tries.py: Budgets). Joined before the scripts that
-- answer a login, so that a remembered login meets the same limit as one verified in full (SPEC §2.3: once
-- a limit applies, the right password and a wrong one get the same answer).
-- Returns the seconds left in the window of the counter (or the latest of them) above its limit, else 0.
local function locked(keys, first_key, limits, first_limit, count)
  local retry_after = 0
  for i = 0, count - 1 do
    local key = keys[first_key + i]
    if tonumber(redis.call('GET', key) or '0') > tonumber(limits[first_limit + i]) then
      retry_after = math.max(retry_after, redis.call('TTL', key), 1)
    end
  end
  return retry_after
end
