-- Frees the package for its next snapshot, unless a newer one holds it (appends.py: release_snapshot).
-- KEYS: snapshot in flight
-- ARGV: request id
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
