-- How the command behind the copy in `view` compares with stream id ms-seq: -1 older, 0 the same,
-- 1 newer; nil when there is no copy. (A fragment of remember_state.lua, remember_states.lua and
-- refresh_view.lua.)
local function copy_order(view, ms, seq)
  local cur = redis.call('HMGET', view, 'ms', 'seq')
  if not cur[1] then return nil end
  local cms, cseq = tonumber(cur[1]), tonumber(cur[2])
  ms, seq = tonumber(ms), tonumber(seq)
  if cms == ms and cseq == seq then return 0 end
  if cms > ms or (cms == ms and cseq > seq) then return 1 end
  return -1
end
