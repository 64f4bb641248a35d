"""Applying commands: decode → apply in one transaction → commit → update the view, reply, acknowledge.

An entry is acknowledged only after its effect is committed (SPEC §3). Anything that fails leaves the
entry pending, to be delivered again (by this worker's reclaimer or another's) or dead-lettered.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from redis.asyncio.client import Pipeline

from domain.activation import Applied, apply_activations
from domain.commands import (
    ChangeActivation,
    Command,
    CommandType,
    Outcome,
    StreamId,
    TriggerRecovery,
    TriggerSnapshot,
    from_fields,
)
from domain.errors import StorageUnavailable, UndecodableCommand
from domain.package_status import PackageStatus
from domain.packages import PackageState, stored_states
from domain.replies import Reply
from domain.streams import COMMAND_ERRORS, COMMANDS_STREAM, WORKERS_GROUP
from domain.subscriptions import package_subscriptions
from worker.entries import Entry, acknowledge
from worker.metrics import COMMAND_FAILURES, COMMANDS_APPLIED
from worker.outages import while_storage_is_down
from worker.owner_requests import ask_recovery, show_images
from worker.resources import Resources
from worker.snapshots import run_snapshot

# The logger's name from before this module was handlers.py: what operators filter the logs on.
log = logging.getLogger("worker.commands")

# Renews this worker's claim on the entries in hand, without counting a delivery (while storage is down).
Keep = Callable[[], Awaitable[object]]
Activation = tuple[StreamId, ChangeActivation]
AppliedCommand = tuple[StreamId, ChangeActivation, Applied]


@dataclass
class Batch:
    """The decoded commands of one read, in stream order, and what became of them."""

    activations: list[Activation] = field(default_factory=list)
    snapshots: list[tuple[bytes, TriggerSnapshot]] = field(default_factory=list)
    recoveries: list[tuple[bytes, TriggerRecovery]] = field(default_factory=list)
    done: list[bytes] = field(default_factory=list)
    failed: dict[bytes, str] = field(default_factory=dict)


async def apply_commands(res: Resources, entries: list[Entry]) -> Batch:
    """Apply what can be applied; whatever fails stays pending with its error recorded."""
    batch = decode(entries)
    keep = keeper(res, [entry_id for entry_id, _ in entries])
    await finish(res, batch, await _apply(res, batch, keep), keep)
    # After the activations are answered: a snapshot may take seconds, its waiting clients none.
    for entry_id, command in batch.snapshots:
        await _snapshot(res, batch, entry_id, command, keep)
    for entry_id, recovery in batch.recoveries:
        await _recovery(res, batch, entry_id, recovery)
    if batch.failed:
        COMMAND_FAILURES.inc(len(batch.failed))
        await res.redis.hset(COMMAND_ERRORS, mapping=batch.failed)  # type: ignore[arg-type]
    return batch


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
        elif isinstance(command, TriggerRecovery):
            batch.recoveries.append((entry_id, command))
        else:
            batch.activations.append((StreamId.parse(entry_id), command))
    return batch


def keeper(res: Resources, entry_ids: list[bytes]) -> Keep:
    claimed: list[Any] = list(entry_ids)

    async def keep() -> object:
        return await res.redis.xclaim(COMMANDS_STREAM, WORKERS_GROUP, res.consumer, 0, claimed, justid=True)

    return keep


async def _apply(res: Resources, batch: Batch, keep: Keep) -> list[AppliedCommand]:
    try:
        return await _apply_waiting(res, batch.activations, keep)
    except StorageUnavailable:  # told to stop while storage is down: no traceback for that
        log.error("stopped with storage unreachable; %d commands left pending", len(batch.activations))
        return _failed(batch, batch.activations, StorageUnavailable())
    except Exception as exc:
        if len(batch.activations) == 1:
            log.exception("applying an activation command failed")
            return _failed(batch, batch.activations, exc)
    # One command the storage refuses must not hold up the others read with it: each on its own.
    log.warning("applying %d activation commands together failed; one by one", len(batch.activations))
    applied = []
    for activation in batch.activations:
        try:
            applied += await _apply_waiting(res, [activation], keep)
        except Exception as exc:
            log.exception("applying an activation command failed", extra=_context(activation[1]))
            _failed(batch, [activation], exc)
    return applied


async def _apply_waiting(res: Resources, activations: list[Activation], keep: Keep) -> list[AppliedCommand]:
    async def apply() -> list[AppliedCommand]:
        if not activations:
            return []
        results = await apply_activations(res.transactions, activations)
        return [(sid, cmd, result) for (sid, cmd), result in zip(activations, results, strict=True)]

    what = f"{len(activations)} activation commands"
    return await while_storage_is_down(apply, what, res.stopping, keep, res.keep_every_s)


def _failed(batch: Batch, activations: list[Activation], exc: BaseException) -> list[AppliedCommand]:
    """Leave the commands pending with their error recorded; the next delivery tries them again."""
    batch.failed.update({str(sid).encode(): _describe(exc) for sid, _ in activations})
    return []


async def _snapshot(
    res: Resources, batch: Batch, entry_id: bytes, command: TriggerSnapshot, keep: Keep
) -> None:
    try:
        # A retry resumes after the last chunk published (progress is saved per chunk).
        await while_storage_is_down(
            lambda: run_snapshot(res, entry_id, command),
            f"snapshot {command.request_id}",
            res.stopping,
            keep,
            res.keep_every_s,
        )
    except Exception as exc:  # left pending: another delivery resumes from the saved progress
        log.exception("snapshot %s failed", command.request_id, extra={"command_id": command.command_id})
        batch.failed[entry_id] = _describe(exc)
        return
    await _acknowledged(res, batch, entry_id)


async def _recovery(res: Resources, batch: Batch, entry_id: bytes, command: TriggerRecovery) -> None:
    """Left to the incident partitions' owners (worker/owner_requests.py); acknowledged once it is."""
    try:
        await ask_recovery(res, command)
    except Exception as exc:  # left pending, to be delivered again
        log.exception("recovery %s failed", command.request_id, extra={"command_id": command.command_id})
        batch.failed[entry_id] = _describe(exc)
        return
    await _acknowledged(res, batch, entry_id)


