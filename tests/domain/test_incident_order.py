"""The incident-order state machine, fed sequences of events: no server, no clock (SPEC §10)."""

from collections.abc import Sequence

import msgspec

from domain.commands import StreamId
from domain.fixture_store import FixtureRefs
from domain.incident_order import (
    Action,
    Checked,
    Commit,
    DeadLetter,
    DeadReason,
    Deliver,
    Entry,
    ForgetDelivered,
    Limits,
    Loaded,
    Park,
    Parked,
    PartitionState,
    Read,
    Unpark,
    decide,
    passed,
    taken_over,
    to_check,
    to_load,
)
from domain.messages import MessageType, envelope
from tests.fixture_factory import incident

WAIT_MS = 60_000
LIMITS = Limits(capacity=100, wait_ms=WAIT_MS)
REFS = FixtureRefs(6046, 1001)
START = StreamId(0, 0)


def entry(seq: int, fixture_id: int, incident_id: int | None = None) -> Entry:
    body = msgspec.json.encode(incident(incident_id or seq, fixture_id))
    return Entry(StreamId(1000, seq), envelope(MessageType.INCIDENT, body).body)


def fresh(capacity: int = 100) -> PartitionState:
    """A partition whose parked incidents (none) are all loaded."""
    state = taken_over(1, START, {}, Limits(capacity, WAIT_MS))
    return decide(state, Loaded([], complete=True))[0]


def read(
    state: PartitionState,
    entries: Sequence[Entry],
    stored: Sequence[int] = (),
    parked: Sequence[int] = (),
    now_ms: int = 0,
) -> tuple[PartitionState, list[Action]]:
    event = Read(entries, entries[-1].entry_id, dict.fromkeys(stored, REFS), frozenset(parked), now_ms)
    return decide(state, event)


def check(
    state: PartitionState, checked: Sequence[int], stored: Sequence[int] = (), now_ms: int = 0
) -> tuple[PartitionState, list[Action]]:
    return decide(state, Checked(frozenset(checked), dict.fromkeys(stored, REFS), now_ms))


def delivered(actions: list[Action]) -> list[int]:
    return [msgspec.json.decode(a.body)["id"] for a in actions if isinstance(a, Deliver)]


def parked_ids(actions: list[Action]) -> list[int]:
    return [a.parked.entry_id.seq for a in actions if isinstance(a, Park)]


def test_an_incident_of_a_stored_fixture_is_delivered_with_its_body_as_it_came_and_the_offset_moves() -> None:
    state, actions = read(fresh(), [entry(1, 7)], stored=[7])
    (deliver, commit) = actions
    assert isinstance(deliver, Deliver)
    assert (deliver.fixture_id, deliver.refs, msgspec.json.decode(deliver.body)) == (7, REFS, incident(1, 7))
    assert commit == Commit(1, StreamId(1000, 1))
    assert state.offset == StreamId(1000, 1)


def test_later_incidents_of_a_waiting_fixture_are_parked_behind_it_while_other_fixtures_go_on() -> None:
    entries = [entry(1, 7), entry(2, 8), entry(3, 7), entry(4, 8)]
    state, actions = read(fresh(), entries, stored=[8])
    assert delivered(actions) == [2, 4]
    assert parked_ids(actions) == [1, 3]
    # The offset moves past the parked ones: they are in the parking stream, committed with it.
    assert actions[-1] == Commit(1, StreamId(1000, 4))
    assert [p.entry_id.seq for p in state.window] == [1, 3]
    # Even once its fixture is stored, a new incident of fixture 7 waits behind the parked ones.
    state, actions = read(state, [entry(5, 7)], stored=[7])
    assert (delivered(actions), parked_ids(actions)) == ([], [5])


def test_a_fixture_that_arrives_releases_its_parked_incidents_in_order() -> None:
    state, _ = read(fresh(), [entry(1, 7), entry(2, 9), entry(3, 7)])
    state, actions = check(state, checked=[7, 9], stored=[7], now_ms=1000)
    assert delivered(actions) == [1, 3]
    assert [a.entry_id.seq for a in actions if isinstance(a, Unpark)] == [1, 3]
    assert [p.entry_id.seq for p in state.window] == [2]


