"""Fixture updates from the feed: keep the newer version, forward it to every subscribed active package.

An update older than (or as old as) the stored version is dropped. An entry that is not a fixture message
can never apply: it is logged and acknowledged, so it does not block the updates behind it.
"""

import logging

import msgspec

from domain.commands import StreamId
from domain.delivery import Broadcast, QueueKind, Topic
from domain.fixture_store import store_if_newer
from domain.fixtures import Fixture, decode_fixture, encode_fixture
from domain.messages import MESSAGE_FIELD, MessageType, body_of, envelope, fixture_headers
from domain.scoreboard_store import apply_update
from domain.streams import FIXTURE_UPDATES_STREAM
from domain.subscriptions import subscribed_active_packages
from worker.entries import Entry, acknowledge
from worker.metrics import FIXTURE_UPDATES, SCOREBOARDS
from worker.outages import while_storage_is_down
from worker.resources import Resources

log = logging.getLogger("worker.updates")

_MESSAGE = MESSAGE_FIELD.encode()


async def apply_fixture_updates(res: Resources, entries: list[Entry]) -> list[tuple[Fixture, list[int]]]:
    """Store and forward a batch of updates; returns each accepted fixture and where it went."""
    fixtures = [f for f in map(_decode, entries) if f is not None]
    accepted = await while_storage_is_down(
        lambda: _store(res, fixtures), f"{len(fixtures)} fixture updates", res.stopping
    )
    items: list[Broadcast] = []
    states: dict[int, StreamId] = {}
    for fixture, packages in accepted:
        headers = fixture_headers(fixture.fixture_id, fixture.sport.id, fixture.league.id)
        message = envelope(MessageType.FIXTURE, encode_fixture(fixture), headers=headers)
        topic = Topic(fixture.fixture_id, fixture.sport.id, fixture.league.id)
        items.append(Broadcast(message, [package_id for package_id, _ in packages], topic))
        states.update(dict(packages))
    await res.view.remember_active(states)
    await while_storage_is_down(
        lambda: res.delivery.broadcast(QueueKind.FIXTURES, items), "fixture updates", res.stopping
    )
    pipe = res.redis.pipeline(transaction=False)
    acknowledge(pipe, [entry_id for entry_id, _ in entries], FIXTURE_UPDATES_STREAM)
    await pipe.execute()
    return [(fixture, [package_id for package_id, _ in packages]) for fixture, packages in accepted]


async def _store(res: Resources, fixtures: list[Fixture]) -> list[tuple[Fixture, list[tuple[int, StreamId]]]]:
    """Store the newer updates and apply them to their fixtures' scoreboards; returned in the batch's
    order. Stored in fixture id order (one fixture's updates keep theirs), the order in which an incident
    round locks fixture rows too (domain/scoreboard_store.py), so the two never wait for each other in a
    circle."""
    accepted = []
    in_id_order = sorted(enumerate(fixtures), key=lambda item: item[1].fixture_id)
    async with res.engine.begin() as conn:
        for position, fixture in in_id_order:
            if await store_if_newer(conn, fixture):
                FIXTURE_UPDATES.labels("stored").inc()
                if await conn.run_sync(apply_update, fixture):
                    SCOREBOARDS.labels("fixture-updates").inc()
                packages = await subscribed_active_packages(conn, fixture.sport.id, fixture.league.id)
                accepted.append((position, fixture, packages))
            else:
                FIXTURE_UPDATES.labels("stale").inc()
                log.debug("fixture %s: stale update dropped", fixture.fixture_id)
    return [(fixture, packages) for _, fixture, packages in sorted(accepted, key=lambda item: item[0])]


def _decode(entry: Entry) -> Fixture | None:
    entry_id, fields = entry
    try:
        return decode_fixture(body_of(fields[_MESSAGE])).stamped()
    except (KeyError, msgspec.DecodeError) as exc:
        FIXTURE_UPDATES.labels("invalid").inc()
        log.error("fixture update %s is not a fixture message: %s", entry_id.decode(), exc)
        return None
