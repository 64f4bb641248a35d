-- Appends a package's deactivation to the commands stream, once per guard time: for a broker that
-- refuses what does not fit (AMQP, `x-overflow` = `reject-publish`), as publish.lua does itself
-- (publishing.py: deactivate_once).
-- KEYS: commands stream, full guard
-- ARGV: commands maxlen, guard ttl (s), then the deactivation's field/value pairs
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
end
return 1
