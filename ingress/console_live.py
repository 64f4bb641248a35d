"""The console's live panel (SPEC §13): one poller per package reads its live boards from storage and hands
what changed to every open `/console/live` stream of that package. Never the package's queues: the
console watching a match takes nothing from what the customer's own consumer reads.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from domain.streams import last_round, package_view

log = logging.getLogger("ingress.console")

# How often a package's poller reads storage: a score reaches the console within about a second of its
# incident (the worker's own round, then at most this).
POLL_S = 0.5
# With heartbeats off (LIVESCORE_HEARTBEAT_S=0), the interval the incident flow is judged over.
QUIET_INTERVAL_S = 10.0
# Events a slow stream may fall behind by before it is dropped (its browser reconnects and starts afresh).
MAX_BEHIND = 1000

Boards = dict[int, dict[str, Any]]
# One event of a stream: (SSE event name, data).
Event = tuple[str, dict[str, Any]]


def changes(before: Boards, after: Boards) -> list[Event]:
    """The events that take a panel showing `before` to `after`: each new or changed board, each gone."""
    events: list[Event] = [("board", board) for key, board in after.items() if before.get(key) != board]
    events.extend(("gone", {"fixtureId": key}) for key in before if key not in after)
    return events


def feed_sign(
    status: str | None, round_ms: int | None, incident_ms: int | None, now_ms: int, interval_ms: int
) -> str:
    """`inactive`, `live`, or `quiet`: no heartbeat round (stamped with its interval's start) for two
    intervals after the one due, and no incident appended for two intervals."""
    if status != "active":
        return "inactive"
    heard_round = round_ms is not None and now_ms - round_ms <= 3 * interval_ms
    heard_incident = incident_ms is not None and now_ms - incident_ms <= 2 * interval_ms
    return "live" if heard_round or heard_incident else "quiet"


def incident_summary(body: dict[str, Any]) -> dict[str, Any]:
    """What the panel shows of a fixture's last incident (its body as it came: fields may be missing)."""
    period = body.get("period")
    return {
        "id": body.get("id"),
        "kind": body.get("kind"),
        "name": body.get("name"),
        "seconds": body.get("seconds"),
        "period": period.get("name") if isinstance(period, dict) else None,
    }


def _last_incident_ms(boards: Boards) -> int | None:
    times = [board["updated"] for board in boards.values() if board.get("lastIncidentId") is not None]
    return round(datetime.fromisoformat(max(times)).timestamp() * 1000) if times else None


def _with_incident(event: Event, incidents: dict[int, dict[str, Any]]) -> Event:
    name, data = event
    if name != "board":
        return event
    return name, {**data, "lastIncident": incidents.get(data["fixtureId"])}


@dataclass
class _Poller:
    """The package's boards and feed sign as last read, and the queues of its open streams."""

    boards: Boards = field(default_factory=dict)
    # Per fixture, the summary of its last incident, as the boards' `lastIncident` (read once per incident).
    incidents: dict[int, dict[str, Any]] = field(default_factory=dict)
    sign: str | None = None
    listeners: set["asyncio.Queue[Event | None]"] = field(default_factory=set)
    task: "asyncio.Task[None] | None" = None

    def send(self, events: list[Event]) -> None:
        for queue in list(self.listeners):
            if queue.qsize() + len(events) > MAX_BEHIND:
                self.listeners.discard(queue)
                queue.put_nowait(None)
                continue
            for event in events:
                queue.put_nowait(event)


class LiveFeed:
    """Every package's poller, started by its first stream and stopped after its last."""

    def __init__(
        self,
        read: Callable[[int], Awaitable[list[dict[str, Any]]]],
        incident: Callable[[int], Awaitable[dict[str, Any] | None]],
        redis: Redis,
        heartbeat_s: float,
    ) -> None:
        """`read`: a package's live boards; `incident`: a fixture's latest incident body."""
        self._read, self._incident, self._redis = read, incident, redis
        self._interval_ms = round((heartbeat_s or QUIET_INTERVAL_S) * 1000)
        self._pollers: dict[int, _Poller] = {}
        self._loop = asyncio.get_running_loop()
        self._ended = False

    @contextlib.asynccontextmanager
    async def listen(self, package_id: int) -> AsyncIterator["asyncio.Queue[Event | None]"]:
        """A queue of the package's events, starting with every board and the feed sign; None when the
        stream fell too far behind."""
        poller = self._pollers.setdefault(package_id, _Poller())
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        if self._ended:
            queue.put_nowait(None)
        if poller.task is None:
            poller.task = asyncio.create_task(
                self._poll(package_id, poller), name=f"console-live-{package_id}"
            )
        elif poller.sign is not None:
            queue.put_nowait(("feed", {"state": poller.sign}))
            for event in changes({}, poller.boards):
                queue.put_nowait(_with_incident(event, poller.incidents))
        poller.listeners.add(queue)
        try:
            yield queue
        finally:
            poller.listeners.discard(queue)
            if not poller.listeners:
                self._pollers.pop(package_id, None)
                poller.task.cancel()

    async def _poll(self, package_id: int, poller: _Poller) -> None:
        failing = False
        while True:
            try:
                await self._look(package_id, poller)
                failing = False
            except Exception as exc:  # storage or Redis away: the panel keeps what it shows meanwhile
                if not failing:
                    log.warning("live boards of package %d not read: %s", package_id, type(exc).__name__)
                failing = True
            await asyncio.sleep(POLL_S)

    async def _look(self, package_id: int, poller: _Poller) -> None:
        boards = {board["fixtureId"]: board for board in await self._read(package_id)}
        sign = await self._sign(package_id, boards)
        events: list[Event] = [] if sign == poller.sign else [("feed", {"state": sign})]
        for event in changes(poller.boards, boards):
            await self._note_incident(event, poller.incidents)
            events.append(_with_incident(event, poller.incidents))
        poller.boards, poller.sign = boards, sign
        poller.send(events)

    async def _note_incident(self, event: Event, incidents: dict[int, dict[str, Any]]) -> None:
        """The summary of a changed board's last incident, read when the board names a new one."""
        name, board = event
        fixture_id, incident_id = board["fixtureId"], board.get("lastIncidentId")
        known = incidents.get(fixture_id)
        if name != "board" or incident_id is None or (known is not None and known["id"] == incident_id):
            return
        body = await self._incident(fixture_id)
        if body is not None:
            incidents[fixture_id] = incident_summary(body)

    async def _sign(self, package_id: int, boards: Boards) -> str:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(package_view(package_id), "status")
        pipe.get(last_round("heartbeat"))
        pipe.time()
        status, round_ms, (seconds, micros) = await pipe.execute()
        now_ms = seconds * 1000 + micros // 1000
        text = status.decode() if isinstance(status, bytes) else status
        stamp = int(round_ms) if round_ms is not None else None
        return feed_sign(text, stamp, _last_incident_ms(boards), now_ms, self._interval_ms)

    def end_all_threadsafe(self) -> None:
        """Every stream ends, and any opened from now on at once: the process is stopping. Safe to call
        from a signal handler or another thread."""
        self._loop.call_soon_threadsafe(self._end_all)

    def _end_all(self) -> None:
        self._ended = True
        for poller in self._pollers.values():
            for queue in poller.listeners:
                queue.put_nowait(None)

    async def close(self) -> None:
        for poller in list(self._pollers.values()):
            if poller.task is not None:
                poller.task.cancel()
        self._pollers.clear()