async def _acknowledged(res: Resources, batch: Batch, entry_id: bytes) -> None:
    """A command whose work is done (a snapshot sent, a recovery handed to the owners), acknowledged."""
    pipe = res.redis.pipeline(transaction=False)
    acknowledge(pipe, [entry_id])
    await pipe.execute()
    batch.done.append(entry_id)


def _activated(applied: list[AppliedCommand], final: dict[int, Applied]) -> set[int]:
    """The packages an activation of the batch made active from inactive, and that stay active."""
    return {
        command.package_id
        for _, command, result in applied
        if command.type is CommandType.ACTIVATE
        and result.outcome is Outcome.COMPLETED
        and final[command.package_id].status is PackageStatus.ACTIVE
    }


async def finish(res: Resources, batch: Batch, applied: list[AppliedCommand], keep: Keep) -> None:
    """The view first (read-your-writes), the packages' queues made to follow it, then one round trip: the
    replies and the acknowledgement."""
    # The copy needs each package's final state only, not every step of the batch.
    final = {c.package_id: r for _, c, r in sorted(applied, key=lambda a: a[2].applied)}
    pipe = res.redis.pipeline(transaction=False)
    states = {
        pid: PackageState(result.status, result.applied, result.reason) for pid, result in final.items()
    }
    await res.view.remember_all(states, pipe=pipe)
    activated = _activated(applied, final)
    await _follow(res, pipe, list(final), activated, keep)
    if activated:
        # The status copy first: the owners' incidents follow the image once it is out (SPEC §12).
        await pipe.execute()
        await show_images(res, activated)
    for sid, command, result in applied:
        COMMANDS_APPLIED.labels(command.type.value, result.outcome.value).inc()
        if command.reply_to:
            pipe.publish(command.reply_to, _reply(command, result))
        batch.done.append(str(sid).encode())
        _log(command, result)
    if applied:
        log.debug("applied %d activation commands", len(applied))
    acknowledge(pipe, batch.done)
    await pipe.execute()


async def _follow(
    res: Resources, writes: Pipeline, package_ids: list[int], imaged: set[int], keep: Keep
) -> None:
    """An active package's queues exist and get what is published for it before its customer hears it is
    active (a package just activated: its incidents after its image, SPEC §12); nothing reaches a
    deactivated package's queues after its 200 (SPEC §9)."""

    async def follow() -> None:
        subscribed = {}
        if res.delivery.routes_by_subscriptions:  # else they are not needed: one storage read saved
            async with res.engine.connect() as conn:
                subscribed = await package_subscriptions(conn, package_ids)
        await res.delivery.follow(writes, {p: subscribed.get(p) for p in package_ids}, imaged)

    if package_ids:
        await while_storage_is_down(follow, "following activations", res.stopping, keep, res.keep_every_s)


async def follow_storage(res: Resources) -> None:
    """At a worker's start (SPEC §2.5): the status copies made to agree with storage (versioned: a newer
    copy stays), and what reaches each package's queues with them — a restored database, packages
    changed while no worker ran, a broker that lost its bindings."""
    async with res.engine.connect() as conn:
        stored = await stored_states(conn)
        subscribed = await package_subscriptions(conn, [package_id for package_id, _, _ in stored])
    await res.view.remember_all({package_id: state for package_id, state, _ in stored})
    await res.delivery.reconcile(subscribed)


def _describe(exc: BaseException) -> str:
    """An error as a dead letter records it: its type and first line, never a traceback."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]


def _reply(command: ChangeActivation, result: Applied) -> bytes:
    return msgspec.json.encode(Reply(command.command_id, result.outcome, result.status))


def _context(command: ChangeActivation) -> dict[str, object]:
    return {"command_id": command.command_id, "package_id": command.package_id}


def _log(command: ChangeActivation, result: Applied) -> None:
    # Per command at DEBUG: at INFO, logging was a visible part of a busy worker's time; the commands stream
    # itself is the record of every change.
    log.debug(
        "%s package %s: %s (command %s)",
        command.type.value,
        command.package_id,
        result.outcome.value,
        command.command_id,
        extra=_context(command),
    )
