-- Appends one message to an active package's queue unless the marker was set before: a snapshot's
-- completion, sent once however often its command is delivered (publishing.py: publish_once).
-- KEYS: view, queue, once marker
-- ARGV: message, marker ttl (s), limit, message field
-- Returns {'ok', 0} (sent before), {'inactive', 0} or {'ok', 1}.
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[2]) then return {'ok', 0} end
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return {'inactive', 0} end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 2 * tonumber(ARGV[3]), '*', ARGV[4], ARGV[1])
return {'ok', 1}
