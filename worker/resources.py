"""What every worker handler works with, built once per process by the composition root (worker/app.py).

Connections open lazily, on first use, and are closed when the worker stops.
"""

import asyncio
from dataclasses import dataclass, field
from functools import cached_property

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from delivery import open_delivery
from domain.connections import open_redis
from domain.delivery import Delivery
from domain.package_view import PackageView
from domain.settings import Settings
from domain.snapshot_book import SnapshotBook
from domain.storage import open_engine
from domain.transactions import Transactions, open_transactions
from worker.outages import MAX_PAUSE_S

# Fixtures per snapshot read and per publishing call: large enough that round trips do not dominate,
# small enough that a chunk (about 0.5 MB) is nothing to the worker's memory or to Redis's latency.
SNAPSHOT_CHUNK = 1000


@dataclass(frozen=True)
class Resources:
    settings: Settings
    # This worker's name in the consumer group; claims on entries in hand are renewed under it.
    consumer: str
    redis: Redis
    engine: AsyncEngine
    view: PackageView
    # Carries messages to the packages' queues (SPEC §4, §9, §10).
    delivery: Delivery
    # The snapshots' bookkeeping in Redis: which are finished, which package has one in flight.
    snapshots: SnapshotBook
    # Set when the worker stops: a wait for storage to come back gives up (worker/outages.py).
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    snapshot_chunk: int = SNAPSHOT_CHUNK

    @classmethod
    def open(cls, settings: Settings, consumer: str) -> "Resources":
        redis: Redis = open_redis(settings.redis_address)
        snapshots = SnapshotBook(redis)
        delivery = open_delivery(settings, redis)
        engine = open_engine(settings.database_url)
        view = PackageView(redis, queue_limit=settings.queue_limit)
        return cls(settings, consumer, redis, engine, view, delivery, snapshots)

    @property
    def keep_every_s(self) -> float:
        """How often entries held while storage is down are re-claimed: well within the claim idle time,
        or another worker's claimer would take them, counting a delivery each time."""
        return min(MAX_PAUSE_S, self.settings.claim_idle_ms / 1000 / 4)

    @cached_property
    def transactions(self) -> Transactions:
        """The activation batches' way into storage, on `engine`'s database (opened on first use)."""
        return open_transactions(self.engine)

    async def close(self) -> None:
        if "transactions" in self.__dict__:
            await self.transactions.close()
        await self.delivery.close()
        await self.redis.aclose()
        await self.engine.dispose()
