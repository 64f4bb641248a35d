"""Connections to the RabbitMQ nodes a URL list names (domain/amqp_urls.py, SPEC §11), moving to the next
node when one goes away.

aio-pika reconnects a connection to the one URL it was given; choosing another node is this module's
part. A connection is opened on the first node that answers, in the list's order; when its node goes
away, the next connection is tried on the nodes after it first (the lost one last), so a cluster that
lost a node is left at once instead of waited for.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import httpx
from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from faststream.rabbit import RabbitBroker

from delivery.amqp_channel import ConfirmChannel
from delivery.amqp_connect import open_channel
from domain.amqp_urls import masked, node_urls, where
from domain.errors import BrokerUnavailable
from domain.logs import FASTSTREAM_LOGGER

log = logging.getLogger("delivery.amqp")

T = TypeVar("T")

# A node that neither answers nor refuses (a host gone from the network) is given up after this; on one
# machine a dead node refuses at once.
CONNECT_TIMEOUT_S = 5.0
# How long a stopped broker may take to close; a connection to a dead node has nothing left to flush.
CLOSE_TIMEOUT_S = 2.0
# What a connection attempt to a node that is down raises (refused, timed out, its handshake cut).
_UNANSWERED = (OSError, TimeoutError, AMQPError)
# What an operation on a connection whose node went away raises: the above, or aiormq's "channel
# closed" (a RuntimeError).
CONNECTION_LOST = (*_UNANSWERED, ChannelInvalidStateError)


class NodeOrder:
    """Which node of the list is in use, and the order to try them in."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.current = 0

    def from_current(self) -> list[int]:
        return [(self.current + step) % len(self.urls) for step in range(len(self.urls))]

    def after_current(self) -> list[int]:
        """The nodes after the one in use, the one in use last: it has just gone away."""
        return [(self.current + 1 + step) % len(self.urls) for step in range(len(self.urls))]


async def first_answering(order: NodeOrder, indices: list[int], connect: Callable[[str], Awaitable[T]]) -> T:
    """`connect` to each node of `indices` in turn; the first that answers becomes the current one."""
    for index in indices:
        url = order.urls[index]
        try:
            connected = await connect(url)
        except _UNANSWERED as exc:
            log.warning("AMQP node %s does not answer (%s)", masked(url), type(exc).__name__)
            continue
        order.current = index
        return connected
    raise BrokerUnavailable(f"no AMQP node answers of {', '.join(where(url) for url in order.urls)}")


class _OnFirstNode(Generic[T]):
    """A vhost's connection (of the kind a subclass opens) on the first node that answers; when its node
    goes away, the next use opens a new one on the nodes after it first, the lost one last."""

    # Said in the log line of a new connection: what it is for.
    _PURPOSE = ""

    def __init__(self, urls: list[str], vhost: str) -> None:
        self._order, self._vhost = NodeOrder(urls), vhost
        self._held: T | None = None
        self._lost = False
        self._connecting: asyncio.Task[T] | None = None

    @property
    def node(self) -> str:
        """host:port of the node in use (or to be tried first)."""
        return where(self._order.urls[self._order.current])

    @property
    def connected(self) -> bool:
        return self._held is not None and not self._gone(self._held)

    async def get(self) -> T:
        if self._held is not None and not self._gone(self._held):
            return self._held
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(self._connected)
        # Shielded: one caller giving up must not cancel the connection the others wait for.
        return await asyncio.shield(self._connecting)

    async def reset(self) -> None:
        """Dropped after a failure: the next use opens a fresh connection, on the node in use first."""
        if self._connecting is None:
            await self._drop()

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        await self._drop()

    def _connected(self, _: object) -> None:
        self._connecting = None

    async def _connect(self) -> T:
        await self._drop()
        indices = self._order.after_current() if self._lost else self._order.from_current()
        self._held = await first_answering(self._order, indices, self._open)
        self._lost = False
        log.info("AMQP vhost %s%s on node %s", self._vhost, self._PURPOSE, self.node)
        return self._held

    def _gone(self, held: T) -> bool:
        """Whether the connection in hand went away."""
        return self._lost

    async def _open(self, url: str) -> T:
        raise NotImplementedError

    async def _drop(self) -> None:
        raise NotImplementedError


