-- Records a package's state in its copy if its command is newer than the copy's (views.py:
-- remember_state). The credential version is only set when absent: `package set-password` is its one
-- writer, so a reader holding an older version from storage can never bring it back.
-- KEYS: view
-- ARGV: status, ms, seq, reason ('' = none), credential version ('' = leave it)
-- Returns the status the copy holds afterwards.
local order = copy_order(KEYS[1], ARGV[2], ARGV[3])
if order == nil or order < 0 then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'ms', ARGV[2], 'seq', ARGV[3], 'reason', ARGV[4])
end
if ARGV[5] ~= '' then redis.call('HSETNX', KEYS[1], 'cv', ARGV[5]) end
return redis.call('HGET', KEYS[1], 'status')
