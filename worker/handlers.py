"""Applying commands: decode → apply in one transaction → commit → update the view, reply, acknowledge.

An entry is acknowledged only after its effect is committed (SPEC §3). Anything that fails leaves the
entry pending, to be delivered again (by this worker's reclaimer or another's) or dead-lettered.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.activation import Applied, apply_activations
from domain.commands import ChangeActivation, Command, StreamId, TriggerSnapshot, from_fields
from domain.errors import StorageUnavailable, UndecodableCommand
from domain.package_view import PackageView
from domain.packages import PackageState
from domain.streams import COMMAND_ERRORS, COMMANDS_STREAM, WORKERS_GROUP
from worker.entries import Entry
from worker.metrics import COMMAND_FAILURES, COMMANDS_APPLIED
from worker.outages import MAX_PAUSE_S, while_storage_is_down
from worker.snapshots import SnapshotRunner

log = logging.getLogger("worker.commands")

# Renews this worker's claim on the entries in hand (while storage is down).
Keep = Callable[[], Awaitable[None]]
AppliedCommand = tuple[StreamId, ChangeActivation, Applied]


@dataclass
class Batch:
    """The decoded commands of one read, in stream order, and what became of them."""

    activations: list[tuple[StreamId, ChangeActivation]] = field(default_factory=list)
    snapshots: list[tuple[bytes, TriggerSnapshot]] = field(default_factory=list)
    done: list[bytes] = field(default_factory=list)
    failed: dict[bytes, str] = field(default_factory=dict)


@dataclass
class CommandHandler:
    engine: AsyncEngine
    redis: Redis
    view: PackageView
    snapshots: SnapshotRunner
    # Set when the worker stops: a wait for storage to come back gives up (worker/outages.py).
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # Entries held while storage is down are re-claimed this often: well within the claim idle time, or
    # another worker's claimer would take them, counting a delivery each time.
    keep_every_s: float = MAX_PAUSE_S

    async def handle(self, entries: list[Entry]) -> Batch:
        """Apply what can be applied; whatever fails stays pending with its error recorded."""
        batch = decode(entries)
        keep = self._keeper([entry_id for entry_id, _ in entries])
        await self.finish(batch, await self._apply(batch, keep))
        # After the activations are answered: a snapshot may take seconds, its waiting clients none.
        for entry_id, command in batch.snapshots:
            await self._snapshot(batch, entry_id, command, keep)
        if batch.failed:
            COMMAND_FAILURES.inc(len(batch.failed))
            await self.redis.hset(COMMAND_ERRORS, mapping=batch.failed)  # type: ignore[arg-type]
        return batch

    def _keeper(self, entry_ids: list[Any]) -> Keep:
        """Renews this worker's claim on the entries without counting a delivery (while storage is down)."""

        async def keep() -> None:
            consumer = self.snapshots.consumer
            await self.redis.xclaim(COMMANDS_STREAM, WORKERS_GROUP, consumer, 0, entry_ids, justid=True)

        return keep

    async def _apply(self, batch: Batch, keep: Keep) -> list[AppliedCommand]:
        try:
            return await self._apply_waiting(batch.activations, keep)
        except StorageUnavailable:  # told to stop while storage is down: no traceback for that
            log.error("stopped with storage unreachable; %d commands left pending", len(batch.activations))
            return self._failed(batch, batch.activations, StorageUnavailable())
        except Exception as exc:
            if len(batch.activations) == 1:
                log.exception("applying an activation command failed")
                return self._failed(batch, batch.activations, exc)
        # One command the storage refuses must not hold up the others read with it: each on its own.
        log.warning("applying %d activation commands together failed; one by one", len(batch.activations))
        applied = []
        for activation in batch.activations:
            try:
                applied += await self._apply_waiting([activation], keep)
            except Exception as exc:
                log.exception("applying an activation command failed", extra=_context(activation[1]))
                self._failed(batch, [activation], exc)
        return applied

    async def _apply_waiting(
        self, activations: list[tuple[StreamId, ChangeActivation]], keep: Keep
    ) -> list[AppliedCommand]:
        return await while_storage_is_down(
            lambda: self.apply_activations(activations),
            f"{len(activations)} activation commands",
            self.stopping,
            keep,
            self.keep_every_s,
        )

    @staticmethod
    def _failed(
        batch: Batch, activations: list[tuple[StreamId, ChangeActivation]], exc: BaseException
    ) -> list[AppliedCommand]:
        """Leave the commands pending with their error recorded; the next delivery tries them again."""
        batch.failed.update({str(sid).encode(): _describe(exc) for sid, _ in activations})
        return []

    async def _snapshot(self, batch: Batch, entry_id: bytes, command: TriggerSnapshot, keep: Keep) -> None:
        try:
            # A retry resumes after the last chunk published (progress is saved per chunk).
            await while_storage_is_down(
                lambda: self.snapshots.run(entry_id, command),
                f"snapshot {command.request_id}",
                self.stopping,
                keep,
                self.keep_every_s,
            )
        except Exception as exc:  # left pending: another delivery resumes from the saved progress
            log.exception("snapshot %s failed", command.request_id, extra={"command_id": command.command_id})
            batch.failed[entry_id] = _describe(exc)
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(COMMANDS_STREAM, WORKERS_GROUP, entry_id)
        pipe.hdel(COMMAND_ERRORS, entry_id)
        await pipe.execute()
        batch.done.append(entry_id)

    async def apply_activations(
        self, activations: list[tuple[StreamId, ChangeActivation]]
    ) -> list[AppliedCommand]:
        if not activations:
            return []
        results = await apply_activations(self.engine, activations)
        return [(sid, cmd, result) for (sid, cmd), result in zip(activations, results, strict=True)]

    async def finish(self, batch: Batch, applied: list[AppliedCommand]) -> None:
        """One round trip: the view first (read-your-writes), then the replies, then the acknowledgement."""
        pipe = self.redis.pipeline(transaction=False)
        # The copy needs each package's final state only, not every step of the batch.
        final = {c.package_id: r for _, c, r in sorted(applied, key=lambda a: a[2].applied)}
        for package_id, result in final.items():
            state = PackageState(result.status, result.applied, result.reason)
            await self.view.remember(package_id, state, pipe=pipe)
        for sid, command, result in applied:
            COMMANDS_APPLIED.labels(command.type.value, result.outcome.value).inc()
            if command.reply_to:
                pipe.publish(command.reply_to, _reply(command, result))
            batch.done.append(str(sid).encode())
            _log(command, result)
        if applied:
            log.info("applied %d activation commands", len(applied))
        if batch.done:
            pipe.xack(COMMANDS_STREAM, WORKERS_GROUP, *batch.done)
            pipe.hdel(COMMAND_ERRORS, *batch.done)
        await pipe.execute()


