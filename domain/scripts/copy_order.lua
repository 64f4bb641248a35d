-- How the command behind the copy in KEYS[1] compares with stream id ARGV[2]-ARGV[3]: -1 older, 0 the
-- same, 1 newer; nil when there is no copy. (A fragment of remember_state.lua and refresh_view.lua.)
local function copy_order()
  local cur = redis.call('HMGET', KEYS[1], 'ms', 'seq')
  if not cur[1] then return nil end
  local cms, cseq = tonumber(cur[1]), tonumber(cur[2])
  local ms, seq = tonumber(ARGV[2]), tonumber(ARGV[3])
  if cms == ms and cseq == seq then return 0 end
  if cms > ms or (cms == ms and cseq > seq) then return 1 end
  return -1
end
