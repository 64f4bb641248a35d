"""Incidents in order: this worker's partitions, read from their offsets and delivered in stream order.

Each partition (fixtureId mod PARTITIONS) has one owner at a time (domain/partitions.py). The owner reads
`livescore:incidents` with plain XREAD from its partitions' offsets, keeps only its partitions' entries,
and delivers them in stream order; once the Delivery confirmed them it commits, per partition, the id up
to which everything is handled. A crash between delivery and commit repeats what was delivered; nothing
is ever delivered out of order, since nobody else delivers that partition meanwhile.

An incident whose fixture is not stored yet is held, and so are the later ones of that fixture, while
other fixtures go on: the partition's offset stays before the oldest held entry, and the fixtures
delivered past it are recorded, so that a new owner neither loses the held ones nor repeats the others.
After LIVESCORE_INCIDENT_WAIT_S (counted from when this owner first held it) a held incident is
dead-lettered; a malformed entry is dead-lettered at once.
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from domain.commands import StreamId
from domain.dead_letters import DEAD_LETTERS_MAXLEN, incident_letter
from domain.incidents import Incident, NotAnIncident, fixture_of, incident_body, partition_of
from domain.messages import MESSAGE_FIELD
from domain.partitions import (
    START,
    PartitionLeases,
    before,
    forget_delivered,
    load_progress,
    record_delivered,
    save_offsets,
)
from domain.streams import INCIDENT_DEAD_LETTERS_STREAM, INCIDENTS_STREAM
from worker.incidents import Directory, Ready, deliver
from worker.metrics import INCIDENT_PARTITIONS, INCIDENTS, INCIDENTS_WAITING
from worker.resources import Resources

log = logging.getLogger("worker.partitions")

# Entries per XREAD: a round's storage lookups and publishing calls are shared by this many incidents.
READ_BATCH = 500
# While incidents are held and nothing new arrives, their fixtures are looked up again this often.
RECHECK_S = 0.25
# After a failed round (Redis or storage unreachable) the next try waits this long, doubling up to the
# longest pause; held incidents start waiting afresh, so an outage dead-letters nothing.
FIRST_PAUSE_S, MAX_PAUSE_S = 0.1, 5.0
# A partition is only delivered while its lease has at least this share of its time left, so that a
# delivery in flight ends before anyone else could take the partition over.
SAFETY_SHARE = 1 / 3
# How long a stopping worker lets the round in hand finish before it abandons it (to be repeated by the
# next owner).
STOP_TIMEOUT_S = 5.0
_MESSAGE = MESSAGE_FIELD.encode()

Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass
class Held:
    entry_id: StreamId
    incident: Incident
    body: bytes
    message: bytes
    # When this owner first held it (monotonic).
    since: float


@dataclass
class Partition:
    number: int
    # Every entry of this partition up to here is handled (committed in Redis).
    offset: StreamId
    # Fixtures delivered past the offset (their last incident's id): not to be sent again.
    delivered: dict[int, StreamId]
    # Entries up to here have been looked at in this process.
    scanned: StreamId = field(init=False)
    # Fixtures waiting to be stored, with their incidents, oldest first.
    held: dict[int, list[Held]] = field(default_factory=dict)
    # Whether Redis may hold a record of fixtures delivered past the offset.
    recorded: bool = False

    def __post_init__(self) -> None:
        self.scanned = self.offset

    def committable(self) -> StreamId:
        if not self.held:
            return self.scanned
        return before(min(items[0].entry_id for items in self.held.values()))


@dataclass(frozen=True, slots=True)
class Dead:
    partition: Partition
    entry_id: StreamId
    message: bytes
    reason: str


@dataclass
class Found:
    """What one round turned up, in stream order."""

    fresh: list[tuple[Partition, Held]] = field(default_factory=list)
    ready: list[tuple[Partition, Ready]] = field(default_factory=list)
    dead: list[Dead] = field(default_factory=list)


class IncidentPartitions:
    """The partitions this worker owns: their leases renewed in one task, their entries read in another."""

    def __init__(self, res: Resources) -> None:
        self._res = res
        settings = res.settings
        self._lease_s = settings.incident_lease_ms / 1000
        self._leases = PartitionLeases(res.redis, res.consumer, settings.incident_lease_ms)
        self._poll_ms = settings.worker_poll_ms
        self._directory = Directory()
        # Partitions whose lease this worker holds, with the (monotonic) time it runs out; kept by the
        # lease task. The reading task owns `_partitions` and hands extras back through `_releasing`.
        self._valid: dict[int, float] = {}
        self._fair = 0
        self._releasing: set[int] = set()
        self._partitions: dict[int, Partition] = {}
        self._checked = 0.0
        self._pause = FIRST_PAUSE_S
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._keep_leases(), name="incident-leases"),
            asyncio.create_task(self._read(), name="incident-reader"),
        ]

    async def stop(self) -> None:
        """Finish the round in hand, then hand every partition back at once, for others to take over."""
        self._stopping.set()
        if self._tasks:
            keeper, reader = self._tasks
            keeper.cancel()
            await asyncio.wait([reader], timeout=STOP_TIMEOUT_S)
            reader.cancel()
            await asyncio.gather(keeper, reader, return_exceptions=True)
        with contextlib.suppress(RedisError):
            await self._leases.release({*self._valid, *self._releasing}, leaving=True)

    # The lease task.

    async def _keep_leases(self) -> None:
        while True:
            try:
                await self._renew()
            except RedisError as exc:  # Redis away: the leases run out, and the reader stops delivering
                log.warning("could not renew the incident partitions' leases: %s", exc)
            await asyncio.sleep(self._lease_s / 3)

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
                self._pause = FIRST_PAUSE_S
            except Exception as exc:  # start again from what is committed
                log.warning(
                    "incident round failed (%s: %s); again in %.1f s", type(exc).__name__, exc, self._pause
                )
                self._partitions.clear()
                await asyncio.sleep(self._pause)
                self._pause = min(MAX_PAUSE_S, self._pause * 2)

    async def _round(self) -> None:
        await self._take_over()
        INCIDENT_PARTITIONS.set(len(self._partitions))
        if not self._partitions:
            await asyncio.sleep(self._poll_ms / 1000)
            return
        entries = await self._next_entries()
        found = self._route(entries)
        if found.fresh or found.dead or self._recheck_due():
            await self._resolve(found)
        self._keep_safe(found)
        await deliver(self._res, self._directory, [ready for _, ready in found.ready])
        await self._commit(found, changed=bool(entries))
        INCIDENTS_WAITING.set(sum(len(items) for p in self._partitions.values() for items in p.held.values()))

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
                progress = await load_progress(self._res.redis, number)
                loaded = Partition(
                    number, progress.offset, progress.delivered, recorded=bool(progress.delivered)
                )
                self._partitions[number] = loaded

    async def _next_entries(self) -> list[Entry]:
        cursor = min(p.scanned for p in self._partitions.values())
        reply: Any = await self._res.redis.xread(
            {INCIDENTS_STREAM: str(cursor)}, count=READ_BATCH, block=self._poll_ms
        )
        return [entry for _, entries in reply or [] for entry in entries]

    def _route(self, entries: list[Entry]) -> Found:
        """This worker's new entries: malformed ones to the dead, those of held fixtures behind them."""
        found, now = Found(), time.monotonic()
        for raw_id, fields in entries:
            entry_id, message = StreamId.parse(raw_id), fields.get(_MESSAGE, b"")
            fixture_id = fixture_of(message)
            partition = self._partitions.get(partition_of(fixture_id))
            if partition is None or entry_id <= partition.scanned:
                continue
            if entry_id <= partition.delivered.get(fixture_id or 0, START):
                INCIDENTS.labels("already-delivered").inc()
                continue
            try:
                item = Held(entry_id, *incident_body(message), message, now)
            except NotAnIncident as exc:
                found.dead.append(Dead(partition, entry_id, message, f"malformed: {exc}"))
                continue
            if item.incident.fixture_id in partition.held:
                partition.held[item.incident.fixture_id].append(item)
            else:
                found.fresh.append((partition, item))
        if entries:
            last = StreamId.parse(entries[-1][0])
            for partition in self._partitions.values():
                partition.scanned = max(partition.scanned, last)
        return found

    def _recheck_due(self) -> bool:
        held = any(p.held for p in self._partitions.values())
        return held and time.monotonic() - self._checked >= RECHECK_S

    async def _resolve(self, found: Found) -> None:
        """Fresh incidents of stored fixtures are ready, the others held; held fixtures now stored are
        released in order, and held incidents past their wait are dead-lettered."""
        waiting = [f for p in self._partitions.values() for f in p.held]
        refs = await self._directory.refs(
            self._res, [*waiting, *(i.incident.fixture_id for _, i in found.fresh)]
        )
        self._checked = time.monotonic()
        for partition, item in found.fresh:
            fixture_id = item.incident.fixture_id
            if fixture_id in partition.held or fixture_id not in refs:
                partition.held.setdefault(fixture_id, []).append(item)
            else:
                found.ready.append((partition, Ready(item.entry_id, fixture_id, item.body, refs[fixture_id])))
        for partition in self._partitions.values():
            self._settle(partition, found, refs)
        found.ready.sort(key=lambda pair: pair[1].entry_id)

    def _settle(self, partition: Partition, found: Found, refs: dict[int, Any]) -> None:
        wait_s = self._res.settings.incident_wait_s
        for fixture_id, items in list(partition.held.items()):
            if fixture_id in refs:
                refs_of = refs[fixture_id]
                found.ready += [(partition, Ready(i.entry_id, fixture_id, i.body, refs_of)) for i in items]
                items.clear()
            while items and self._checked - items[0].since >= wait_s:
                oldest = items.pop(0)
                reason = f"fixture {fixture_id} not in storage after {wait_s:g} s"
                found.dead.append(Dead(partition, oldest.entry_id, oldest.message, reason))
            if not items:
                del partition.held[fixture_id]

    def _keep_safe(self, found: Found) -> None:
        """Leave out the partitions whose lease may run out before the delivery ends; forget them."""
        now = time.monotonic()
        unsafe = {n for n in self._partitions if self._valid.get(n, 0) - now < self._lease_s * SAFETY_SHARE}
        if unsafe:
            log.warning(
                "incident partitions %s: lease about to run out; left to their next owner", sorted(unsafe)
            )
            found.ready = [(p, r) for p, r in found.ready if p.number not in unsafe]
            found.dead = [d for d in found.dead if d.partition.number not in unsafe]
            for number in unsafe:
                del self._partitions[number]

    async def _commit(self, found: Found, changed: bool) -> None:
        """Dead letters, then the partitions' new offsets with the fixtures delivered past them, at once."""
        if not (changed or found.ready or found.dead):
            return
        delivered: dict[int, dict[int, StreamId]] = {}
        for partition, ready in found.ready:
            partition.delivered[ready.fixture_id] = ready.entry_id
            delivered.setdefault(partition.number, {})[ready.fixture_id] = ready.entry_id
        pipe = self._res.redis.pipeline(transaction=True)
        for dead in found.dead:
            letter = incident_letter(str(dead.entry_id), {_MESSAGE: dead.message}, dead.reason)
            pipe.xadd(INCIDENT_DEAD_LETTERS_STREAM, letter, maxlen=DEAD_LETTERS_MAXLEN, approximate=True)
        offsets = {}
        for partition in self._partitions.values():
            offset = partition.committable()
            if offset != partition.offset:
                offsets[partition.number] = partition.offset = offset
            self._record_past(pipe, partition, delivered.get(partition.number, {}))
        save_offsets(pipe, offsets)
        await pipe.execute()
        for dead in found.dead:
            log.error("incident %s dead-lettered: %s", dead.entry_id, dead.reason)
        INCIDENTS.labels("dead").inc(len(found.dead))

    @staticmethod
    def _record_past(pipe: Pipeline, partition: Partition, now_delivered: dict[int, StreamId]) -> None:
        """Keep the fixtures delivered past the offset, in memory and in Redis; forget the others."""
        offset = partition.offset
        partition.delivered = {f: i for f, i in partition.delivered.items() if i > offset}
        if partition.delivered:
            record_delivered(pipe, partition.number, {f: i for f, i in now_delivered.items() if i > offset})
            partition.recorded = True
        elif partition.recorded:
            forget_delivered(pipe, partition.number)
            partition.recorded = False
