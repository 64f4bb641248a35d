"""Serving owner requests (domain/owner_requests.py): the initial image and recoveries, by the owner of
each incident partition, at the end of a round (SPEC §12).

The partition owner (worker/partitions.py) reads the pending requests once a round. While a package's
image is pending for a partition, that partition's incidents are held back from the package
(`held_back`), so none can precede its scoreboard. At the end of the round, after the round's incidents
were kept and delivered, the owner publishes straight to the package's incidents queue, per subscribed
fixture in progress of its partitions: a recovery's kept incidents after `after`, then the fixture's
scoreboard; then it admits the package to those partitions' incidents (Delivery.admit) and marks them
served, in one step. Whoever marks the last partition finishes the request: a recovery's completion message
(MessageType 101), sent once, and the request forgotten.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

import msgspec
from sqlalchemy.engine import Connection

from domain.commands import TriggerRecovery
from domain.delivery import Parcel, PublishResult, QueueKind, Subscriptions
from domain.incidents import PARTITIONS
from domain.messages import MessageType, Outgoing, recovered_incidents, recovery_done, scoreboard_message
from domain.owner_requests import (
    OwnerRequest,
    Pending,
    RequestKind,
    Served,
    create_request,
    finish_request,
    mark_served,
    owners_alive,
    read_pending,
    wait_finished,
)
from domain.scoreboard import Scoreboard, to_message_body
from domain.scoreboard_store import incidents_after, live_boards
from domain.streams import owner_request_done
from domain.subscriptions import subscriptions_of
from worker.incidents import Directory
from worker.resources import Resources

log = logging.getLogger("worker.owner_requests")

# Messages per publishing call: a snapshot chunk's size (worker/resources.py).
CHUNK = 1000
# An activation waits for its image this share of the ingress's wait (LIVESCORE_COMMAND_TIMEOUT_MS), so
# that its 200 still comes in time. It is woken when the image is out (domain/owner_requests.py
# wait_finished), and looks whether its worker stops at least this often.
IMAGE_SHARE, STOP_CHECK_S = 0.6, 0.1
# A request's messages, each with the partition of its fixture.
Placed = list[tuple[int, Outgoing]]


async def pending_requests(res: Resources) -> list[Pending]:
    """The requests pending: one Redis read."""
    return await read_pending(res.redis)


def held_back(pending: Sequence[Pending]) -> frozenset[tuple[int, int]]:
    """The (package, partition) pairs whose incidents wait for the package's image."""
    return frozenset(
        (item.request.package, partition)
        for item in pending
        if item.request.kind is RequestKind.IMAGE
        for partition in range(PARTITIONS)
        if partition not in item.served
    )


async def serve(
    res: Resources, directory: Directory, pending: Sequence[Pending], partitions: Collection[int]
) -> None:
    """Serve, for every pending request, this worker's partitions that it does not have yet."""
    for item in pending:
        todo = item.unserved(set(partitions))
        if len(item.served) >= PARTITIONS:  # its last owner stopped before finishing it
            await _finish(res, item.request, Served(PARTITIONS, item.fixtures, item.incidents))
        elif todo:
            await _serve(res, item.request, todo)
            if item.request.kind is RequestKind.IMAGE:
                # The package is active now: into the audience from the next round, not a second later.
                directory.forget_packages()


async def _serve(res: Resources, request: OwnerRequest, partitions: list[int]) -> None:
    placed, subscribed = await _messages(res, request, partitions)
    sent = await _publish(res, request.package, [message for _, message in placed])
    counts = _counts(placed[:sent])
    if subscribed is not None:  # else removed meanwhile (nothing to admit it to), or not routed by them
        await res.delivery.admit(request.package, partitions, subscribed)
    # Marked after the admission: the partitions' incidents are no longer held back once they are.
    served = await mark_served(res.redis, request.id, {p: counts.get(p, (0, 0)) for p in partitions})
    if served is not None and served.complete:
        await _finish(res, request, served)


async def _messages(
    res: Resources, request: OwnerRequest, partitions: list[int]
) -> tuple[Placed, Subscriptions | None]:
    """Per subscribed fixture in progress of these partitions: its recovered incidents, its scoreboard;
    and, where the broker routes by them (`Delivery.admit`), the package's subscriptions as storage
    holds them in the same transaction."""
    wanted = set(partitions)
    recovering = request.kind is RequestKind.RECOVERY and request.after is not None
    routed = res.delivery.routes_by_subscriptions  # else admitting is the owner's own `held_back`

    def read(conn: Connection) -> tuple[list[Scoreboard], dict[int, list[bytes]], Subscriptions | None]:
        # Read once, for both the boards and the admission. A package removed meanwhile has no record:
        # its boards are those of empty subscriptions (every fixture's), and it is admitted nowhere.
        subscribed = subscriptions_of(conn, [request.package]).get(request.package)
        scope = subscribed or Subscriptions()
        boards = [
            board
            for board in live_boards(conn, sorted(scope.sports), sorted(scope.leagues))
            if board.fixture.fixture_id % PARTITIONS in wanted
        ]
        ids = [board.fixture.fixture_id for board in boards]
        kept = incidents_after(conn, ids, request.after or 0) if recovering else {}
        return boards, kept, subscribed if routed else None

    # The worker's own transactions: on SQLite at once on the loop, without aiosqlite's thread hops
    # (most of an activation's wait for its image, measured).
    boards, kept, subscribed = await res.transactions.run(read)
    return placed_messages(request, boards, kept), subscribed


