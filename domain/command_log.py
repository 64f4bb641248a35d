"""Appending commands to `livescore:commands` — atomically with the checks that must hold when they enter.

One script checks that the caller's remembered credential version is still current (so a password change
stops old logins at once), for a snapshot (a recovery) that the package is active and no snapshot (no
recovery) is already queued, then appends. One round trip per command on the hot path.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from domain.commands import ChangeActivation, Trigger, TriggerRecovery
from domain.errors import ReplicasUnconfirmed
from domain.scripts.appends import Enqueued, EnqueueResult, enqueue
from domain.scripts.runner import RedisPyScripts, ReplicatedScripts
from domain.scripts.tries import UNLIMITED, Budgets
from domain.settings import Settings
from domain.streams import (
    COMMANDS_STREAM,
    WORKERS_GROUP,
    package_view,
    recovery_in_flight,
    snapshot_in_flight,
)

# Results that promise the customer a command in the stream: the replicas must hold it first.
_APPENDED = (EnqueueResult.QUEUED, EnqueueResult.COALESCED)
# A queued snapshot blocks new triggers for the package until its worker finishes it; should a worker
# lose it for good, triggers resume after this long.
SNAPSHOT_IN_FLIGHT_TTL_S = 900


@dataclass(frozen=True, slots=True)
class Replication:
    """How many replicas must hold an appended command before it counts as appended (SPEC §11), and how
    long to wait for them (Redis WAIT). `replicas` 0: appended once the primary has it."""

    replicas: int = 0
    timeout_ms: int = 1000

    @classmethod
    def of(cls, settings: Settings) -> "Replication":
        return cls(settings.redis_min_replicas, settings.redis_wait_timeout_ms)


class CommandLog:
    def __init__(
        self,
        redis: Redis,
        maxlen: int,
        scripts: ReplicatedScripts | None = None,
        replication: Replication = Replication(),
    ) -> None:
        """`scripts` runs the checked append, the ingress's hot path (ingress/multiplexed_redis.py)."""
        self._redis = redis
        self._maxlen = maxlen
        self._scripts = scripts or RedisPyScripts(redis)
        self._replication = replication

    async def append(
        self,
        command: ChangeActivation | Trigger,
        credential_version: str,
        budgets: Budgets = UNLIMITED,
    ) -> Enqueued:
        package_id = command.package_id
        call = enqueue(
            view=package_view(package_id),
            commands=COMMANDS_STREAM,
            snapshot_in_flight=_in_flight(command),
            credential_version=credential_version,
            commands_maxlen=self._maxlen,
            fields=command.to_fields(),
            snapshot_request_id=None if isinstance(command, ChangeActivation) else command.request_id,
            in_flight_ttl_s=SNAPSHOT_IN_FLIGHT_TTL_S,
            budgets=budgets,
        )
        wanted = self._replication
        if not wanted.replicas:
            return await call.run(self._scripts)
        reply, confirmed = await self._scripts.run_replicated(
            call.script, call.keys, call.args, wanted.replicas, wanted.timeout_ms
        )
        enqueued = call.read(reply)
        # A coalesced trigger answers with the queued snapshot's requestId: only as safe as that snapshot's
        # append, which the connection's replicas are asked about too (a primary cut off from its replicas
        # confirms nothing, whichever connection wrote).
        if enqueued.result in _APPENDED:
            self._check(confirmed)
        return enqueued

    async def append_unchecked(self, fields: Mapping[Any, Any]) -> bytes:
        """Append as the service itself (replay, a dead letter retried): no credential or status check;
        confirmed by the replicas like any command."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.xadd(COMMANDS_STREAM, dict(fields), maxlen=self._maxlen, approximate=True)
        if self._replication.replicas:
            pipe.execute_command("WAIT", self._replication.replicas, self._replication.timeout_ms)
        entry_id, *confirmed = await pipe.execute()
        for count in confirmed:
            self._check(count)
        return bytes(entry_id)

    def _check(self, confirmed: int) -> None:
        """A command that too few replicas hold could be lost in a failover: not appended, as far as the
        caller is told (it stays in the stream and may still be applied)."""
        if int(confirmed) < self._replication.replicas:
            raise ReplicasUnconfirmed()


def _in_flight(command: ChangeActivation | Trigger) -> str:
    """The key that coalesces the package's triggers of this kind (a recovery's, or a snapshot's)."""
    if isinstance(command, TriggerRecovery):
        return recovery_in_flight(command.package_id)
    return snapshot_in_flight(command.package_id)


async def ensure_consumer_group(redis: Redis, stream: str = COMMANDS_STREAM) -> None:
    """Create the workers' group reading from the start of the stream, unless it exists.

    Both the ingress and the worker call this before anything else, so that no command appended before
    the first worker ever ran is skipped (a group created later at `$` would never see it).
    """
    try:
        await redis.xgroup_create(stream, WORKERS_GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
