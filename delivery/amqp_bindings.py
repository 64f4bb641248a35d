"""A package's queues bound to the service's exchange while it is active, with the keys its subscriptions
ask for (SPEC §9: bindings follow activation, deactivation and subscriptions).

Each change is made under the package's lock and follows its Redis status copy as it reads it then, not
the command that asked: an activation and a deactivation applied by two workers one after the other
leave the bindings of the final status, whichever ran last. What was bound is recorded in Redis before
the broker binds it (a crash in between leaves a key recorded that a later unbind, harmless, removes), so
a deactivation removes every binding without asking the management API.
"""

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from aio_pika import RobustQueue
from redis.asyncio import Redis
from redis.asyncio.lock import Lock

from delivery.amqp_routes import binding_keys
from domain.delivery import QueueKind, Subscriptions
from domain.incidents import PARTITIONS
from domain.streams import AMQP_EXCHANGE, amqp_binding_lock, amqp_bindings, package_view

log = logging.getLogger("delivery.amqp")

# A lock held longer than this is a dead worker's: a package's few dozen binds take milliseconds.
LOCK_S = 30.0
# Waiting longer than this for another worker's change of the same package is an outage.
LOCK_WAIT_S = 35.0

# A queue's binding: which of the package's queues, with which routing key.
Binding = tuple[QueueKind, str]
QueueOf = Callable[[QueueKind, int], Awaitable[RobustQueue]]


class Bindings:
    def __init__(self, redis: Redis, queue_of: QueueOf, provision: Callable[[int], Awaitable[None]]) -> None:
        self._redis = redis
        self._queue_of = queue_of
        self._provision = provision

    async def follow(
        self,
        package_id: int,
        subscriptions: Subscriptions | None,
        partitions: Iterable[int] = range(PARTITIONS),
    ) -> bool:
        """The package's bindings made to match its status copy: its subscriptions' keys (on the Incidents
        vhost, for these partitions; keys of other partitions already bound stay) while active, none
        otherwise. Returns whether it is active."""
        async with self._lock(package_id):
            active = await self._redis.hget(package_view(package_id), "status") == b"active"
            bound = {_parse(member) for member in await self._redis.smembers(amqp_bindings(package_id))}
            if active and subscriptions is not None:
                await self._provision(package_id)
            wanted = _target(active, subscriptions, bound, partitions)
            await self._bind(package_id, sorted(wanted - bound))
            await self._unbind(package_id, sorted(bound - wanted))
        return active

    async def correct(self, actual: dict[int, set[Binding]]) -> None:
        """The record made to say what the broker lists (a broker reset, a record lost with Redis), for
        each package either side names; `follow` then changes what differs from storage."""
        for package_id in await self.recorded() | set(actual):
            async with self._lock(package_id):
                pipe = self._redis.pipeline(transaction=True)
                pipe.delete(amqp_bindings(package_id))
                if actual.get(package_id):
                    pipe.sadd(amqp_bindings(package_id), *(_member(b) for b in actual[package_id]))
                await pipe.execute()

    async def out_of_line(self, packages: Mapping[int, Subscriptions | None]) -> list[int]:
        """Those of the packages whose recorded bindings are not what `follow` would leave (every
        partition's keys while active), read in one round trip and without the locks."""
        pipe = self._redis.pipeline(transaction=False)
        for package_id in packages:
            pipe.hget(package_view(package_id), "status")
            pipe.smembers(amqp_bindings(package_id))
        replies = await pipe.execute() if packages else []
        differing = []
        for (package_id, subscriptions), status, members in zip(
            packages.items(), replies[::2], replies[1::2], strict=True
        ):
            bound = {_parse(member) for member in members}
            if bound != _target(status == b"active", subscriptions, bound, range(PARTITIONS)):
                differing.append(package_id)
        return differing

    async def recorded(self) -> set[int]:
        """The packages with a binding on record."""
        return {_package_of(key) async for key in self._redis.scan_iter(match=amqp_bindings(0)[:-1] + "*")}

    def _lock(self, package_id: int) -> Lock:
        return self._redis.lock(amqp_binding_lock(package_id), timeout=LOCK_S, blocking_timeout=LOCK_WAIT_S)

    async def _bind(self, package_id: int, keys: list[Binding]) -> None:
        if not keys:
            return
        await self._redis.sadd(amqp_bindings(package_id), *(_member(k) for k in keys))
        for kind, key in keys:
            queue = await self._queue_of(kind, package_id)
            await queue.bind(AMQP_EXCHANGE, key, robust=False)

    async def _unbind(self, package_id: int, keys: list[Binding]) -> None:
        for kind, key in keys:
            queue = await self._queue_of(kind, package_id)
            await queue.unbind(AMQP_EXCHANGE, key)
        if keys:
            await self._redis.srem(amqp_bindings(package_id), *(_member(k) for k in keys))


def _target(
    active: bool, subscriptions: Subscriptions | None, bound: set[Binding], partitions: Iterable[int]
) -> set[Binding]:
    """The bindings a package should have once `follow` has run for these partitions: its subscriptions'
    keys for them while active, none otherwise."""
    if not active or subscriptions is None:
        return set()
    # Another partition's incident keys, opened by its owner already, stay (SPEC §12's image).
    opened = {(kind, key) for kind, key in bound if kind is QueueKind.INCIDENTS}
    return _wanted(subscriptions, partitions) | (opened & _wanted(subscriptions, range(PARTITIONS)))


def _wanted(subscriptions: Subscriptions, partitions: Iterable[int]) -> set[Binding]:
    parts = list(partitions)
    return {(kind, key) for kind in QueueKind for key in binding_keys(kind, subscriptions, parts)}


def _package_of(key: bytes | str) -> int:
    return int((key.decode() if isinstance(key, bytes) else key).rpartition(":")[2])


def _member(binding: Binding) -> str:
    return f"{binding[0].value}|{binding[1]}"


def _parse(member: bytes | str) -> Binding:
    text = member.decode() if isinstance(member, bytes) else member
    kind, _, key = text.partition("|")
    return QueueKind(kind), key