def test_a_parked_incident_is_dead_lettered_once_its_wait_is_over_and_never_before() -> None:
    state, _ = read(fresh(), [entry(1, 7), entry(2, 7)], now_ms=5_000)
    state, actions = check(state, checked=[7], now_ms=5_000 + WAIT_MS - 1)
    assert actions == []
    # Not checked this time (a flood's fixtures take turns): nothing is dead-lettered unseen.
    state, actions = check(state, checked=[], now_ms=5_000 + WAIT_MS)
    assert actions == []
    state, actions = check(state, checked=[7], now_ms=5_000 + WAIT_MS)
    dead = [a for a in actions if isinstance(a, DeadLetter)]
    assert [(d.entry_id.seq, d.reason) for d in dead] == [
        (1, DeadReason.NO_FIXTURE),
        (2, DeadReason.NO_FIXTURE),
    ]
    assert "fixture 7 not in storage after 60 s" in dead[0].detail
    assert [a.entry_id.seq for a in actions if isinstance(a, Unpark)] == [1, 2]
    assert state.window == ()


def test_a_malformed_entry_is_dead_lettered_at_once_and_blocks_nothing() -> None:
    bad = Entry(StreamId(1000, 1), b"{not json")
    no_confidence = envelope(MessageType.INCIDENT, b'{"id": 2, "fixtureId": 7, "kind": "Score"}').body
    _, actions = read(fresh(), [bad, Entry(StreamId(1000, 2), no_confidence), entry(3, 7)], stored=[7])
    dead = [a for a in actions if isinstance(a, DeadLetter)]
    assert [(d.entry_id.seq, d.reason) for d in dead] == [
        (1, DeadReason.MALFORMED),
        (2, DeadReason.MALFORMED),
    ]
    assert "confidence" in dead[1].detail
    assert dead[0].detail.startswith("malformed")
    assert delivered(actions) == [3]


def test_a_new_owner_loads_what_was_parked_and_keeps_the_order() -> None:
    """The old owner parked 1 and 3 of fixture 7; the new one starts from the committed offset."""
    old, actions = read(fresh(), [entry(1, 7), entry(2, 8), entry(3, 7)], stored=[8], now_ms=1_000)
    parked = [a.parked for a in actions if isinstance(a, Park)]
    new = taken_over(1, old.offset, {}, LIMITS)
    assert to_load(new) == LIMITS.capacity
    new, _ = decide(new, Loaded(parked, complete=True))
    assert (to_load(new), [p.entry_id.seq for p in new.window]) == (0, [1, 3])
    # Its next incident of fixture 7 waits behind them, though the fixture is stored by now.
    new, actions = read(new, [entry(4, 7)], stored=[7], now_ms=2_000)
    assert parked_ids(actions) == [4]
    new, actions = check(new, checked=[7], stored=[7], now_ms=3_000)
    assert delivered(actions) == [1, 3, 4]
    # The wait is counted from when it was first parked, not from the takeover.
    other = decide(taken_over(1, old.offset, {}, LIMITS), Loaded(parked, complete=True))[0]
    _, actions = check(other, checked=[7], now_ms=1_000 + WAIT_MS)
    assert [a.entry_id.seq for a in actions if isinstance(a, DeadLetter)] == [1, 3]


def test_entries_up_to_the_offset_are_not_handled_again() -> None:
    state = decide(taken_over(1, StreamId(1000, 2), {}, LIMITS), Loaded([], complete=True))[0]
    _, actions = read(state, [entry(1, 7), entry(2, 7), entry(3, 7)], stored=[7])
    assert delivered(actions) == [3]


