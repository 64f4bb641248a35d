-- Asks the incident partitions' owners to serve a request, unless it is pending already or, for a
-- recovery, was completed before (its completion marker is set) (owner_requests.py: create_request).
-- KEYS: the requests hash, the completion marker
-- ARGV: request id, the request (JSON)
-- Returns 1 when created, 0 when it was pending or completed already.
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