class NodeBroker(_OnFirstNode[RabbitBroker]):
    """One vhost's RabbitBroker (declares, figures, peeks); when its node goes away (its connection
    closes), the next use opens a new broker on the next node, and the old one stops trying its dead node.

    A call in flight on the lost connection fails (BrokerUnavailable), and is made again on the new node."""

    def __init__(self, urls: list[str], vhost: str) -> None:
        super().__init__(urls, vhost)
        # Brokers being stopped after their node went away (a reference, so the task is not collected).
        self._stopping: set[asyncio.Task[None]] = set()

    async def _open(self, url: str) -> RabbitBroker:
        opened: list[RabbitBroker] = []

        def closed(*_: object) -> None:
            if opened:  # not a failed first connection, which `first_answering` handles
                self._closed(opened[0])

        broker = RabbitBroker(
            url,
            virtualhost=self._vhost,
            timeout=CONNECT_TIMEOUT_S,
            on_close=[closed],
            log_level=logging.DEBUG,
            logger=FASTSTREAM_LOGGER,
        )
        try:
            await broker.connect()
        except BaseException:
            await _stopped(broker)
            raise
        opened.append(broker)
        return broker

    def _closed(self, broker: RabbitBroker) -> None:
        """The connection closed: its node went away (or we closed it). The broker is stopped at once, or
        aio-pika would go on trying that node in the background."""
        if broker is self._held:
            self._lost = True
        stopping = asyncio.ensure_future(_stopped(broker))
        self._stopping.add(stopping)
        stopping.add_done_callback(self._stopping.discard)

    async def _drop(self) -> None:
        broker, self._held = self._held, None
        if broker is not None:
            await _stopped(broker)


async def _stopped(broker: RabbitBroker) -> None:
    """Stopped, without waiting long on a node that is gone; its reconnecting ends with it."""
    try:
        await asyncio.wait_for(broker.stop(), CLOSE_TIMEOUT_S)
    except Exception as exc:  # a connection already gone fails to close in many ways, all harmless
        log.debug("stopping the AMQP connection: %s", type(exc).__name__)


class NodeChannel(_OnFirstNode[ConfirmChannel]):
    """One vhost's publishing channel (delivery/amqp_channel.py), on the first node that answers: a
    publish in flight on a lost connection fails, and its batch is published again on the next node."""

    _PURPOSE = " publishing"

    def __init__(self, urls: list[str], vhost: str, window: int) -> None:
        super().__init__(urls, vhost)
        self._window = window

    def _gone(self, held: ConfirmChannel) -> bool:
        return held.lost

    async def _open(self, url: str) -> ConfirmChannel:
        return await open_channel(url, self._vhost, self._window, CONNECT_TIMEOUT_S)

    async def _drop(self) -> None:
        channel, self._held = self._held, None
        if channel is not None:
            self._lost = self._lost or channel.lost
            await channel.close()


class ManagementNodes:
    """RabbitMQ's management HTTP API on the first node that answers: every node answers for the whole
    cluster, so a node that does not is skipped, and the one that did is asked first next time."""

    def __init__(self, urls: str, timeout_s: float) -> None:
        self._order = NodeOrder(node_urls(urls))
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def get(self, path: str) -> httpx.Response:
        async def ask(url: str) -> httpx.Response:
            return await self._client.get(url.rstrip("/") + path)

        for index in self._order.from_current():
            try:
                answer = await ask(self._order.urls[index])
            except httpx.HTTPError:
                continue
            self._order.current = index
            return answer
        raise httpx.ConnectError("no management API answers")

    async def aclose(self) -> None:
        await self._client.aclose()