def test_a_flood_beyond_the_memory_bound_waits_in_redis_and_comes_back_in_order() -> None:
    """Capacity 3, ten incidents of unknown fixtures: all are parked, three kept in memory."""
    state, actions = read(fresh(capacity=3), [entry(i, 100 + i) for i in range(1, 11)])
    parked = [a.parked for a in actions if isinstance(a, Park)]
    assert len(parked) == 10
    assert ([p.entry_id.seq for p in state.window], state.complete) == ([1, 2, 3], False)
    assert actions[-1] == Commit(1, StreamId(1000, 10))
    # A later incident of fixture 107 (parked beyond the window): Redis says it is parked, so it waits,
    # stored or not; another fixture goes on.
    state, actions = read(state, [entry(11, 107), entry(12, 5)], stored=[107, 5], parked=[107])
    assert (delivered(actions), parked_ids(actions)) == ([12], [11])
    assert len(state.window) == 3
    # Fixture 101 comes and its incident leaves the window; the window loads the next from Redis.
    state, actions = check(state, checked=to_check(state, 10), stored=[101])
    assert delivered(actions) == [1]
    assert to_load(state) == 1
    state, _ = decide(state, Loaded(parked[3:4], complete=False))
    assert [p.entry_id.seq for p in state.window] == [2, 3, 4]


def test_what_to_check_is_bounded_and_starts_with_the_oldest() -> None:
    state, _ = read(fresh(capacity=1000), [entry(i, 100 + i) for i in range(1, 501)])
    first = to_check(state, 10)
    assert len(first) == 10
    assert first[:5] == [101, 102, 103, 104, 105]
    state, _ = check(state, checked=first)
    # The others take their turn: the next check does not repeat the same young ones.
    second = to_check(state, 10)
    assert second[:5] == first[:5]
    assert set(second[5:]).isdisjoint(first[5:])


def test_an_older_workers_record_of_delivered_fixtures_is_honoured_then_forgotten() -> None:
    state = taken_over(1, START, {7: StreamId(1000, 2)}, LIMITS)
    state, _ = decide(state, Loaded([], complete=True))
    state, actions = read(state, [entry(1, 7), entry(2, 7), entry(3, 7)], stored=[7])
    assert delivered(actions) == [3]
    assert ForgetDelivered(1) in actions
    assert state.delivered == {}


def test_a_parked_incident_can_be_rebuilt_from_what_redis_holds() -> None:
    """What the loop reads back from the parking stream is all the machine needs (no decoded copy)."""
    parked = Parked(StreamId(1000, 1), 7, entry(1, 7).message, 123)
    state, _ = decide(taken_over(1, StreamId(1000, 1), {}, LIMITS), Loaded([parked], complete=True))
    _, actions = check(state, checked=[7], stored=[7])
    assert delivered(actions) == [1]


def test_a_partition_with_nothing_in_a_read_moves_its_offset_and_commits_it_only_when_asked() -> None:
    state = fresh()
    read_to = StreamId(1000, 7)
    quiet = Read([], read_to, {}, frozenset(), 0, commit_idle=False)
    moved, actions = decide(state, quiet)
    assert moved.offset == read_to
    assert actions == []
    # The next read that commits idle partitions commits the offset it moved to.
    later = StreamId(1000, 9)
    moved, actions = decide(moved, Read([], later, {}, frozenset(), 0, commit_idle=True))
    assert moved.offset == later
    assert actions == [Commit(1, later)]
    # Nothing read past the offset: nothing to commit, asked or not.
    assert decide(moved, Read([], later, {}, frozenset(), 0))[1] == []


def test_an_idle_partition_passed_is_what_decide_makes_of_a_read_without_its_entries() -> None:
    # Every field but `delivered` (empty, as `passed` asks) away from its default: one left behind shows.
    waiting = Parked(StreamId(900, 1), 77, b"{}", 5)
    state = PartitionState(
        number=5,
        offset=StreamId(1000, 3),
        limits=LIMITS,
        window=(waiting,),
        complete=True,
        delivered={},
        cursor=1,
        waiting=frozenset({77}),
    )
    for read_to in (StreamId(1000, 2), StreamId(1000, 3), StreamId(1001, 0)):
        for commit in (True, False):
            event = Read([], read_to, {}, frozenset(), 0, commit)
            assert passed(state, read_to, commit) == decide(state, event)
    moved, actions = passed(state, StreamId(1001, 0), True)
    assert (moved.offset, moved.window, moved.cursor, moved.waiting) == (
        StreamId(1001, 0),
        (waiting,),
        1,
        frozenset({77}),
    )
    assert actions == [Commit(5, StreamId(1001, 0))]