def decode(entries: list[Entry]) -> Batch:
    batch = Batch()
    for entry_id, fields in entries:
        try:
            command: Command = from_fields(fields)
        except UndecodableCommand as exc:
            log.error("entry %s is not a command: %s", entry_id.decode(), exc)
            batch.failed[entry_id] = str(exc)
            continue
        if isinstance(command, TriggerSnapshot):
            batch.snapshots.append((entry_id, command))
        else:
            batch.activations.append((StreamId.parse(entry_id), command))
    return batch


def _describe(exc: BaseException) -> str:
    """An error as a dead letter records it: its type and first line, never a traceback."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]


def _reply(command: ChangeActivation, result: Applied) -> bytes:
    body = {"commandId": command.command_id, "outcome": result.outcome.value, "status": result.status.value}
    return msgspec.json.encode(body)


def _context(command: ChangeActivation) -> dict[str, object]:
    return {"command_id": command.command_id, "package_id": command.package_id}


def _log(command: ChangeActivation, result: Applied) -> None:
    # Per command at DEBUG: at INFO, logging was a tenth of a busy worker's time; the commands stream
    # itself is the record of every change.
    log.debug(
        "%s package %s: %s (command %s)",
        command.type.value,
        command.package_id,
        result.outcome.value,
        command.command_id,
        extra=_context(command),
    )
