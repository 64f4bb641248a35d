"""Outcomes of activation commands, heard on this ingress process's own Pub/Sub channel.

Each command names the channel in `replyTo`; the worker publishes `{"commandId", "outcome", "status"}`
there after committing. A reply that arrives after the request gave up (202) finds nobody and is dropped:
the command itself is safe in the stream.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.replies import Reply
from domain.streams import reply_channel

log = logging.getLogger(__name__)

# Pause between attempts to re-subscribe while Redis is unreachable.
RESUBSCRIBE_DELAY_S = 0.5


@dataclass
class ReplyListener:
    redis: Redis
    channel: str = ""

    def __post_init__(self) -> None:
        self.channel = self.channel or reply_channel(uuid.uuid4().hex)
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._subscribed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["ReplyListener"]:
        task = asyncio.create_task(self._listen(), name="reply-listener")
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=10)
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def awaiting(self, command_id: str) -> AsyncIterator["asyncio.Future[Reply]"]:
        """A future for the command's reply, registered before the command is appended so that no
        reply can arrive unheard; it is forgotten when the block exits, whatever happened."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        try:
            yield future
        finally:
            del self._waiting[command_id]

    async def _listen(self) -> None:
        while True:
            try:
                await self._listen_once()
            except (RedisError, OSError) as exc:
                log.warning("reply channel lost (%s); subscribing again", type(exc).__name__)
                await asyncio.sleep(RESUBSCRIBE_DELAY_S)

    async def _listen_once(self) -> None:
        async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self.channel)
            self._subscribed.set()
            async for message in pubsub.listen():
                self._deliver(message["data"])

    def _deliver(self, data: bytes) -> None:
        try:
            reply = msgspec.json.decode(data, type=Reply)
        except msgspec.DecodeError:
            log.warning("ignored a malformed reply on %s", self.channel)
            return
        future = self._waiting.get(reply.commandId)
        if future is not None and not future.done():
            future.set_result(reply)
