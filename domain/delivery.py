"""The one seam between what a package receives and the broker that carries it (SPEC §4, §9, §10).

The worker decides which messages go to which package's queue; a `Delivery` carries them: Redis
streams (delivery/redis_streams.py, the default) or RabbitMQ queues (delivery/amqp.py). Nothing above
this seam knows which one is behind it.
"""

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Protocol, TypeVar

import msgspec
from redis.asyncio.client import Pipeline

from domain.messages import Outgoing

T = TypeVar("T")


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
    # A name the parcel is sent under at most once: sent under a name already used, it is not published
    # again (a snapshot's completion, which a redelivered snapshot command must not repeat). Each
    # delivery marks it where it keeps its state (domain.streams.sent_once).
    once: str | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    """What a broadcast message is about, which decides who gets it (SPEC §4 subscriptions): a fixture of a
    sport and a league, or nothing in particular (a heartbeat, for every active package)."""

    fixture_id: int
    sport_id: int
    league_id: int


@dataclass(frozen=True, slots=True)
class Broadcast:
    """One message for many packages' queues: an incident, a fixture update, a heartbeat."""

    message: Outgoing
    # The packages it is for, as storage's subscriptions said when the caller last read them (a second
    # ago at most): a broker that routes by its own bindings uses them only to find a full queue.
    audience: Sequence[int]
    topic: Topic | None


@dataclass(frozen=True, slots=True)
class Subscriptions:
    """What a package subscribes to (SPEC §4): none of either means everything."""

    sports: frozenset[int] = frozenset()
    leagues: frozenset[int] = frozenset()


def as_parcels(kind: "QueueKind", items: Sequence[Broadcast]) -> tuple[list[Parcel], list[list[int]]]:
    """Broadcasts as one parcel per package, its messages in the given order, with each parcel's
    positions in `items` (what a full queue refused is known by them): for a delivery that copies."""
    positions: dict[int, list[int]] = {}
    for position, item in enumerate(items):
        for package_id in item.audience:
            positions.setdefault(package_id, []).append(position)
    parcels = [Parcel(p, kind, [items[i].message for i in at]) for p, at in positions.items()]
    return parcels, list(positions.values())


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
    # Whether a queue's figures are kept with the package's status copy (read with it in one round trip
    # by `status`) rather than asked of the broker.
    figures_in_view: bool
    # Whether the broker routes a broadcast by the packages' subscriptions (bindings that `follow`,
    # `reconcile` and `admit` keep, so their callers read the subscriptions from storage first) rather
    # than its caller naming the audience (the Redis streams adapter, to which they are no-ops).
    routes_by_subscriptions: bool

    async def publish(self, parcels: Sequence[Parcel]) -> list[Published]:
        """Publish each parcel to its package's queue and return once the broker has taken (confirmed)
        every message published. Nothing goes to an inactive package; a queue at its limit takes nothing
        more, and the package's deactivation (reason `queue-limit`) is enqueued, once per activation,
        through domain/queue_limit.py: the one call every delivery makes for a refusal."""
        ...

    async def start_publish(self, parcels: Sequence[Parcel]) -> asyncio.Future[list[Published]]:
        """`publish` in two steps, for a caller that goes on while the broker confirms (a snapshot's next
        chunk): the messages sent, after every earlier call's; the returned future gives what `publish`
        returns once they are confirmed, or fails."""
        ...

    async def broadcast(self, kind: QueueKind, items: Sequence[Broadcast]) -> set[int]:
        """Each message to the queue of every active package subscribed to its topic, in order, once the
        broker confirmed them; returns the positions of the messages a full queue refused (that package
        deactivated, as `publish` does; the others got them)."""
        ...

    async def start_broadcast(self, kind: QueueKind, items: Sequence[Broadcast]) -> asyncio.Future[set[int]]:
        """`broadcast` in two steps, for a caller that goes on while the broker confirms (the incident
        partitions' owner, worker/partitions.py): the messages sent, after every earlier call's; the
        returned future gives what `broadcast` returns once they are confirmed, or fails."""
        ...

    async def provision(self, package_id: int) -> None:
        """Make sure the package's queues exist (activation, `package add --active`)."""
        ...

    async def admit(self, package_id: int, partitions: Collection[int], subscriptions: Subscriptions) -> None:
        """Called by the partitions' owner right after it published the package's scoreboards of those
        partitions (the initial image, a recovery; SPEC §12): from now on the package receives their
        incidents through whatever routes them to its queue."""
        ...

    async def follow(
        self,
        writes: Pipeline,
        packages: Mapping[int, Subscriptions | None],
        imaged: Collection[int] = (),
    ) -> None:
        """Called with these packages' status copies queued on `writes` (an activation, a deactivation, a
        write outside the commands stream), before the answer: returns once each package whose copy says
        active gets what is broadcast to its subscriptions (None: not in storage) — the incidents of an
        `imaged` package once each partition's owner admits it, after its image — and nothing more
        reaches the others' queues (SPEC §9: after a deactivation's 200, nothing of any kind). A delivery
        that must act sends `writes` first (the pipeline is left empty, ready for more); one whose
        publishing checks the status as it appends leaves it to be sent with the rest."""
        ...

    async def reconcile(self, packages: Mapping[int, Subscriptions | None]) -> None:
        """At a worker's start, with every package storage holds and its subscriptions, and their status
        copies written: what reaches each package's queues made to follow them (`follow` for all, and for
        any package the delivery itself still routes to)."""
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


class QueuePeek(Protocol):
    """A package's queue read by an operator without taking anything (`livescore queue read`)."""

    def read(
        self, package_id: int, kind: QueueKind, count: int | None, last: int | None, follow: bool
    ) -> AsyncIterator[bytes]:
        """The oldest `count` messages (all when None), or the newest `last`, oldest first; then, with
        `follow`, every new one as it comes. Raises NotOverThisBroker for what its broker cannot do."""
        ...

    async def close(self) -> None: ...


def settled(outcome: T) -> asyncio.Future[T]:
    """An outcome known at once (nothing sent, or sent to a broker that answers as it takes)."""
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    future.set_result(outcome)
    return future
