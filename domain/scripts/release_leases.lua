-- Gives up the leases this worker still holds, never another's (partitions.py: release_leases).
-- KEYS: the workers' set, then leases
-- ARGV: this worker, then '1' when it also leaves the workers' set
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
if ARGV[2] == '1' then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1
