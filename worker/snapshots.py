"""Snapshot fan-out: every upcoming subscribed fixture to the package's queue, then one completion.

Fixtures are read in chunks by id (memory stays flat whatever their number) while the previous chunk is
being published, and each chunk is one script call. Progress is saved with every chunk: a worker taking
over a snapshot whose worker died resumes after the last chunk saved (the chunk in flight may be sent
twice), and the completion message is sent once.
"""

import asyncio
import logging

from domain.commands import TriggerSnapshot
from domain.delivery import Parcel, Published, PublishResult, QueueKind
from domain.fixture_store import StoredBody, upcoming_chunk
from domain.messages import MessageType, completion, envelopes, fixture_headers
from domain.package_status import PackageStatus
from domain.packages import package_state
from domain.snapshot_book import completion_name
from domain.streams import COMMANDS_STREAM, WORKERS_GROUP, snapshot_progress
from domain.subscriptions import subscriptions
from worker.metrics import SNAPSHOT_FIXTURES, SNAPSHOTS
from worker.resources import Resources

log = logging.getLogger("worker.snapshots")

# A snapshot's progress is kept this long after its last chunk, longer than any claim idle time.
PROGRESS_TTL_S = 86_400

Chunk = list[StoredBody]
FIXTURES = QueueKind.FIXTURES


async def run_snapshot(res: Resources, entry_id: bytes, command: TriggerSnapshot) -> None:
    package_id, request_id = command.package_id, command.request_id
    scope = await _scope(res, package_id) if not await res.snapshots.is_finished(request_id) else None
    if scope is None:
        SNAPSHOTS.labels("skipped").inc()
    elif (sent := await _fan_out(res, entry_id, command, *scope)) is not None:
        # Sent once, however often the command is delivered; then the package may snapshot again.
        message = completion(request_id, sent)
        once = completion_name(request_id)
        (published,) = await res.delivery.publish([Parcel(package_id, FIXTURES, [message], once=once)])
        _finished(published.result, request_id, package_id, sent)
    else:
        SNAPSHOTS.labels("stopped").inc()
    await res.snapshots.release(package_id, request_id)


def _finished(result: PublishResult, request_id: str, package_id: int, sent: int) -> None:
    """Counted and logged by whether its completion message went out (a full queue refuses it too)."""
    if result is PublishResult.OK:
        SNAPSHOTS.labels("completed").inc()
        log.info("snapshot %s of package %s: %d fixtures", request_id, package_id, sent)
    else:
        SNAPSHOTS.labels("stopped").inc()
        log.warning("snapshot %s of package %s: completion not sent: %s", request_id, package_id, result)


async def _scope(res: Resources, package_id: int) -> tuple[list[int], list[int]] | None:
    """The package's subscriptions, or None when it is inactive; refreshes its Redis status copy."""
    async with res.engine.connect() as conn:
        state = await package_state(conn, package_id)
        sports, leagues = await conn.run_sync(subscriptions, package_id)
    if state is None or state.status is not PackageStatus.ACTIVE:
        return None
    await res.view.remember_active({package_id: state.applied})
    return sports, leagues


async def _fan_out(
    res: Resources, entry_id: bytes, command: TriggerSnapshot, sports: list[int], leagues: list[int]
) -> int | None:
    """Fixtures sent in all; None when the package became inactive or its queue full on the way. Each
    chunk is sent while the one before is being confirmed (the broker is never left idle while the next
    is read and encoded), and a chunk's progress is saved once it is confirmed, in order."""
    after, sent = await _progress(res, command.request_id)
    fetch = asyncio.ensure_future(_read(res, sports, leagues, after))
    sent_chunks: list[tuple[asyncio.Future[list[Published]], Chunk]] = []
    try:
        while True:
            rows = await fetch
            if rows:
                fetch = asyncio.ensure_future(_read(res, sports, leagues, rows[-1].fixture_id))
                sent_chunks.append((await send_chunk(res, command, rows), rows))
            # The chunk before the one just sent (or the last one, at the end) once it is confirmed.
            if len(sent_chunks) > 1 or (sent_chunks and not rows):
                count = await _saved(res, entry_id, command, *sent_chunks.pop(0), sent)
                if count is None:
                    return None
                sent += count
            if not rows:
                return sent
    finally:
        fetch.cancel()
        # Their confirmations in (or failed) before the command is given up.
        await asyncio.gather(*(sending for sending, _ in sent_chunks), return_exceptions=True)


async def _read(res: Resources, sports: list[int], leagues: list[int], after: int) -> Chunk:
    async with res.engine.connect() as conn:
        return await upcoming_chunk(conn, sports, leagues, after, res.snapshot_chunk)


async def send_chunk(
    res: Resources, command: TriggerSnapshot, rows: Chunk
) -> asyncio.Future[list[Published]]:
    """One chunk sent; the future gives its outcome once the broker confirmed it."""
    bodies = [row.body for row in rows]
    headers = [fixture_headers(row.fixture_id, row.sport_id, row.league_id) for row in rows]
    messages = envelopes(MessageType.FIXTURE, bodies, command.request_id, headers)
    return await res.delivery.start_publish([Parcel(command.package_id, FIXTURES, messages)])


async def _saved(
    res: Resources,
    entry_id: bytes,
    command: TriggerSnapshot,
    sending: asyncio.Future[list[Published]],
    rows: Chunk,
    sent: int,
) -> int | None:
    """A chunk's fixtures taken by the queue, once confirmed, with its progress saved and the claim on
    the command renewed: re-claiming resets the command's idle time, so a long snapshot is never
    mistaken for one whose worker died. None when the chunk did not all go out (inactive, or full)."""
    (published,) = await sending
    progress = snapshot_progress(command.request_id)
    pipe = res.redis.pipeline(transaction=False)
    pipe.hset(progress, mapping={"after": rows[-1].fixture_id, "sent": sent + published.count})
    pipe.expire(progress, PROGRESS_TTL_S)
    pipe.xclaim(COMMANDS_STREAM, WORKERS_GROUP, res.consumer, 0, [entry_id], justid=True)
    await pipe.execute()
    SNAPSHOT_FIXTURES.inc(published.count)
    if published.result is not PublishResult.OK:
        log.warning(
            "snapshot %s of package %s stopped: %s", command.request_id, command.package_id, published.result
        )
        return None
    return published.count


async def _progress(res: Resources, request_id: str) -> tuple[int, int]:
    saved = await res.redis.hgetall(snapshot_progress(request_id))
    return int(saved.get(b"after", 0)), int(saved.get(b"sent", 0))
