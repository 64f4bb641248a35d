"""Reading a package's queues over AMQP: `livescore queue read` (a peek, the messages given back) and
`livescore watch` (consuming as the package's customer does)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from delivery.amqp import AmqpDelivery
from delivery.amqp_nodes import CONNECT_TIMEOUT_S, CONNECTION_LOST, NodeOrder, first_answering
from domain.amqp_urls import node_urls
from domain.delivery import QueueKind
from domain.errors import NotOverThisBroker
from domain.settings import Settings
from domain.streams import amqp_queue


class AmqpPeek:
    """Messages fetched and given back (AMQP has no peek): RabbitMQ marks them redelivered, and a consumer
    reading meanwhile may get them later than their neighbours (docs/OPERATING.md)."""

    # What a read fetches (and gives back) when no count says how many.
    DEFAULT_COUNT = 100

    def __init__(self, delivery: AmqpDelivery) -> None:
        self._delivery = delivery

    async def read(
        self, package_id: int, kind: QueueKind, count: int | None, last: int | None, follow: bool
    ) -> AsyncIterator[bytes]:
        if follow:
            raise NotOverThisBroker(
                "--follow reads Redis streams only; over AMQP, consume the queue as a customer does"
            )
        for body in await self._delivery.peek(package_id, kind, count or last or self.DEFAULT_COUNT):
            yield body

    async def close(self) -> None:
        await self._delivery.close()


class AmqpQueueReader:
    """A package's two queues read as its customer reads them (`livescore watch`): logged in with the
    package's own username and password, consuming `_N_` on both vhosts and acknowledging what it gets —
    so what it reads, no other consumer of the package gets."""

    # Messages the broker may send ahead of acknowledgements: enough to catch up on a full queue quickly.
    PREFETCH = 500

    def __init__(self, settings: Settings, package_id: int, username: str, password: str) -> None:
        self._settings, self._package_id = settings, package_id
        self._login = (username, password)
        self._received: asyncio.Queue[tuple[QueueKind, bytes]] = asyncio.Queue()
        self._connections: list[Any] = []
        # Where the service's own account connects (every node of LIVESCORE_AMQP_URL): customers reach
        # the same cluster, and move to the next node as the service does.
        self._order = NodeOrder(node_urls(settings.amqp_url))

    async def read(self, wait_s: float) -> list[tuple[QueueKind, bytes]]:
        if not self._connections:
            await self._open(self._order.from_current())
        elif not all(connection.connected.is_set() for connection in self._connections):
            # Its node went away: what was delivered and not acknowledged comes again, from another.
            await self.close()
            await self._open(self._order.after_current())
        try:
            found = [await asyncio.wait_for(self._received.get(), wait_s)]
        except TimeoutError:
            return []
        while not self._received.empty():
            found.append(self._received.get_nowait())
        return found

    async def close(self) -> None:
        connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(*CONNECTION_LOST):
                await connection.close()

    async def _open(self, indices: list[int]) -> None:
        vhosts = {
            QueueKind.FIXTURES: self._settings.amqp_fixtures_vhost,
            QueueKind.INCIDENTS: self._settings.amqp_incidents_vhost,
        }
        for kind, vhost in vhosts.items():
            connection = await first_answering(self._order, indices, self._connector(vhost))
            self._connections.append(connection)
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.PREFETCH)
            queue = await channel.declare_queue(amqp_queue(self._package_id), passive=True)
            await queue.consume(self._taker(kind))
            indices = [self._order.current]  # the second vhost on the node the first found

    def _connector(self, vhost: str) -> Callable[[str], Awaitable[AbstractConnection]]:
        async def connect(url: str) -> AbstractConnection:
            node = urlsplit(url)
            return await aio_pika.connect(
                host=node.hostname or "127.0.0.1",
                port=node.port or 5672,
                login=self._login[0],
                password=self._login[1],
                virtualhost=vhost,
                timeout=CONNECT_TIMEOUT_S,
            )

        return connect

    def _taker(self, kind: QueueKind) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def take(message: AbstractIncomingMessage) -> None:
            async with message.process():
                await self._received.put((kind, message.body))

        return take
