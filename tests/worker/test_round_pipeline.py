"""The incident rounds in flight (worker/partitions.py): a round is sent while earlier rounds' confirmations
are awaited, yet commits follow confirmations in stream order, a fixture's incidents never overtake each
other, and a failed confirmation repeats everything from the first round not committed, in order. A round
is kept in storage while it is confirmed, and committed only once kept.

The Delivery is the real Redis streams one, its confirmations held back by a gate the test opens (Redis
answers as it takes a message; a broker's confirmation comes later, which is what the gate stands for)."""

import asyncio
import functools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from delivery.redis_streams import RedisStreamsDelivery
from domain.commands import StreamId
from domain.delivery import Broadcast, QueueKind
from domain.errors import BrokerUnavailable, StorageUnavailable
from domain.incidents import partition_of
from domain.scoreboard_store import kept_incidents
from domain.settings import Settings
from domain.streams import INCIDENT_OFFSETS
from tests.fixture_factory import fixture, incident
from tests.support import add_fixtures, add_package, eventually, hold, publish_incident
from worker import live_state, partitions
from worker.app import create_app as create_worker
from worker.incidents import Ready
from worker.live_state import keep
from worker.partitions import IN_FLIGHT_MAX
from worker.resources import Resources

# Fixtures of different partitions (so that a commit of one cannot stand in for the other's).
FIRST, SECOND = 1, 2


@dataclass
class Gate:
    """Each incident broadcast's confirmation, held until released (or failed) by the test."""

    sent: list[list[int]] = field(default_factory=list)  # incident ids, per call, in order
    pending: list[asyncio.Future[None]] = field(default_factory=list)

    def release(self, index: int, failure: Exception | None = None) -> None:
        if failure is None:
            self.pending[index].set_result(None)
        else:
            self.pending[index].set_exception(failure)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    held = Gate()
    original = RedisStreamsDelivery.start_broadcast

    async def gated(
        self: RedisStreamsDelivery, kind: QueueKind, items: Sequence[Broadcast]
    ) -> asyncio.Future[set[int]]:
        appended = await original(self, kind, items)
        if kind is not QueueKind.INCIDENTS or not items:
            return appended
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        held.sent.append([_incident_id(item) for item in items])
        held.pending.append(opened)

        async def confirmed() -> set[int]:
            await opened
            return await appended

        return asyncio.ensure_future(confirmed())

    monkeypatch.setattr(RedisStreamsDelivery, "start_broadcast", gated)
    return held


def _incident_id(item: Broadcast) -> int:
    message: Any = msgspec.json.decode(item.message.body)
    return int(message["body"]["id"])


@pytest.fixture
async def worker(settings: Settings, engine: AsyncEngine, gate: Gate) -> AsyncIterator[None]:
    await add_fixtures(engine, [fixture(FIRST, status=2), fixture(SECOND, status=2)])
    await add_package(engine, 1, active=True)
    async for _ in hold(create_worker(settings, consumer="pipeline-test")):
        yield


async def _committed(redis: Redis, fixture_id: int) -> StreamId | None:
    offset: Any = await redis.hget(INCIDENT_OFFSETS, str(partition_of(fixture_id)))
    return StreamId.parse(offset) if offset is not None else None


async def _sent(gate: Gate, calls: int) -> bool:
    return len(gate.sent) >= calls


@pytest.mark.usefixtures("worker")
async def test_a_round_is_sent_before_the_last_is_confirmed_and_commits_follow_in_order(
    redis: Redis, gate: Gate
) -> None:
    first = StreamId.parse(await publish_incident(redis, incident(101, FIRST)))
    await eventually(lambda: _sent(gate, 1))
    second = StreamId.parse(await publish_incident(redis, incident(102, SECOND)))
    # Sent while the first round's confirmation is still held back.
    await eventually(lambda: _sent(gate, 2), what="the second round sent before the first was confirmed")
    assert gate.sent == [[101], [102]]
    gate.release(1)
    await asyncio.sleep(0.3)
    # Confirmed, but behind an unconfirmed round: its offset is not committed before the first's.
    for fixture_id, entry in ((FIRST, first), (SECOND, second)):
        committed = await _committed(redis, fixture_id)
        assert committed is None or committed < first, f"fixture {fixture_id} committed past {entry}"
    gate.release(0)

    async def both_committed() -> bool:
        at_first, at_second = await _committed(redis, FIRST), await _committed(redis, SECOND)
        return at_first is not None and at_first >= first and at_second is not None and at_second >= second

    await eventually(both_committed, what="both rounds committed once the first was confirmed")


