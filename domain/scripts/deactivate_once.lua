-- Appends the deactivation of a package whose queue refused messages to the commands stream, once per
-- activation (queue_limit.py): the guard holds the stream id of the activation it was appended under, so
-- an activation after it (a newer id in the package's status copy) is deactivated again on its next
-- overflow, while the many refusals before the deactivation is applied append one command. A package no
-- longer active (the deactivation applied, or the customer's own) gets none. The guard's expiry appends
-- the command again should it have been lost, which is harmless: it changes an inactive package nothing.
-- KEYS: view, commands stream, full guard
-- ARGV: commands maxlen, guard ttl (s), then the deactivation's field/value pairs
-- Returns 1 when the deactivation was appended, else 0.
local view = redis.call('HMGET', KEYS[1], 'status', 'ms', 'seq')
if view[1] ~= 'active' then return 0 end
local activation = tostring(view[2]) .. '-' .. tostring(view[3])
if redis.call('GET', KEYS[3]) == activation then return 0 end
redis.call('SET', KEYS[3], activation, 'EX', ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
return 1
