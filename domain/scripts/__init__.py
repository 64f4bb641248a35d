"""Every Lua script the service runs in Redis, and the one way of running them.

A check that must hold as something is written (a credential version still current, a package active, a
queue with room, a login budget not spent) is made by Redis itself, in a script, atomically with the
write. Each script is a `.lua` file here, loaded once; its KEYS and ARGV are named at its top. Beside
them, one module per family holds a typed wrapper per script, which takes named keys and arguments and
returns an enum or a dataclass, so the order of KEYS and ARGV lives in one place:

- `appends.py`: a command appended to `livescore:commands` after its checks; a snapshot's slot freed.
- `views.py`: the Redis copy of a package's status (read with its queue's figures, remembered, refreshed).
- `publishing.py`: messages published to a package's queue under the queue limit; the deactivation of a
  package whose queue is full, once per activation.
- `tries.py`: the brute-force limit's budgets, a try reserved or given back.
- `groups.py`: the workers' group's pending, consumers and lag, for the metrics.

A wrapper returns a `ScriptCall` (runner.py); any `ScriptRunner` runs it: redis-py's client, redis-py's
pipeline (several calls in one round trip), or the ingress's multiplexed connection for its hot path.
"""
