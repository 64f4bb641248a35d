"""Incident fan-out: each incident to the incidents queue of every active package subscribed to its fixture.

Which entries are ready, in which order, is decided by the partition owner (worker/partitions.py); this
module turns ready incidents into parcels, one per package with its incidents in stream order, and hands
them to the Delivery. Who is subscribed is read from storage at most once a second: a package activated or
re-subscribed is served within that second. The Delivery itself checks, atomically with each append, that
the package is active and its queue has room, so a deactivation is never late.
"""

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

    async def packages(self, res: Resources) -> list[ActivePackage]:
        now = time.monotonic()
        if now - self._packages_at >= PACKAGES_TTL_S:
            # The worker's own transactions: on SQLite at once on the loop, not aiosqlite's thread hops
            # (the round that re-reads waits for it: p50 1.3 -> 0.5 ms, p99 12-17 -> under 4, BENCHMARKS).
            self._packages = await res.transactions.run(active_packages_of)
            await res.view.remember_active({p.package_id: p.applied for p in self._packages})
            self._packages_at = now
        return self._packages


async def deliver(
    res: Resources, directory: Directory, ready: Sequence[Ready], held: Collection[tuple[int, int]] = ()
) -> None:
    """Every ready incident to every active package subscribed to its fixture, in the order given, once
    the Delivery confirmed them all; none to a (package, partition) of `held` (its image is pending)."""
    if not ready:
        return
    packages = await directory.packages(res)
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
    # An incident a full queue refused was not forwarded, even if other packages' queues took it.
    refused = await res.delivery.broadcast(QueueKind.INCIDENTS, items)
    INCIDENTS.labels("forwarded").inc(len(ready) - len(refused))
    if refused:
        INCIDENTS.labels("refused").inc(len(refused))


def admitted(package_id: int, fixture_id: int, held: Collection[tuple[int, int]]) -> bool:
    """Whether the package gets the fixture's incidents now: not while its image of the fixture's partition
    is pending (worker/owner_requests.py), so that no incident precedes the fixture's scoreboard."""
    return not held or (package_id, partition_of(fixture_id)) not in held


def _message(item: Ready) -> Outgoing:
    refs = item.refs
    return incident_message(item.body, item.fixture_id, refs.sport_id, refs.league_id)