@pytest.mark.usefixtures("worker")
async def test_an_incident_waits_for_the_round_in_flight_of_its_fixture(redis: Redis, gate: Gate) -> None:
    await publish_incident(redis, incident(201, FIRST))
    await eventually(lambda: _sent(gate, 1))
    await publish_incident(redis, incident(202, FIRST))
    await publish_incident(redis, incident(203, SECOND))
    await asyncio.sleep(0.5)
    # Not sent while the first's confirmation is held back (nor what the stream holds after it).
    assert gate.sent == [[201]]
    gate.release(0)
    await eventually(lambda: _has_sent(gate, {201, 202, 203}))
    assert [i for call in gate.sent for i in call] == [201, 202, 203]


async def _has_sent(gate: Gate, ids: set[int]) -> bool:
    for index, pending in enumerate(gate.pending):
        if not pending.done():
            gate.release(index)
    return ids <= {i for call in gate.sent for i in call}


@pytest.mark.usefixtures("worker")
async def test_a_failed_confirmation_repeats_every_round_from_it_in_stream_order(
    redis: Redis, gate: Gate
) -> None:
    first = StreamId.parse(await publish_incident(redis, incident(301, FIRST)))
    await eventually(lambda: _sent(gate, 1))
    await publish_incident(redis, incident(302, SECOND))
    await eventually(lambda: _sent(gate, 2))
    gate.release(1)  # the later round is confirmed, the earlier one fails: neither is committed
    gate.release(0, BrokerUnavailable("confirmation lost"))
    await eventually(lambda: _sent_again(gate, {301, 302}), what="both rounds sent again")
    repeated = [i for call in gate.sent[2:] for i in call]
    # Read again from the committed offset (before both): the same incidents, in stream order.
    assert repeated[:2] == [301, 302]

    async def committed() -> bool:
        at = await _committed(redis, FIRST)
        return at is not None and at >= first

    await eventually(committed)


async def _sent_again(gate: Gate, ids: set[int]) -> bool:
    """Every held confirmation after the first two released; whether the ids were all sent again."""
    for index in range(2, len(gate.pending)):
        if not gate.pending[index].done():
            gate.release(index)
    return ids <= {i for call in gate.sent[2:] for i in call}


@pytest.mark.usefixtures("worker")
async def test_rounds_in_flight_are_bounded_and_the_oldest_confirmation_frees_a_place(
    redis: Redis, engine: AsyncEngine, gate: Gate
) -> None:
    """Past the bound the loop waits for the oldest confirmation: under load, rounds grow instead of
    multiplying (each has a storage transaction and Redis calls of its own)."""
    fixtures = [10 + n for n in range(IN_FLIGHT_MAX + 3)]  # none waits for another's round
    await add_fixtures(engine, [fixture(f, status=2) for f in fixtures])
    for n, fixture_id in enumerate(fixtures):
        await publish_incident(redis, incident(400 + n, fixture_id))
        await asyncio.sleep(0.05)  # one round each, while they can be sent
    await asyncio.sleep(0.3)
    assert len(gate.sent) == IN_FLIGHT_MAX + 1
    gate.release(0)
    await eventually(lambda: _sent(gate, IN_FLIGHT_MAX + 2), what="a round sent after the oldest's")


@pytest.fixture
def keeping(monkeypatch: pytest.MonkeyPatch) -> "Keeping":
    held = Keeping()

    async def held_back(res: Resources, ready: Sequence[Ready]) -> None:
        held.batches.append([int(msgspec.json.decode(item.body)["id"]) for item in ready])
        if held.fail_next:
            held.fail_next = False
            raise StorageUnavailable()
        await held.open.wait()
        await keep(res, ready)

    monkeypatch.setattr(partitions, "keep", held_back)
    return held


