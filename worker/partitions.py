"""Incidents in order: this worker's partitions, read from their offsets and delivered in stream order.

Each partition (fixtureId mod PARTITIONS) has one owner at a time (domain/partitions.py). The owner reads
`livescore:incidents` with plain XREAD from its partitions' offsets, keeps only its partitions' entries,
and delivers them in stream order; once the Delivery confirmed them it commits, per partition, the id up
to which everything is handled. A crash between delivery and commit repeats what was delivered; nothing
is ever delivered out of order, since nobody else delivers that partition meanwhile.

What to deliver, park, release or dead-letter is decided by a state machine per partition
(domain/incident_order.py); this module is its loop: it reads, looks fixtures up in storage and parked
fixtures in Redis, then delivers and commits what the machine decided. Incidents waiting for their
fixture are parked in Redis (the offset moves past them), at most LIVESCORE_INCIDENT_WAIT_MAX of them
also in this worker's memory; dead letters are logged as one count per interval (worker/dead_letter_log.py).
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from domain.commands import StreamId
from domain.incident_order import (
    Action,
    Checked,
    Commit,
    DeadLetter,
    Deliver,
    Entry,
    Limits,
    Loaded,
    PartitionState,
    Read,
    decide,
    passed,
    taken_over,
    to_check,
    to_load,
    waiting_fixtures,
)
from domain.incidents import PARTITIONS, fixture_of, partition_of
from domain.messages import MESSAGE_FIELD
from domain.partitions import PartitionLeases, commit, load_parked, load_progress, parked_among
from domain.streams import INCIDENTS_STREAM, OWNER_REQUESTS_WAKE
from worker.dead_letter_log import DeadLetterLog
from worker.incidents import Directory, Ready, count_delivered, start_delivery
from worker.live_state import Batches, keep
from worker.metrics import INCIDENT_PARTITIONS, INCIDENTS, INCIDENTS_WAITING
from worker.outages import Backoff
from worker.owner_requests import held_back, pending_requests, serve
from worker.redis_clock import RedisClock
from worker.repeating import Repeating
from worker.resources import Resources

log = logging.getLogger("worker.partitions")

# Entries per XREAD: a round's storage lookups and its transaction are shared by this many incidents.
READ_BATCH = 500
# While incidents wait, some of their fixtures are looked up again this often; while a backlog is being
# read (the last read was full), less often: reading past a burst comes first, and a wait only ends later.
RECHECK_S, BUSY_RECHECK_S = 0.25, 2.0
# ...this many at most in all (a flood of waiting incidents costs one bounded lookup per check, not one
# per incident; the oldest first, as they expire first, and the others in turn).
CHECK_FIXTURES = 500
# The offsets of partitions that had nothing in a read are committed at most this often (each round
# moves them in memory): a restart reads at most this much again.
IDLE_COMMIT_S = 1.0
# After a failed round (Redis or storage unreachable) the next try waits this long, doubling up to the
# longest pause.
FIRST_PAUSE_S, MAX_PAUSE_S = 0.1, 5.0
# A partition is only delivered while its lease has at least this share of its time left, so that a
# delivery in flight ends before anyone else could take the partition over.
SAFETY_SHARE = 1 / 3
# How long a stopping worker lets the round in hand finish before it abandons it (to be repeated by the
# next owner).
STOP_TIMEOUT_S = 5.0
# Rounds sent whose confirmations are still awaited while the next rounds are read and sent: awaiting
# each round's confirmation before reading on kept the loop busy most of the time at 200 incidents/s
# (docs/BENCHMARKS.md, "An incident's time in the worker over AMQP"). Past this many the loop waits for
# the oldest confirmation: under load rounds then grow instead of multiplying, each with its own Redis
# calls, and the node keeps the CPU it needs. Measured: with 8, the highest rate held fell from
# 600 to 400 incidents/s; with 2, 200 packages at 200/s (the node saturated) had p99 1.8 s, with 1 0.6 s.
IN_FLIGHT_MAX = 1
_MESSAGE = MESSAGE_FIELD.encode()
_WAKE = OWNER_REQUESTS_WAKE.encode()


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A round sent: `confirmed` once its confirmations are in, after the rounds before it; `done` once
    its live state is kept too and its actions committed (or failed, and so every round after it)."""

    confirmed: asyncio.Future[None]
    done: asyncio.Future[None]
    fixtures: frozenset[int]


