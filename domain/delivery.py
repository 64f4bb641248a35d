"""The one seam between what a package receives and the broker that carries it (SPEC §4, §9, §10).

The worker decides which messages go to which package's queue; a `Delivery` carries them: Redis
streams (delivery/redis_streams.py, the default) or RabbitMQ queues (delivery/amqp.py). Nothing above
this seam knows which one is behind it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Protocol

import msgspec
from redis.asyncio.client import Pipeline

from domain.messages import Outgoing


class QueueKind(StrEnum):
    """A package's two queues: fixtures (SPEC §4) and incidents (SPEC §10)."""

    FIXTURES = "fixtures"
    INCIDENTS = "incidents"


class PublishResult(StrEnum):
    OK = "ok"
    # The rest did not fit under the queue limit; the package's deactivation is enqueued (once per
    # activation, domain/queue_limit.py).
    FULL = "full"
    # The package is inactive: nothing was sent.
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class Published:
    result: PublishResult
    # Messages accepted (and, where the broker confirms, confirmed), in order, before anything stopped.
    count: int


@dataclass(frozen=True, slots=True)
class Parcel:
    """Messages for one package's queue, published in this order."""

    package_id: int
    kind: QueueKind
    messages: Sequence[Outgoing]
    # A name used once: a parcel whose name was already used is not published again (a snapshot's
    # completion, which a redelivered snapshot command must not repeat).
    once: str | None = None


class QueueFigures(msgspec.Struct, frozen=True, omit_defaults=True):
    """A package's queue as its customer sees it: messages held, delivered but unacknowledged, readers,
    and the backlog that counts against the queue limit (SPEC §4, §9). `status` shows it as is."""

    name: str
    length: int
    # None when the broker cannot tell it now: over AMQP, only its management API knows it, and a status
    # call answers with the rest rather than fail while that API is unreachable.
    pending: Annotated[
        int | None,
        msgspec.Meta(
            description="Messages delivered to a consumer and not yet acknowledged; null when the broker "
            "cannot tell it now (over AMQP: its management API is unreachable)"
        ),
    ]
    consumers: int
    lag: int
    # Where the queue lives, for a broker with virtual hosts (SPEC §9); absent for Redis streams.
    vhost: str | None = None


class Delivery(Protocol):
    async def publish(self, parcels: Sequence[Parcel]) -> list[Published]:
        """Publish each parcel to its package's queue and return once the broker has taken (confirmed)
        every message published. Nothing goes to an inactive package; a queue at its limit takes nothing
        more, and the package's deactivation (reason `queue-limit`) is enqueued, once per activation,
        through domain/queue_limit.py: the one call every delivery makes for a refusal."""
        ...

    async def provision(self, package_id: int) -> None:
        """Make sure the package's queues exist (activation, `package add --active`)."""
        ...

    async def admit(self, package_id: int, partition: int) -> None:
        """Called by a partition's owner right after it published the package's scoreboards of that
        partition (the initial image, a recovery; SPEC §12): from now on the package receives the
        partition's incidents through whatever routes them to its queue."""
        ...

    async def fence(self, writes: Pipeline) -> None:
        """Called with a deactivation's status copy queued on `writes`, before its 200 (SPEC §9): return
        once no publish that read the status before that copy was written is in flight. A delivery that
        must wait sends `writes` first (the pipeline is left empty, ready for more); one whose publishing
        checks the status as it appends leaves it to be sent with the rest."""
        ...

    async def figures(self, package_id: int, kind: QueueKind) -> QueueFigures:
        """The queue's figures, no older than about a second."""
        ...

    async def reachable(self) -> bool:
        """Whether the broker answers now (readiness)."""
        ...

    def nodes(self) -> dict[str, str]:
        """Where each open connection is (readiness, SPEC §11): name → host:port; empty when there is
        nothing of the delivery's own to tell."""
        ...

    async def close(self) -> None: ...


class QueueReader(Protocol):
    """A package's two queues read as its customer reads them (`livescore watch`): every message, oldest
    first, then new ones as they come, without taking them from anybody else's reader."""

    async def read(self, wait_s: float) -> list[tuple[QueueKind, bytes]]:
        """The next messages of either queue, each with the queue it came from; waits up to `wait_s` for
        one when there is none, then returns none."""
        ...

    async def close(self) -> None: ...