@dataclass
class Keeping:
    """Each batch of rounds kept only once the test opens the way; the next call fails if asked to."""

    open: asyncio.Event = field(default_factory=asyncio.Event)
    fail_next: bool = False
    batches: list[list[int]] = field(default_factory=list)  # the incident ids of each call

    @property
    def calls(self) -> int:
        return len(self.batches)


async def _kept(engine: AsyncEngine, fixture_id: int) -> list[int]:
    async with engine.connect() as conn:
        kept = await kept_incidents(conn, fixture_id)
    return [int(msgspec.json.decode(item.body)["id"]) for item in kept]


@pytest.mark.usefixtures("worker")
async def test_a_round_is_sent_before_it_is_kept_and_committed_only_once_kept(
    redis: Redis, engine: AsyncEngine, gate: Gate, keeping: Keeping
) -> None:
    """Storage is written while the broker copies (issue 22), yet the offset never passes an incident
    storage does not hold: a restart would not deliver it again, and its board would miss it."""
    entry = StreamId.parse(await publish_incident(redis, incident(501, FIRST)))
    await eventually(lambda: _sent(gate, 1), what="sent while its keeping is held back")
    gate.release(0)
    await asyncio.sleep(0.3)
    committed = await _committed(redis, FIRST)
    assert committed is None or committed < entry, "committed before its live state was kept"
    assert await _kept(engine, FIRST) == []
    keeping.open.set()

    async def kept_and_committed() -> bool:
        at = await _committed(redis, FIRST)
        return at is not None and at >= entry

    await eventually(kept_and_committed)
    assert await _kept(engine, FIRST) == [501]


@pytest.mark.usefixtures("worker")
async def test_a_round_confirmed_but_not_kept_is_kept_again_not_sent_again(
    redis: Redis, engine: AsyncEngine, gate: Gate, keeping: Keeping
) -> None:
    """Storage failing after the send: the round is read again and kept, and the customers, who have
    it already, do not get it twice (a repeat is allowed after a crash, not after a storage outage)."""
    keeping.fail_next = True
    keeping.open.set()
    entry = StreamId.parse(await publish_incident(redis, incident(601, FIRST)))
    await eventually(lambda: _sent(gate, 1))
    gate.release(0)

    async def committed() -> bool:
        at = await _committed(redis, FIRST)
        return at is not None and at >= entry

    await eventually(committed, what="kept and committed after the failed keeping")
    assert keeping.calls >= 2, "the keeping was not tried again"
    assert await _kept(engine, FIRST) == [601]
    assert gate.sent == [[601]], "sent again though confirmed"


# Long enough that the rounds below are sent and confirmed well within one moment.
LONG_MOMENT_S = 3.0


@pytest.fixture
def long_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_state, "EVERY_S", LONG_MOMENT_S)


@pytest.mark.usefixtures("long_moment", "worker")
async def test_the_rounds_of_a_moment_are_sent_at_once_and_kept_together_in_stream_order(
    redis: Redis, gate: Gate, keeping: Keeping
) -> None:
    """The first round after a pause is kept at once; the next ones are sent and confirmed as they come
    (one waits for the confirmation of its fixture's round in flight, not for its keeping) and kept in one
    transaction once the moment is over; each is committed only once kept."""
    keeping.open.set()
    await publish_incident(redis, incident(701, FIRST))
    await eventually(lambda: _has_sent(gate, {701}))
    await eventually(lambda: _batches(keeping, 1), what="the first round kept at once")
    entries = []
    for incident_id in (702, 703):  # the same fixture: the second waits for the first's confirmation
        entries.append(StreamId.parse(await publish_incident(redis, incident(incident_id, SECOND))))
        sent = functools.partial(_has_sent, gate, {incident_id})
        await eventually(sent, what=f"{incident_id} sent and confirmed")
    assert keeping.batches == [[701]], "kept before the moment was over"
    committed = await _committed(redis, SECOND)
    assert committed is None or committed < entries[0], "committed before it was kept"

    async def kept_and_committed() -> bool:
        at = await _committed(redis, SECOND)
        return at is not None and at >= entries[1]

    await eventually(kept_and_committed, what="the moment's rounds kept and committed")
    assert keeping.batches == [[701], [702, 703]]


async def _batches(keeping: Keeping, count: int) -> bool:
    return len(keeping.batches) >= count