def placed_messages(
    request: OwnerRequest, boards: Sequence[Scoreboard], kept: dict[int, list[bytes]]
) -> Placed:
    """The messages of a request, partition by partition; within a fixture, its incidents in stream
    order, then its scoreboard."""
    request_id = request.id if request.kind is RequestKind.RECOVERY else None
    placed: Placed = []
    for board in sorted(boards, key=lambda b: (b.fixture.fixture_id % PARTITIONS, b.fixture.fixture_id)):
        fixture = board.fixture
        ids = (fixture.fixture_id, fixture.sport.id, fixture.league.id)
        partition = fixture.fixture_id % PARTITIONS
        recovered = recovered_incidents(kept.get(fixture.fixture_id, []), *ids, request.id)
        placed += [(partition, message) for message in recovered]
        body = msgspec.json.encode(to_message_body(board))
        placed.append((partition, scoreboard_message(body, *ids, request_id)))
    return placed


async def _publish(res: Resources, package_id: int, messages: list[Outgoing]) -> int:
    """Publish in chunks, in order; how many messages the queue took before anything stopped."""
    sent = 0
    for start in range(0, len(messages), CHUNK):
        chunk = messages[start : start + CHUNK]
        (published,) = await res.delivery.publish([Parcel(package_id, QueueKind.INCIDENTS, chunk)])
        sent += published.count
        if published.result is not PublishResult.OK:
            log.warning("package %s: owner request stopped: %s", package_id, published.result)
            break
    return sent


def _counts(sent: Placed) -> dict[int, tuple[int, int]]:
    """Per partition, the scoreboards and the incidents sent."""
    counts: dict[int, tuple[int, int]] = {}
    for partition, message in sent:
        fixtures, incidents = counts.get(partition, (0, 0))
        board = message.message_type is MessageType.SCOREBOARD
        counts[partition] = (fixtures + board, incidents + (not board))
    return counts


async def _finish(res: Resources, request: OwnerRequest, served: Served) -> None:
    """A recovery's completion, once, after everything it sent; then the request is forgotten."""
    if request.kind is RequestKind.RECOVERY:
        message = recovery_done(request.id, served.fixtures, served.incidents)
        once = owner_request_done(request.id)
        await res.delivery.publish([Parcel(request.package, QueueKind.INCIDENTS, [message], once=once)])
        log.info(
            "recovery %s of package %s: %d scoreboards, %d incidents",
            request.id,
            request.package,
            served.fixtures,
            served.incidents,
        )
    await finish_request(res.redis, request)


async def show_images(res: Resources, package_ids: Collection[int]) -> None:
    """Ask the owners for the initial image of packages just activated (their status copy is written) and
    wait, within the command's time budget, until every partition served it (SPEC §12: before the 200).
    Past the budget, or with no owner at all, the answer goes out anyway; the request stays and is served."""
    requests = [OwnerRequest(str(uuid.uuid4()), RequestKind.IMAGE, package_id) for package_id in package_ids]
    # Created and the owners' liveness asked at once: an activation waits for each round trip.
    creating = [create_request(res.redis, request) for request in requests]
    *_, alive = await asyncio.gather(*creating, owners_alive(res.redis))
    if not alive:
        log.warning(
            "no worker reads incidents: the images of %s are served once one does", sorted(package_ids)
        )
        return
    deadline = time.monotonic() + res.settings.command_timeout_ms / 1000 * IMAGE_SHARE
    for request in requests:
        while not await wait_finished(res.redis, request.id, STOP_CHECK_S):
            if res.stopping.is_set():  # the worker stops, and its owners with it: the request stays
                return
            if time.monotonic() > deadline:
                log.warning("images of %s not complete in time; answered anyway", sorted(package_ids))
                return


async def ask_recovery(res: Resources, command: TriggerRecovery) -> None:
    """Leave a recovery for the owners (once, however often the command is delivered)."""
    after = None
    if command.after:
        after = int(datetime.fromisoformat(command.after).timestamp() * 1000)
    request = OwnerRequest(command.request_id, RequestKind.RECOVERY, command.package_id, after)
    if not await create_request(res.redis, request):
        log.info("recovery %s of package %s: pending or done already", request.id, request.package)
