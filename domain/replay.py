"""Re-applying the commands stream to storage (`livescore replay`, SPEC §3).

The same last-writer-wins rule as the workers: replaying onto current storage changes nothing; onto
packages just created it reproduces every status. Snapshots and recoveries are re-sent only when asked, as
new commands for the workers.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.activation import apply_activations
from domain.command_log import CommandLog, Replication
from domain.commands import ChangeActivation, StreamId, Trigger, TriggerRecovery, TriggerSnapshot, from_fields
from domain.errors import UndecodableCommand
from domain.package_status import PackageStatus
from domain.package_view import PackageView, refresh_from_storage
from domain.packages import PackageState, package_state, stored_states
from domain.streams import COMMANDS_STREAM

# Entries read and applied per transaction.
PAGE = 1000


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    start: str = "-"
    end: str = "+"
    package_id: int | None = None
    dry_run: bool = False
    include_snapshots: bool = False


@dataclass
class ReplayReport:
    read: int = 0
    activations: int = 0
    # Snapshot and recovery commands: neither changes storage, both are re-sent only when asked.
    snapshots: int = 0
    undecodable: int = 0
    # Packages whose stored status changed (or would): before and after.
    changed: dict[int, tuple[PackageStatus, PackageStatus]] = field(default_factory=dict)


@dataclass
class Replay:
    engine: AsyncEngine
    redis: Redis
    options: ReplayOptions
    commands_maxlen: int
    # Re-sent snapshots are confirmed by the replicas like a customer's trigger (SPEC §11).
    replication: Replication = field(default_factory=Replication)
    report: ReplayReport = field(default_factory=ReplayReport)
    # Dry run: each package's state as the replay so far would have left it.
    _simulated: dict[int, PackageState | None] = field(default_factory=dict)
    _first: dict[int, PackageStatus] = field(default_factory=dict)
    _end: str = "+"

    async def run(self, progress: Callable[[int], None] = lambda _: None) -> ReplayReport:
        # The newest entry now, not whatever is newest later: re-sent snapshots and commands appended
        # while the replay runs are not part of it.
        self._end = await self._last_id() if self.options.end == "+" else self.options.end
        start = self.options.start
        while page := await self._page(start):
            await self._apply_page(page)
            progress(len(page))
            start = "(" + page[-1][0].decode()
        if not self.options.dry_run:
            # Storage is the truth (SPEC §2.5): every copy agrees with it afterwards, also the copies of
            # packages no command touched (a restored database) or that storage no longer holds.
            await refresh_from_storage(self.engine, PackageView(self.redis))
        return self.report

    async def _page(self, start: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        entries: Any = await self.redis.xrange(COMMANDS_STREAM, start, self._end, count=PAGE)
        return list(entries)

    async def _last_id(self) -> str:
        newest: Any = await self.redis.xrevrange(COMMANDS_STREAM, count=1)
        return newest[0][0].decode() if newest else "0-0"

    async def _apply_page(self, page: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        self.report.read += len(page)
        activations, snapshots = self._select(page)
        if self.options.dry_run:
            for sid, command in activations:
                await self._simulate(sid, command)
        else:
            await self._apply(activations)
            await self._resend(snapshots)

    def _select(
        self, page: list[tuple[bytes, dict[bytes, bytes]]]
    ) -> tuple[list[tuple[StreamId, ChangeActivation]], list[Trigger]]:
        activations: list[tuple[StreamId, ChangeActivation]] = []
        snapshots: list[Trigger] = []
        for entry_id, fields in page:
            try:
                command = from_fields(fields)
            except UndecodableCommand:
                self.report.undecodable += 1
                continue
            if self.options.package_id not in (None, command.package_id):
                continue
            if isinstance(command, TriggerSnapshot | TriggerRecovery):
                self.report.snapshots += 1
                snapshots.append(command)
            else:
                self.report.activations += 1
                activations.append((StreamId.parse(entry_id), command))
        return activations, snapshots

    async def _apply(self, activations: list[tuple[StreamId, ChangeActivation]]) -> None:
        if not activations:
            return
        touched = sorted({c.package_id for _, c in activations})
        before = await self._states(touched)
        await apply_activations(self.engine, activations)
        for package_id, state in (await self._states(touched)).items():
            if package_id in before:
                self._note(package_id, before[package_id].status, state.status)

    async def _states(self, package_ids: list[int]) -> dict[int, PackageState]:
        async with self.engine.connect() as conn:
            return {package_id: state for package_id, state, _ in await stored_states(conn, package_ids)}

    async def _simulate(self, sid: StreamId, command: ChangeActivation) -> None:
        if command.package_id not in self._simulated:
            async with self.engine.connect() as conn:
                self._simulated[command.package_id] = await package_state(conn, command.package_id)
        state = self._simulated[command.package_id]
        if state is not None and state.applied < sid:
            self._note(command.package_id, state.status, command.target)
            self._simulated[command.package_id] = PackageState(command.target, sid)

    def _note(self, package_id: int, before: PackageStatus, after: PackageStatus) -> None:
        first = self._first.setdefault(package_id, before)
        if first is after:
            self.report.changed.pop(package_id, None)
        else:
            self.report.changed[package_id] = (first, after)

    async def _resend(self, snapshots: list[Trigger]) -> None:
        if not self.options.include_snapshots:
            return
        log = CommandLog(self.redis, self.commands_maxlen, replication=self.replication)
        for snapshot in snapshots:
            again = (
                TriggerRecovery(package_id=snapshot.package_id, after=snapshot.after)
                if isinstance(snapshot, TriggerRecovery)
                else TriggerSnapshot(package_id=snapshot.package_id)
            )
            await log.append_unchecked(again.to_fields())
