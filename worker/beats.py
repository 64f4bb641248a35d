"""Keep-alive and heartbeat (SPEC §10): once per interval for the whole deployment, whatever the workers.

Every worker looks a few times per interval; the first to find the interval unclaimed (SET NX on the
interval's number, counted on Redis's clock so that every worker agrees which interval it is) sends that
interval's round. A worker that dies hands the duty over by itself: the next interval is claimed by
whichever worker looks first.

A round that cannot go out (the broker or storage down) is tried again, with a growing pause, until it
does: the customer gets it as soon as the outage is over, not an interval later. Once its interval is
past, the round tried is the current interval's, claimed in turn, so no interval gets two rounds; if
another worker claimed that one, the round is its to send.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from domain.delivery import Broadcast, Parcel, QueueKind
from domain.fixture_store import active_events
from domain.messages import heartbeat, keep_alive
from domain.streams import interval_turn, last_round
from domain.subscriptions import active_packages
from worker.metrics import BEATS
from worker.outages import Backoff, is_outage
from worker.repeating import Repeating
from worker.resources import Resources

log = logging.getLogger("worker.beats")

# Looks per interval: a round goes out within a quarter of an interval after it starts, even if the
# worker that would have sent it died.
LOOKS_PER_INTERVAL = 4
# But at least once a second, so that a long interval's round is still sent right after it begins.
LONGEST_LOOK_S = 1.0
# A claimed interval is remembered this many intervals, far longer than any worker's clock can lag.
KEPT_INTERVALS = 3
# A round that failed is tried again after this pause, doubled after each failure up to the longest: the
# round goes out within seconds of the broker's return, and an outage costs a few tries a minute.
FIRST_RETRY_S = 0.2
LONGEST_RETRY_S = 5.0


async def current_interval(res: Resources, interval_s: float) -> int:
    """The number of the interval it is now, on Redis's clock (the same for every worker)."""
    seconds, micros = await res.redis.time()
    return (seconds * 1000 + micros // 1000) // round(interval_s * 1000)


async def claim(res: Resources, duty: str, interval_s: float, number: int | None = None) -> int | None:
    """The number of the current interval (or of `number`) if this worker is the one to send its round,
    else None."""
    if number is None:
        number = await current_interval(res, interval_s)
    claimed = await res.redis.set(
        interval_turn(duty, number), res.consumer, nx=True, px=KEPT_INTERVALS * round(interval_s * 1000)
    )
    return number if claimed else None


async def send_keep_alives(res: Resources) -> int:
    """Each active package's fixtures queue: the subscribed fixtures in progress or about to start."""
    async with res.engine.connect() as conn:
        packages = await active_packages(conn)
        events = await active_events(conn)
    parcels = []
    for package in packages:
        ids = [fixture_id for fixture_id, refs in events.items() if package.receives(refs)]
        parcels.append(Parcel(package.package_id, QueueKind.FIXTURES, [keep_alive(ids)]))
    await res.view.remember_active({p.package_id: p.applied for p in packages})
    await res.delivery.publish(parcels)
    return len(parcels)


async def send_heartbeats(res: Resources) -> int:
    """Each active package's incidents queue: a header-only message."""
    async with res.engine.connect() as conn:
        packages = await active_packages(conn)
    await res.view.remember_active({p.package_id: p.applied for p in packages})
    if packages:
        broadcast = Broadcast(heartbeat(), [p.package_id for p in packages], None)
        await res.delivery.broadcast(QueueKind.INCIDENTS, [broadcast])
    return len(packages)


Send = Callable[[Resources], Awaitable[int]]


@dataclass
class Beats:
    """The keep-alive and heartbeat duties of one worker (those whose interval is not 0)."""

    res: Resources
    _duties: list[Repeating] = field(default_factory=list)

    async def start(self) -> None:
        settings = self.res.settings
        duties: list[tuple[str, float, Send]] = [
            ("keepalive", settings.keepalive_s, send_keep_alives),
            ("heartbeat", settings.heartbeat_s, send_heartbeats),
        ]
        self._duties = [
            Repeating(duty, self._look(duty, interval_s, send), _look_s(interval_s))
            for duty, interval_s, send in duties
            if interval_s > 0
        ]
        for duty in self._duties:
            duty.start()

    async def stop(self) -> None:
        for duty in self._duties:
            await duty.stop()

    def _look(self, duty: str, interval_s: float, send: Send) -> Callable[[], Awaitable[None]]:
        """One look at the duty: its round sent if this worker claims it."""

        async def look() -> None:
            try:
                if (number := await claim(self.res, duty, interval_s)) is not None:
                    await self._send_round(duty, interval_s, number, send)
            except (RedisError, OSError) as exc:
                log.warning("%s round not sent: %s", duty, exc)
            except Exception:
                log.exception("%s round not sent", duty)

        return look

    async def _send_round(self, duty: str, interval_s: float, number: int | None, send: Send) -> None:
        """Send the claimed round, through an outage if need be: one line when it starts, no traceback."""
        backoff, failing = Backoff(FIRST_RETRY_S, LONGEST_RETRY_S), False
        while number is not None:
            try:
                sent = await send(self.res)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                if not failing:
                    log.warning(
                        "%s round %d not sent yet: %s; trying again until it goes through",
                        duty,
                        number,
                        type(exc).__name__,
                    )
                failing = True
                await asyncio.sleep(backoff.next())
                number = await self._still_due(duty, interval_s, number)
                continue
            BEATS.labels(duty).inc()
            await self._note_sent(duty, interval_s, number)
            log.debug("%s round %d: %d packages", duty, number, sent)
            return

    async def _note_sent(self, duty: str, interval_s: float, number: int) -> None:
        """The round's interval start, for the console's "feed quiet" sign; kept a few intervals."""
        interval_ms = round(interval_s * 1000)
        await self.res.redis.set(last_round(duty), number * interval_ms, px=KEPT_INTERVALS * 4 * interval_ms)

    async def _still_due(self, duty: str, interval_s: float, number: int) -> int | None:
        """The round to try next: this one while its interval lasts, then the current interval's if this
        worker can claim it (None: another worker has, and sends it)."""
        now = await current_interval(self.res, interval_s)
        return number if now == number else await claim(self.res, duty, interval_s, now)


def _look_s(interval_s: float) -> float:
    """A look every fraction of the interval, so that a round is claimed soon after it is due."""
    return min(interval_s / LOOKS_PER_INTERVAL, LONGEST_LOOK_S)
