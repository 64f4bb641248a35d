"""Incident fan-out: each incident to the incidents queue of every active package subscribed to its fixture.

Which entries are ready, in which order, is decided by the partition owner (worker/partitions.py); this
module turns ready incidents into parcels, one per package with its incidents in stream order, and hands
them to the Delivery. Who is subscribed is read from storage at most once a second: a package activated or
re-subscribed is served within that second. The Delivery itself checks, atomically with each append, that
the package is active and its queue has room, so a deactivation is never late.
"""

import asyncio
import logging
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from domain.commands import StreamId
from domain.delivery import Broadcast, QueueKind, Topic
from domain.fixture_store import FixtureRefs, fixture_refs
from domain.incidents import partition_of
from domain.messages import Outgoing, incident_message
from domain.subscriptions import ActivePackage, active_packages_of
from worker.metrics import INCIDENTS
from worker.resources import Resources

log = logging.getLogger("worker.incidents")

# How long the list of active packages and their subscriptions is reused: one storage read a second
# instead of one per batch, which at a few hundred incidents a second was most of the worker's time.
PACKAGES_TTL_S = 1.0
# A fixture's sport and league (they do not change in play) are remembered this long, for this many
# fixtures; an unknown fixture is never remembered, so it is looked up again until it comes.
REFS_TTL_S = 60.0
REFS_KEPT = 100_000


@dataclass(frozen=True, slots=True)
class Ready:
    """An incident whose fixture is known, with what its header names."""

    entry_id: StreamId
    fixture_id: int
    # The body exactly as it came upstream (SPEC §10: every field kept).
    body: bytes
    refs: FixtureRefs


@dataclass
class Directory:
    """Storage's answers the fan-out reuses for a while: active packages, and fixtures' sport and league."""

    _packages: list[ActivePackage] = field(default_factory=list)
    _packages_at: float = float("-inf")
    _reading: "asyncio.Future[None] | None" = None
    _generation: int = 0
    _refs: dict[int, tuple[FixtureRefs, float]] = field(default_factory=dict)

    async def refs(self, res: Resources, fixture_ids: Iterable[int]) -> dict[int, FixtureRefs]:
        """The sport and league of every fixture storage holds among these."""
        now = time.monotonic()
        known = {f: refs for f in set(fixture_ids) if (refs := self._fresh_ref(f, now)) is not None}
        missing = [f for f in set(fixture_ids) if f not in known]
        if missing:
            async with res.engine.connect() as conn:
                found = await fixture_refs(conn, missing)
            if len(self._refs) + len(found) > REFS_KEPT:
                self._refs.clear()
            self._refs.update({f: (refs, now) for f, refs in found.items()})
            known.update(found)
        return known

    def _fresh_ref(self, fixture_id: int, now: float) -> FixtureRefs | None:
        cached = self._refs.get(fixture_id)
        return cached[0] if cached is not None and now - cached[1] < REFS_TTL_S else None

    def forget_packages(self) -> None:
        """Read the active packages again next time (a package was just admitted: its image is out)."""
        self._packages_at = float("-inf")
        self._generation += 1  # a read under way is older than this

    async def packages(self, res: Resources) -> list[ActivePackage]:
        """The active packages: read at once the first time and after `forget_packages`, else the list in
        hand (`revalidate` reads it again beside the rounds)."""
        if self._packages_at == float("-inf"):
            await self._read_packages(res)
        return self._packages

    def revalidate(self, res: Resources) -> None:
        """Once the list is a second old, read it again beside the rounds, which go on with the list in
        hand meanwhile (the read held up every round it fell in: issue 22). Called after a round is
        sent: on SQLite the read runs on the loop, and would otherwise hold up the send it fell in."""
        if time.monotonic() - self._packages_at >= PACKAGES_TTL_S and self._reading is None:
            self._reading = asyncio.ensure_future(self._read_packages(res))
            self._reading.add_done_callback(self._read)

    async def _read_packages(self, res: Resources) -> None:
        started, generation = time.monotonic(), self._generation
        # The worker's own transactions: on SQLite at once on the loop, not aiosqlite's thread hops.
        packages = await res.transactions.run(active_packages_of)
        await res.view.remember_active({p.package_id: p.applied for p in packages})
        if generation == self._generation:
            self._packages, self._packages_at = packages, started

    def _read(self, reading: "asyncio.Future[None]") -> None:
        self._reading = None
        if not reading.cancelled() and (failed := reading.exception()) is not None:
            # The list in hand stays; the next round asks again.
            log.warning("active packages not read again: %s: %s", type(failed).__name__, failed)


async def start_delivery(
    res: Resources, directory: Directory, ready: Sequence[Ready], held: Collection[tuple[int, int]] = ()
) -> asyncio.Future[set[int]]:
    """Every ready incident sent to every active package subscribed to its fixture, in the order given,
    after those of every earlier call; none to a (package, partition) of `held` (its image is pending).
    The returned future gives the positions a full queue refused once the Delivery confirmed them all
    (or fails, and nothing is known to be confirmed): the partitions' owner reads on meanwhile."""
    packages = await directory.packages(res) if ready else []
    items = [
        Broadcast(
            _message(item),
            [
                package.package_id
                for package in packages
                if package.receives(item.refs) and admitted(package.package_id, item.fixture_id, held)
            ],
            Topic(item.fixture_id, item.refs.sport_id, item.refs.league_id),
        )
        for item in ready
    ]
    sending = await res.delivery.start_broadcast(QueueKind.INCIDENTS, items)
    if ready:
        directory.revalidate(res)
    return sending


def count_delivered(count: int, refused: set[int]) -> None:
    """A delivery's incidents counted once confirmed: an incident a full queue refused was not forwarded,
    even if other packages' queues took it."""
    INCIDENTS.labels("forwarded").inc(count - len(refused))
    if refused:
        INCIDENTS.labels("refused").inc(len(refused))


def admitted(package_id: int, fixture_id: int, held: Collection[tuple[int, int]]) -> bool:
    """Whether the package gets the fixture's incidents now: not while its image of the fixture's partition
    is pending (worker/owner_requests.py), so that no incident precedes the fixture's scoreboard."""
    return not held or (package_id, partition_of(fixture_id)) not in held


def _message(item: Ready) -> Outgoing:
    refs = item.refs
    return incident_message(item.body, item.fixture_id, refs.sport_id, refs.league_id)