class IncidentPartitions:
    """The partitions this worker owns: their leases renewed in one task, their entries read in another."""

    def __init__(self, res: Resources) -> None:
        self._res = res
        settings = res.settings
        self._lease_s = settings.incident_lease_ms / 1000
        self._leases = PartitionLeases(res.redis, res.consumer, settings.incident_lease_ms)
        self._poll_ms = settings.worker_poll_ms
        self._directory = Directory()
        # Each partition's share of the incidents kept in memory, so that all of them stay within the setting.
        capacity = max(1, settings.incident_wait_max // PARTITIONS)
        self._limits = Limits(capacity, round(settings.incident_wait_s * 1000))
        self._dead_log = DeadLetterLog(log)
        # Partitions whose lease this worker holds, with the (monotonic) time it runs out; kept by the
        # lease task. The reading task owns `_partitions` and hands extras back through `_releasing`.
        self._valid: dict[int, float] = {}
        self._fair = 0
        self._releasing: set[int] = set()
        self._partitions: dict[int, PartitionState] = {}
        self._checked = 0.0
        self._idle_committed = 0.0
        # The last owner request's wake entry seen (domain/streams.py: OWNER_REQUESTS_WAKE); from the
        # start, so that the first round looks for requests at once.
        self._woken = "0-0"
        self._requests_maybe = True
        self._clock = RedisClock(res.redis)
        self._backoff = Backoff(FIRST_PAUSE_S, MAX_PAUSE_S)
        self._stopping = asyncio.Event()
        self._in_flight: deque[_InFlight] = deque()
        # Per partition, the last incident confirmed in stream order (with every one before it): read
        # again after a failure that came later (storage, the commit), it is kept and committed, not sent.
        self._confirmed: dict[int, StreamId] = {}
        # `keep` looked up when a batch is kept, not bound here (the tests hold it back).
        self._batches = Batches(lambda ready: keep(res, ready))
        self._keeper = Repeating("incident-leases", self._keep_leases, self._lease_s / 3)
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._keeper.start()
        self._reader = asyncio.create_task(self._read(), name="incident-reader")

    async def stop(self) -> None:
        """Finish the round in hand, then hand every partition back at once, for others to take over."""
        self._stopping.set()
        await self._keeper.stop()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=STOP_TIMEOUT_S)
            # Cut short: the round is repeated by the next owner; a lost cancellation ends the loop too,
            # which looks at `_stopping` (worker/repeating.py).
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        for round_ in self._in_flight:  # left uncommitted: the next owner repeats them
            round_.confirmed.cancel()
            round_.done.cancel()
        await self._abandon()
        with contextlib.suppress(RedisError):
            await self._leases.release({*self._valid, *self._releasing}, leaving=True)

    # The lease task.

    async def _keep_leases(self) -> None:
        try:
            await self._renew()
        except RedisError as exc:  # Redis away: the leases run out, and the reader stops delivering
            log.warning("could not renew the incident partitions' leases: %s", exc)

    async def _renew(self) -> None:
        if self._releasing:
            extras = set(self._releasing)
            for number in extras:
                self._valid.pop(number, None)
            await self._leases.release(extras)
            self._releasing -= extras
        started = time.monotonic()
        leases = await self._leases.renew(list(self._valid))
        until = started + self._lease_s
        taken = set(leases.taken)
        if taken:
            log.info("took incident partitions %s (%d workers)", sorted(taken), leases.workers)
        self._valid = {number: until for number in [*leases.kept, *leases.taken]}
        self._fair = leases.fair

    # The reading task.

    async def _read(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._round()
                self._backoff.reset()
            except Exception as exc:  # start again from what is committed
                pause = self._backoff.next()
                log.warning("incident round failed (%s: %s); again in %.1f s", type(exc).__name__, exc, pause)
                await self._abandon()
                self._partitions.clear()
                await asyncio.sleep(pause)
        with contextlib.suppress(Exception):  # uncommitted: the next owner repeats it
            await self._drain()
        self._dead_log.flush()

    async def _round(self) -> None:
        self._finished()
        await self._take_over()
        INCIDENT_PARTITIONS.set(len(self._partitions))
        if not self._partitions:  # until the lease task takes some: it tries every third of a lease
            await asyncio.sleep(min(self._poll_ms / 1000, self._lease_s / 3))
            return
        await self._load()
        entries = await self._next_entries()
        now_ms = await self._clock.now_ms()
        actions = await self._on_read(entries, now_ms) if entries else []
        if self._check_due(busy=len(entries) >= READ_BATCH):
            actions += await self._check(now_ms)
        requests = await pending_requests(self._res) if self._requests_maybe else []
        # Requests come with a wake entry (create_request); until one comes, none is pending but those
        # of the last read, and once they are gone nothing is asked until the next wake.
        self._requests_maybe = bool(requests)
        await self._carry_out(self._safe(actions), held_back(requests))
        if requests:
            # At a known point of the stream: after every incident read so far was kept, delivered and
            # committed.
            await self._drain()
            await serve(self._res, self._directory, requests, list(self._partitions))
        INCIDENTS_WAITING.set(sum(len(state.window) for state in self._partitions.values()))
        self._dead_log.maybe_log()

    async def _take_over(self) -> None:
        """Drop the partitions whose lease is gone, hand back those above the fair share, load new ones."""
        for number in [n for n in self._partitions if n not in self._valid]:
            log.info("incident partition %d: lease lost", number)
            del self._partitions[number]
        mine = sorted(n for n in self._valid if n not in self._releasing)
        for number in mine[self._fair :] if self._fair else []:
            self._partitions.pop(number, None)
            self._releasing.add(number)
        for number in mine[: self._fair]:
            if number not in self._partitions:
                await self._drain()  # its progress as committed, should it have been this worker's before
                progress = await load_progress(self._res.redis, number)
                self._partitions[number] = taken_over(
                    number, progress.offset, progress.delivered, self._limits
                )

    async def _load(self) -> None:
        """Parked incidents into the windows with room (all of them after a takeover, within the bound)."""
        wanted = {
            number: (state.window[-1].entry_id if state.window else None, count)
            for number, state in self._partitions.items()
            if (count := to_load(state))
        }
        for number, parked in (await load_parked(self._res.redis, wanted)).items():
            loaded = Loaded(parked, complete=len(parked) < wanted[number][1])
            self._apply(decide(self._partitions[number], loaded))

    async def _next_entries(self) -> list[Entry]:
        """The next entries of the owned partitions' stream; a new owner request ends the wait early."""
        cursor = min(state.offset for state in self._partitions.values())
        reply: Any = await self._res.redis.xread(
            {INCIDENTS_STREAM: str(cursor), OWNER_REQUESTS_WAKE: self._woken},
            count=READ_BATCH,
            block=self._poll_ms,
        )
        entries = []
        for stream, got in reply or []:
            if stream == _WAKE:
                self._woken = got[-1][0].decode()
                self._requests_maybe = True
            else:
                entries += [Entry(StreamId.parse(i), fields.get(_MESSAGE, b"")) for i, fields in got]
        return entries

    async def _on_read(self, entries: list[Entry], now_ms: int) -> list[Action]:
        """Each owned partition's share of the entries, with the fixtures looked up that it needs."""
        mine: dict[int, list[Entry]] = {number: [] for number in self._partitions}
        fixtures: dict[int, list[int]] = {number: [] for number in self._partitions}
        for entry in entries:
            fixture_id = fixture_of(entry.message)
            number = partition_of(fixture_id)
            if number in mine:
                mine[number].append(entry)
                fixtures[number] += [fixture_id] if fixture_id is not None else []
        incomplete = {n: ids for n, ids in fixtures.items() if not self._partitions[n].complete}
        parked = await parked_among(self._res.redis, incomplete)
        unknown = []
        for number, ids in fixtures.items():
            waiting, beyond = waiting_fixtures(self._partitions[number]), parked.get(number, frozenset())
            unknown += [f for f in ids if f not in waiting and f not in beyond]
        stored = await self._directory.refs(self._res, unknown)
        read_to = entries[-1].entry_id
        commit_idle = time.monotonic() - self._idle_committed >= IDLE_COMMIT_S
        if commit_idle:
            self._idle_committed = time.monotonic()
        actions: list[Action] = []
        for number, share in mine.items():
            state = self._partitions[number]
            if not share and not state.delivered:  # idle: only its offset moves
                actions += self._apply(passed(state, read_to, commit_idle))
                continue
            event = Read(share, read_to, stored, parked.get(number, frozenset()), now_ms, commit_idle)
            actions += self._apply(decide(state, event))
        return actions

    def _check_due(self, busy: bool) -> bool:
        waiting = any(state.window for state in self._partitions.values())
        return waiting and time.monotonic() - self._checked >= (BUSY_RECHECK_S if busy else RECHECK_S)

    async def _check(self, now_ms: int) -> list[Action]:
        """Look some of the waiting incidents' fixtures up: release the stored ones, expire the others."""
        self._checked = time.monotonic()
        waiting = [state for state in self._partitions.values() if state.window]
        limit = max(2, CHECK_FIXTURES // len(waiting))
        plan = {state.number: to_check(state, limit) for state in waiting}
        stored = await self._directory.refs(self._res, [f for ids in plan.values() for f in ids])
        actions: list[Action] = []
        for number, ids in plan.items():
            event = Checked(frozenset(ids), stored, now_ms)
            actions += self._apply(decide(self._partitions[number], event))
        return actions

    def _apply(self, decided: tuple[PartitionState, list[Action]]) -> list[Action]:
        state, actions = decided
        self._partitions[state.number] = state
        return actions

    def _safe(self, actions: list[Action]) -> list[Action]:
        """Leave out the partitions whose lease may run out before the delivery ends; forget them."""
        now = time.monotonic()
        unsafe = {n for n in self._partitions if self._valid.get(n, 0) - now < self._lease_s * SAFETY_SHARE}
        if not unsafe:
            return actions
        log.warning(
            "incident partitions %s: lease about to run out; left to their next owner", sorted(unsafe)
        )
        for number in unsafe:
            del self._partitions[number]
        return [action for action in actions if action.partition not in unsafe]

    async def _carry_out(self, actions: list[Action], held: frozenset[tuple[int, int]]) -> None:
        """Send, keep the live state, in stream order; the round's commit follows its confirmations, its
        keeping and every earlier round's commit. A crash in between repeats the rounds not committed
        (which change no stored state and may repeat a delivery), never reorders a fixture's incidents:
        a round waits for the confirmations of the rounds in flight that deliver one of its fixtures (a
        repeat after a failure starts from the first round not committed, so a fixture's incidents come
        again in their order).

        The round is sent before it is kept: storage is written while the broker copies, instead of
        before it starts (issue 22: the transaction was a third of an incident's time in the worker).
        The rounds of a moment are kept together (worker/live_state.py), by the round that closes their
        batch, right after its send; the boards fold in stream order, as batches are kept in order. An
        image or a recovery is served once every round sent is kept (`_drain`). A round that was
        confirmed but not kept (storage failed) is kept again when it is read again, not sent again
        (`_confirmed`)."""
        if not actions:
            return
        delivering = [a for a in actions if isinstance(a, Deliver)]
        delivering.sort(key=lambda a: a.entry_id)
        ready = [Ready(a.entry_id, a.fixture_id, a.body, a.refs) for a in delivering]
        fixtures = frozenset(item.fixture_id for item in ready)
        await self._behind(fixtures)
        unsent = [item for item in ready if not self._confirmed_before(item)]
        sending = await start_delivery(self._res, self._directory, unsent, held)
        keeping = self._batches.add(ready)
        previous = self._in_flight[-1] if self._in_flight else None
        confirmed = asyncio.ensure_future(self._confirm(previous, sending, unsent))
        done = asyncio.ensure_future(
            self._complete(previous, confirmed, keeping, sending, len(unsent), actions)
        )
        self._in_flight.append(_InFlight(confirmed, done, fixtures))
        if self._batches.due:
            # As a task, after the callbacks queued: the channel writes the round's messages at the end of
            # the loop's turn, and the transaction (on SQLite, at once on the loop) would hold them back.
            await asyncio.ensure_future(self._batches.close())
        if not all(isinstance(action, Deliver | Commit) for action in actions):
            # Parkings, releases and dead letters are read back from Redis by the next rounds.
            await self._drain()
        else:
            unconfirmed = [r for r in self._in_flight if not r.confirmed.done()]
            if len(unconfirmed) > IN_FLIGHT_MAX:
                await self._until(unconfirmed[0].confirmed)

    async def _confirm(
        self, previous: _InFlight | None, sending: asyncio.Future[set[int]], sent: list[Ready]
    ) -> None:
        waited: list[asyncio.Future[Any]] = [sending] if previous is None else [previous.confirmed, sending]
        _raise_first(await asyncio.gather(*waited, return_exceptions=True))
        # This round is confirmed, and so is every round before it.
        for item in sent:
            self._confirmed[partition_of(item.fixture_id)] = item.entry_id

    async def _complete(
        self,
        previous: _InFlight | None,
        confirmed: asyncio.Future[None],
        keeping: asyncio.Future[None],
        sending: asyncio.Future[set[int]],
        sent: int,
        actions: list[Action],
    ) -> None:
        waited = [confirmed, keeping] if previous is None else [confirmed, keeping, previous.done]
        _raise_first(await asyncio.gather(*waited, return_exceptions=True))
        count_delivered(sent, sending.result())
        await commit(self._res.redis, actions)
        dead = [a.reason for a in actions if isinstance(a, DeadLetter)]
        if dead:
            self._dead_log.add(dead)
            INCIDENTS.labels("dead").inc(len(dead))

    def _confirmed_before(self, item: Ready) -> bool:
        """Whether the incident was sent and confirmed already, by a round that was not committed."""
        confirmed = self._confirmed.get(partition_of(item.fixture_id))
        return confirmed is not None and item.entry_id <= confirmed

    async def _behind(self, fixtures: frozenset[int]) -> None:
        """Until every round in flight that delivers any of these fixtures is confirmed."""
        last = next((r for r in reversed(self._in_flight) if r.fixtures & fixtures), None)
        if last is not None:
            await self._until(last.confirmed)

    async def _drain(self) -> None:
        """Until every round sent is kept and committed."""
        await self._batches.close()
        if self._in_flight:
            await self._until(self._in_flight[-1].done)

    async def _until(self, reached: asyncio.Future[None]) -> None:
        """Until a round is confirmed or committed (`reached`), and so every round before it; its
        failure raised."""
        await reached
        self._finished()

    def _finished(self) -> None:
        """Forget the rounds committed; a failed one's error raised (the loop starts again from what
        is committed)."""
        while self._in_flight and self._in_flight[0].done.done():
            self._in_flight.popleft().done.result()

    async def _abandon(self) -> None:
        """Every round in flight ended, whatever its outcome (the rounds are read again from what is
        committed)."""
        await self._batches.close()
        await asyncio.gather(*(r.done for r in self._in_flight), return_exceptions=True)
        self._in_flight.clear()
        self._batches.restart()


def _raise_first(outcomes: list[Any]) -> None:
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
