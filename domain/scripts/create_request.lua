-- Asks the incident partitions' owners to serve a request, unless it is pending already or, for a
-- recovery, was completed before (its completion marker is set) (owner_requests.py: create_request).
-- KEYS: the requests hash, the completion marker, the owners' wake stream
-- ARGV: request id, the request (JSON), the wake stream's length
-- Returns 1 when created, 0 when it was pending or completed already.
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'request', ARGV[1])
return 1
