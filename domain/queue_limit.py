"""A package's queue that refused messages (SPEC §4, §9): the one call both deliveries make.

Whichever broker refused — a Redis stream past its limit, a RabbitMQ queue with `x-overflow` =
`reject-publish` — the package is deactivated with reason `queue-limit` through the commands stream (so
the change is ordered and replayed like every other), once per activation, with one log line, and the
refused messages are counted by queue kind.
"""

import logging

from prometheus_client import Counter
from redis.asyncio import Redis

from domain.commands import DeactivatePackage
from domain.delivery import QueueKind
from domain.scripts import publishing
from domain.scripts.runner import RedisPyScripts
from domain.streams import COMMANDS_STREAM, package_view, queue_full

log = logging.getLogger("domain.queue_limit")

# Why the service deactivated a package; shown by `status`.
QUEUE_LIMIT_REASON = "queue-limit"
# The guard keeps one activation from enqueueing a deactivation per refused message; it expires so that a
# deactivation lost with its stream (Redis restored without it) is enqueued again on a later refusal.
QUEUE_FULL_GUARD_S = 60

# Registered once per process: the worker serves it at /metrics (where the refusals happen).
MESSAGES_REFUSED = Counter(
    "livescore_messages_refused_total",
    "Messages a package's queue refused because it was full (its package is deactivated)",
    ["queue"],
)


class QueueLimit:
    def __init__(self, redis: Redis, limit: int, commands_maxlen: int) -> None:
        self._scripts = RedisPyScripts(redis)
        self._limit = limit
        self._commands_maxlen = commands_maxlen

    async def refused(self, package_id: int, kind: QueueKind, count: int) -> None:
        """`count` messages for the package's `kind` queue did not fit: count them, and enqueue the
        package's deactivation unless this activation's already is."""
        MESSAGES_REFUSED.labels(kind.value).inc(count)
        call = publishing.deactivate_once(
            view=package_view(package_id),
            commands=COMMANDS_STREAM,
            full_guard=queue_full(package_id),
            commands_maxlen=self._commands_maxlen,
            guard_ttl_s=QUEUE_FULL_GUARD_S,
            deactivation=DeactivatePackage(package_id=package_id, reason=QUEUE_LIMIT_REASON).to_fields(),
        )
        if await call.run(self._scripts):
            log.warning(
                "deactivating package %s (%s): its %s queue is full (limit %d), %d messages refused",
                package_id,
                QUEUE_LIMIT_REASON,
                kind.value,
                self._limit,
                count,
            )
