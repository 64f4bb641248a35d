"""Delivery to RabbitMQ as the upstream feed delivers (SPEC §9): vhosts `Fixtures` and `Incidents`, one
durable queue `_{packageId}_` in each, published through FastStream's RabbitBroker.

Messages go to the default exchange with the queue's name as routing key, persistent, with publisher
confirms: `publish` returns only once the broker confirmed every message, so the stream entry that caused
them is acknowledged after that (SPEC §9). They are published through a pipelined channel of our own
(delivery/amqp_channel.py: one future a batch, not a task and a future a message); declares, queue
figures and peeks go through FastStream. Queues are declared with `x-max-length` = the queue limit and
`x-overflow` = `reject-publish`: a message that does not fit is refused (a negative confirmation), and the
package is deactivated through the commands stream, as with Redis streams. RabbitMQ cannot check a
package's status as it takes a message, so each publishing batch registers itself in Redis in the same
script that reads its packages' statuses (broadcasts, which read none, share a registration a while:
delivery/fence_registrations.py), and a deactivation waits for the batches registered before it
(`fence`, domain/scripts/fence.py) before it answers: after its 200, nothing more reaches the queues.

On a cluster (LIVESCORE_AMQP_URL listing several nodes), each connection is on the first node that
answers and moves to another when its node goes away (delivery/amqp_nodes.py); package queues are then
quorum queues, their leaders spread over the nodes.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from aio_pika import RobustQueue
from aio_pika.abc import AbstractIncomingMessage
from aiormq.exceptions import ChannelNotFoundEntity, ChannelPreconditionFailed
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas.queue import QueueType
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from delivery.amqp_bindings import Bindings
from delivery.amqp_channel import Content, Outcome
from delivery.amqp_management import ManagementApi
from delivery.amqp_nodes import (
    CONNECTION_LOST,
    NodeBroker,
    NodeChannel,
)
from delivery.amqp_properties import message_content
from delivery.amqp_routes import routing_key
from delivery.fence_registrations import Registration, SharedRegistrations
from domain.amqp_urls import node_urls
from domain.delivery import (
    Broadcast,
    Parcel,
    Published,
    PublishResult,
    QueueFigures,
    QueueKind,
    Subscriptions,
    settled,
)
from domain.errors import BrokerUnavailable
from domain.incidents import PARTITIONS
from domain.logs import OccasionalWarning
from domain.queue_limit import QueueLimit
from domain.scripts.fence import register_publishing, still_publishing
from domain.scripts.runner import RedisPyScripts
from domain.settings import Settings
from domain.snapshot_book import SENT_ONCE_TTL_S
from domain.streams import AMQP_EXCHANGE, PUBLISHING_BATCHES, amqp_queue, sent_once

log = logging.getLogger("delivery.amqp")

# Queue figures for `status` are fetched at most this often per queue (SPEC §9: no older than 1 s).
FIGURES_TTL_S = 1.0
# While publishing keeps failing (an outage the callers wait out), it is logged this often.
PUBLISH_FAILED_LOG_S = 60.0
# A publish not confirmed within this counts as failed (and is repeated, on a fresh connection): a node
# gone from the network resets no connection, and a quorum queue's new leader is elected within seconds.
PUBLISH_TIMEOUT_S = 10.0
# A deactivation waits for publishing batches at most this old: an older one is a dead worker's (a batch's
# confirmations time out after PUBLISH_TIMEOUT_S; declaring its queues first may take a connection's).
FENCE_LONGEST_MS = 30_000
FENCE_POLL_S = 0.005
# Messages a vhost's channel keeps unconfirmed, whoever published them: as the fast clients measured in
# docs/BENCHMARKS.md ("AMQP baseline"), and one snapshot chunk (worker/resources.py) at once.
UNCONFIRMED_WINDOW = 1000


class AmqpDelivery:
    figures_in_view = False
    routes_by_subscriptions = True

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self._redis = redis
        self._scripts = RedisPyScripts(redis)
        self._vhosts = {
            QueueKind.FIXTURES: settings.amqp_fixtures_vhost,
            QueueKind.INCIDENTS: settings.amqp_incidents_vhost,
        }
        nodes = node_urls(settings.amqp_url)
        self._brokers = {kind: NodeBroker(nodes, vhost) for kind, vhost in self._vhosts.items()}
        self._channels = {
            kind: NodeChannel(nodes, vhost, UNCONFIRMED_WINDOW) for kind, vhost in self._vhosts.items()
        }
        # Queues this process declared: a package made active outside this process (a restored
        # database, storage written by hand) gets its queues before its first message, not never.
        self._declared: set[tuple[QueueKind, int]] = set()
        self._limit = settings.queue_limit
        self._queue_type = QueueType(settings.amqp_queue_type)
        self._full = QueueLimit(redis, settings.queue_limit, settings.commands_maxlen)
        self._management = ManagementApi(settings.amqp_management_url)
        # Every try of a publisher waiting out an outage fails alike: one line a while says it.
        self._publishing_failed = OccasionalWarning(log, PUBLISH_FAILED_LOG_S, "publishing over AMQP failed")
        self._figures: dict[tuple[QueueKind, int], tuple[float, QueueFigures]] = {}
        # The vhosts whose exchange this process declared (again after a failed publish: a broker reset
        # may have lost it).
        self._exchanges: set[QueueKind] = set()
        self._bindings = Bindings(redis, self._bound_queue, self.provision)
        self._fetching: dict[tuple[QueueKind, int], asyncio.Future[QueueFigures]] = {}
        self._registrations = SharedRegistrations(redis, self._scripts)

    async def publish(self, parcels: Sequence[Parcel]) -> list[Published]:
        return await (await self.start_publish(parcels))

    async def start_publish(self, parcels: Sequence[Parcel]) -> asyncio.Future[list[Published]]:
        """Every parcel's messages sent, in order after every earlier call's; the returned future gives
        what `publish` returns once the broker confirmed them. The batch stays registered for the fence
        until then."""
        batch = uuid.uuid4().hex
        started: list[asyncio.Future[Published]] = []
        try:
            register = register_publishing(batch, [parcel.package_id for parcel in parcels])
            active = await register.run(self._scripts)
            # Each message encoded once, however many packages' queues it goes to.
            encoded: dict[int, Content] = {}
            for parcel in (parcel for parcel, ok in zip(parcels, active, strict=True) if ok):
                for message in parcel.messages:
                    if id(message) not in encoded:
                        encoded[id(message)] = message_content(message)
            for parcel, ok in zip(parcels, active, strict=True):
                started.append(await self._start_parcel(parcel, ok, encoded))
        except BaseException:
            # What was sent before the failure is settled (its outcome is of no use any more).
            await asyncio.gather(*started, return_exceptions=True)
            await asyncio.shield(self._redis.zrem(PUBLISHING_BATCHES, batch))
            raise
        return asyncio.ensure_future(self._settle_parcels(batch, started))

    async def _settle_parcels(self, batch: str, started: list[asyncio.Future[Published]]) -> list[Published]:
        try:
            outcomes = await asyncio.gather(*started, return_exceptions=True)
        finally:
            # Shielded: a cancelled publisher still leaves the set (else deactivations wait for its age).
            await asyncio.shield(self._redis.zrem(PUBLISHING_BATCHES, batch))
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failed is not None:
            raise failed
        return [o for o in outcomes if not isinstance(o, BaseException)]

    async def broadcast(self, kind: QueueKind, items: Sequence[Broadcast]) -> set[int]:
        return await (await self.start_broadcast(kind, items))

    async def start_broadcast(self, kind: QueueKind, items: Sequence[Broadcast]) -> asyncio.Future[set[int]]:
        """Each message published once to the vhost's exchange, which copies it into every bound queue;
        under a registration for the fence shared with the other broadcasts of the moment
        (delivery/fence_registrations.py), held until the returned future is done (it settles the
        batch: its confirmations awaited, a full queue's package deactivated)."""
        if not items:
            return settled(set())
        registration = await self._registrations.take()
        try:
            contents = [message_content(item.message) for item in items]
            keys = [routing_key(item.topic) for item in items]
            try:
                sent = await self._send_routed(kind, keys, contents)
            except BrokerUnavailable as exc:
                await self._failed(kind, "the exchange", exc)
                raise
        except BaseException:
            self._registrations.give_back(registration)
            raise
        # A task of its own: the registration is given back whether or not its caller waits for it.
        return asyncio.ensure_future(self._settle_broadcast(kind, items, registration, sent))

    async def _settle_broadcast(
        self,
        kind: QueueKind,
        items: Sequence[Broadcast],
        registration: Registration,
        sent: asyncio.Future[list[Outcome]],
    ) -> set[int]:
        try:
            try:
                async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                    outcomes = await sent
            except CONNECTION_LOST as exc:
                unavailable = BrokerUnavailable()
                unavailable.__cause__ = exc
                await self._failed(kind, "the exchange", unavailable)
                raise unavailable from exc
            refused = {position for position, outcome in enumerate(outcomes) if outcome is Outcome.REFUSED}
            if refused:
                await self._deactivate_full(kind, {p for i in refused for p in items[i].audience})
            return refused
        finally:
            self._registrations.give_back(registration)

    async def _failed(self, kind: QueueKind, where: str, exc: BrokerUnavailable) -> None:
        """Noted, and the next try on a fresh connection, which declares the exchange again (a broker
        reset may have lost it): a channel that published through a quorum queue's change of leader can
        go on failing every publish (seen on RabbitMQ 3.10), where a new one publishes at once."""
        self._publishing_failed.note(f"{where} of {self._vhosts[kind]}: {exc.__cause__ or exc!r}")
        self._exchanges.discard(kind)
        await self._channels[kind].reset()
        await self._brokers[kind].reset()

    async def follow(
        self,
        writes: Pipeline,
        packages: Mapping[int, Subscriptions | None],
        imaged: Collection[int] = (),
    ) -> None:
        """The status copies written, each package's bindings made to match its status (the incident keys
        of an `imaged` package left to each partition's owner, `admit`); then, if any is inactive, the
        fence."""
        await writes.execute()
        inactive = False
        for package_id, subscriptions in packages.items():
            partitions = () if package_id in imaged else range(PARTITIONS)
            try:
                active = await self._bindings.follow(package_id, subscriptions, partitions)
            except CONNECTION_LOST as exc:
                raise BrokerUnavailable() from exc
            inactive = inactive or not active
        if inactive:
            await self._fence()

    async def reconcile(self, packages: Mapping[int, Subscriptions | None]) -> None:
        """At a worker's start: every package's bindings in line with storage (`packages`, each package
        storage holds) — after the record of them is corrected from the broker's own list, when the
        management API answers."""
        actual = await self._management.bindings(self._vhosts)
        if actual is not None:
            await self._bindings.correct(actual)
        everyone = {**dict.fromkeys(await self._bindings.recorded()), **packages}
        # Only those out of line are changed (each change takes a lock and a few round trips).
        differing = await self._bindings.out_of_line(everyone)
        await self.follow(self._redis.pipeline(transaction=False), {p: everyone[p] for p in differing})

    async def _fence(self) -> None:
        """Wait for the publishing batches registered before now, polling: RabbitMQ cannot check a status
        as it takes a message, so this is how a deactivation's 200 comes after the last message that read
        `active` (or was routed by a binding since removed)."""
        moment, publishing = await still_publishing(0, FENCE_LONGEST_MS).run(self._scripts)
        while publishing:
            await asyncio.sleep(FENCE_POLL_S)
            _, publishing = await still_publishing(moment, FENCE_LONGEST_MS).run(self._scripts)

    async def admit(self, package_id: int, partitions: Collection[int], subscriptions: Subscriptions) -> None:
        """The partitions' incident keys bound (if the package is still active): their owner published the
        package's scoreboards of them first, so each comes before the incidents routed after."""
        try:
            await self._bindings.follow(package_id, subscriptions, partitions)
        except CONNECTION_LOST as exc:
            raise BrokerUnavailable() from exc

    async def provision(self, package_id: int) -> None:
        for kind in QueueKind:
            await self._declare(kind, package_id)
            self._declared.add((kind, package_id))

    async def figures(self, package_id: int, kind: QueueKind) -> QueueFigures:
        """At most one question to the broker per queue and second, however many ask meanwhile."""
        key = (kind, package_id)
        cached = self._figures.get(key)
        if cached is not None and time.monotonic() - cached[0] < FIGURES_TTL_S:
            return cached[1]
        fetching = self._fetching.get(key)
        if fetching is None:
            fetching = self._fetching[key] = asyncio.ensure_future(self._fetch_figures(package_id, kind))
            fetching.add_done_callback(lambda _: self._fetching.pop(key, None))
        # Shielded: one caller giving up must not cancel the answer the others wait for.
        figures = await asyncio.shield(fetching)
        self._figures[key] = (time.monotonic(), figures)
        return figures

    async def peek(self, package_id: int, kind: QueueKind, count: int) -> list[bytes]:
        """Up to `count` messages of the queue, oldest first, left in it. AMQP has no peek: each is
        fetched and given back (requeued), so the broker marks it redelivered, and a consumer reading
        meanwhile may get it later than its neighbours."""
        broker = await self._broker(kind)
        queue = await broker.declare_queue(RabbitQueue(amqp_queue(package_id), declare=False))
        taken: list[AbstractIncomingMessage] = []
        try:
            while len(taken) < count and (got := await queue.get(no_ack=False, fail=False)) is not None:
                taken.append(got)
        finally:
            for held in taken:
                await held.nack(requeue=True)
        return [held.body for held in taken]

    async def reachable(self) -> bool:
        """Whether the management API answers (readiness)."""
        return await self._management.reachable()

    def nodes(self) -> dict[str, str]:
        """host:port of the node each vhost's connection is on (`/ready`)."""
        return {self._vhosts[kind]: broker.node for kind, broker in self._brokers.items() if broker.connected}

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        await self._registrations.close()
        for broker in self._brokers.values():
            await broker.close()
        await self._management.aclose()

    async def _start_parcel(
        self, parcel: Parcel, active: bool, encoded: dict[int, Content]
    ) -> asyncio.Future[Published]:
        if not active:
            return settled(Published(PublishResult.INACTIVE, 0))
        if parcel.once is not None and await self._redis.exists(sent_once(parcel.once)):
            return settled(Published(PublishResult.OK, 0))
        contents = [encoded[id(message)] for message in parcel.messages]
        sent = await self._send(parcel.kind, parcel.package_id, contents)
        return asyncio.ensure_future(self._parcel_published(parcel, sent))

    async def _parcel_published(self, parcel: Parcel, sent: asyncio.Future[list[Outcome]]) -> Published:
        count = await self._taken(parcel.kind, parcel.package_id, sent)
        if count < len(parcel.messages):
            await self._full.refused(parcel.package_id, parcel.kind, len(parcel.messages) - count)
            return Published(PublishResult.FULL, count)
        if parcel.once is not None:
            # After the confirmation: a crash in between repeats the message rather than lose it.
            await self._redis.set(sent_once(parcel.once), "1", ex=SENT_ONCE_TTL_S)
        return Published(PublishResult.OK, count)

    async def _send(
        self, kind: QueueKind, package_id: int, messages: Sequence[Content]
    ) -> asyncio.Future[list[Outcome]]:
        """Written in order (declaring the queue first if this process has not); the future gives each
        message's outcome."""
        try:
            if (kind, package_id) not in self._declared:
                await self._declare(kind, package_id)
                self._declared.add((kind, package_id))
            try:
                channel = await self._channels[kind].get()  # each node tried within CONNECT_TIMEOUT_S
                async with asyncio.timeout(PUBLISH_TIMEOUT_S):  # room comes with earlier confirmations
                    # Mandatory: returned to us if no queue takes it, rather than dropped in silence.
                    return await channel.send("", amqp_queue(package_id), messages)
            except CONNECTION_LOST as exc:
                raise BrokerUnavailable() from exc
        except BrokerUnavailable as exc:
            await self._failed(kind, amqp_queue(package_id), exc)
            raise

    async def _taken(self, kind: QueueKind, package_id: int, sent: asyncio.Future[list[Outcome]]) -> int:
        """How many were taken before the first one the queue refused, once all are settled."""
        queue = amqp_queue(package_id)
        try:
            try:
                # A confirmation that never comes (a node hung rather than gone) fails the publish, which
                # is then tried again; a leader election in a cluster takes seconds.
                async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                    outcomes = await sent
            except CONNECTION_LOST as exc:
                raise BrokerUnavailable() from exc
            for position, outcome in enumerate(outcomes):
                if outcome is Outcome.REFUSED:
                    await self._refused_when_full(kind, queue)
                    return position
                if outcome is Outcome.RETURNED:
                    # Returned, not routed: the queue is gone. Declared again on the next try, which the
                    # caller makes (nothing is acknowledged meanwhile).
                    self._declared.discard((kind, package_id))
                    raise BrokerUnavailable(f"queue {queue} of {self._vhosts[kind]} does not exist")
            return len(outcomes)
        except BrokerUnavailable as exc:
            await self._failed(kind, amqp_queue(package_id), exc)
            raise

    async def _send_routed(
        self, kind: QueueKind, keys: list[str], contents: list[Content]
    ) -> asyncio.Future[list[Outcome]]:
        try:
            await self._exchange(kind)
            channel = await self._channels[kind].get()
            # Room in the window comes as earlier confirmations do: a broker that confirms nothing fails
            # the send as it fails a confirmation.
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                # Not mandatory: a message nobody subscribes to is dropped by the broker, as it should be.
                return await channel.send_routed(AMQP_EXCHANGE, keys, contents, mandatory=False)
        except CONNECTION_LOST as exc:
            raise BrokerUnavailable() from exc

    async def _exchange(self, kind: QueueKind) -> None:
        if kind not in self._exchanges:
            exchange = RabbitExchange(AMQP_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
            await (await self._broker(kind)).declare_exchange(exchange)
            self._exchanges.add(kind)

    async def _bound_queue(self, kind: QueueKind, package_id: int) -> RobustQueue:
        """The package's queue, to bind to or unbind from the exchange (declared first)."""
        await self._exchange(kind)
        broker = await self._broker(kind)
        return await broker.declare_queue(RabbitQueue(amqp_queue(package_id), declare=False))

    async def _deactivate_full(self, kind: QueueKind, audience: set[int]) -> None:
        """A broadcast was refused by some queue, the broker does not say which: each of the audience's
        queues at its limit has its package deactivated (the others took the message, which is not
        published again); none at its limit is an outage (a quorum queue without a leader), and the
        caller publishes again — a repeat to the others, allowed after an outage (SPEC §10)."""
        full = []
        for package_id in sorted(audience):
            counted = await self._ready_and_consumers(kind, amqp_queue(package_id))
            if counted is not None and counted[0] >= self._limit:
                full.append(package_id)
        if not full:
            raise BrokerUnavailable(f"a queue of {self._vhosts[kind]} refused a message below its limit")
        for package_id in full:
            await self._full.refused(package_id, kind, 1)

    async def _refused_when_full(self, kind: QueueKind, name: str) -> None:
        """A refusal means a full queue only when the queue holds its limit: a quorum queue also refuses
        while it has no leader (its node lost, an election under way), an outage to wait out instead —
        BrokerUnavailable, and the messages are published again."""
        counted = await self._ready_and_consumers(kind, name)
        if counted is None or counted[0] < self._limit:
            raise BrokerUnavailable(f"queue {name} of {self._vhosts[kind]} refused a message below its limit")

    async def _broker(self, kind: QueueKind) -> RabbitBroker:
        """The vhost's broker, connected on first use (one connection per vhost and process) to the first
        node that answers, and to the next one after its node went away (delivery/amqp_nodes.py)."""
        return await self._brokers[kind].get()

    async def _declare(self, kind: QueueKind, package_id: int) -> None:
        arguments: Any = {"x-max-length": self._limit, "x-overflow": "reject-publish"}
        if self._queue_type is QueueType.QUORUM:
            # Each queue's leader on the node leading the fewest (RabbitMQ 3.10+): the publishing and
            # confirming work is spread over the cluster, and a node's loss moves only its share.
            arguments["x-queue-leader-locator"] = "balanced"
        kind_of_queue: Any = self._queue_type  # classic or quorum, from settings
        queue = RabbitQueue(amqp_queue(package_id), kind_of_queue, durable=True, arguments=arguments)
        broker = await self._broker(kind)
        try:
            await broker.declare_queue(queue)
        except ChannelPreconditionFailed:
            # Declared before with other arguments (the limit changed): it exists, which is what matters
            # here; arguments cannot change in place (a policy can: docs/OPERATING.md).
            log.warning("queue %s in %s exists with other arguments", queue.name, self._vhosts[kind])
        except CONNECTION_LOST as exc:
            raise BrokerUnavailable() from exc

    async def _fetch_figures(self, package_id: int, kind: QueueKind) -> QueueFigures:
        """Ready messages and consumers from a passive declare (exact, now); messages delivered but not
        acknowledged from the management API, which RabbitMQ refreshes every second (`amqp config`) and
        first reports a few seconds after a queue appears — null while that API is unreachable."""
        vhost, name = self._vhosts[kind], amqp_queue(package_id)
        counted = await self._ready_and_consumers(kind, name)
        if counted is None:  # not provisioned yet: nothing held
            return QueueFigures(name, 0, 0, 0, 0, vhost)
        ready, consumers = counted
        return QueueFigures(
            name, ready, await self._management.unacknowledged(vhost, name), consumers, ready, vhost
        )

    async def _ready_and_consumers(self, kind: QueueKind, name: str) -> tuple[int, int] | None:
        broker = await self._broker(kind)
        try:
            queue = await broker.declare_queue(RabbitQueue(name, declare=False))
            declared = await queue.declare()  # passive: asks again, the broker answers with today's counts
        except ChannelNotFoundEntity:
            return None
        except CONNECTION_LOST as exc:
            raise BrokerUnavailable() from exc
        return int(declared.message_count or 0), int(declared.consumer_count or 0)
