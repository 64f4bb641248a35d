"""What the endpoints do, between a validated request and its answer.

The hot path is one Redis round trip: the remembered login's credential version and the caller's failure
budgets are checked by Redis atomically with the read (status) or the append (commands). Only a client
not yet remembered, or a failure, goes to storage and Argon2.
"""

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.command_log import CommandLog
from domain.commands import (
    ActivatePackage,
    ChangeActivation,
    DeactivatePackage,
    Trigger,
    TriggerRecovery,
    TriggerSnapshot,
)
from domain.delivery import QueueFigures
from domain.errors import InvalidCredentials, NotSignedIn, PackageInactive
from domain.messages import timestamp
from domain.package_status import PackageStatus
from domain.package_view import PackageView
from domain.replies import Reply
from domain.scripts.appends import Enqueued, EnqueueResult
from domain.scripts.views import ViewState
from domain.settings import Settings
from domain.streams import incidents_queue
from ingress.attempts import refuse_if_locked
from ingress.auth import Authenticator
from ingress.metrics import COMMANDS_ENQUEUED, COMMANDS_PENDING
from ingress.reply_channel import ReplyListener
from ingress.validation import Credentials, recovery_after

log = logging.getLogger("ingress.gateway")


@dataclass(frozen=True, slots=True)
class Caller:
    """A customer's request: proven by its credentials, counted against its client address."""

    credentials: Credentials
    client: str

    @property
    def package_id(self) -> int:
        return self.credentials.package_id


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A customer console session's caller (ingress/console_sessions.py): proven once at sign-in, then
    trusted while the package's credential version is the one proven; no password is held."""

    package_id: int
    username: str
    credential_version: str


@dataclass(frozen=True, slots=True)
class Pending:
    """An activation command that no worker answered in time; it is safe in the stream."""

    command_id: str


@dataclass(frozen=True, slots=True)
class Gateway:
    auth: Authenticator
    view: PackageView
    log: CommandLog
    replies: ReplyListener
    settings: Settings
    # The figures of a package's two queues when the delivery keeps them outside Redis (AMQP); None
    # when they come with the view's own read (Redis streams: one round trip).
    queues: Callable[[int], Awaitable[tuple[QueueFigures, QueueFigures]]] | None = None
    # The scoreboard bodies of a package's subscribed fixtures in progress (SPEC §12), from storage.
    live: Callable[[int], Awaitable[list[dict[str, Any]]]] | None = None

    async def status(self, caller: Caller | SignedIn) -> ViewState:
        """The package's status and its queues' figures, as of the last change a worker committed."""
        state = await self._state(caller)
        if self.queues is None:
            return state
        fixtures, incidents = await self.queues(caller.package_id)
        return dataclasses.replace(state, queue=fixtures, incidents_queue=incidents)

    async def live_fixtures(self, caller: Caller) -> list[dict[str, Any]]:
        """The scoreboards of the package's subscribed fixtures in progress, active or not (pull, §12);
        the caller proven and counted as for `status`."""
        await self._state(caller)
        return await self.live(caller.credentials.package_id) if self.live is not None else []

    async def sign_in(self, caller: Caller) -> SignedIn:
        """A console session's caller: the credentials proven, and counted, as for `status` (§2.3)."""
        _, version = await self._proven(caller)
        return SignedIn(caller.package_id, caller.credentials.username, version)

    async def _state(self, caller: Caller | SignedIn) -> ViewState:
        if isinstance(caller, SignedIn):
            return await self._signed_in_state(caller)
        return (await self._proven(caller))[0]

    async def _proven(self, caller: Caller) -> tuple[ViewState, str]:
        """The package as read for a caller, and the credential version the caller's credentials proved."""
        budgets = self.auth.budgets(caller.credentials, caller.client)
        remembered = self.auth.remembered(caller.credentials)
        if remembered is not None:
            state = await self.view.read(caller.package_id, budgets=budgets)
            refuse_if_locked(state.retry_after_s)
            if state.credential_version == remembered and state.status is not None:
                return state, remembered
        logged_in = await self.auth.login(caller.credentials, caller.client)
        state = await self.view.read(caller.package_id, budgets=budgets)
        refuse_if_locked(state.retry_after_s)
        return dataclasses.replace(
            state, status=state.status or logged_in.status
        ), logged_in.credential_version

    async def _signed_in_state(self, caller: SignedIn) -> ViewState:
        """The package as read for a session: its copy holds the version proven, or is restored to it."""
        state = await self.view.read(caller.package_id)
        if state.credential_version != caller.credential_version or state.status is None:
            await self.auth.restore(caller.package_id, caller.credential_version)
            state = await self.view.read(caller.package_id)
        if self.queues is not None:
            return state
        # The console shows both queues (SPEC §13); over Redis the view's read gives the fixtures queue's.
        incidents = await self.view.read(caller.package_id, queue=incidents_queue(caller.package_id))
        return dataclasses.replace(state, incidents_queue=incidents.queue)

    async def activate(self, caller: Caller | SignedIn) -> Reply | Pending:
        return await self._change(ActivatePackage, caller)

    async def deactivate(self, caller: Caller | SignedIn) -> Reply | Pending:
        return await self._change(DeactivatePackage, caller)

    async def trigger_snapshot(self, caller: Caller | SignedIn) -> str:
        """The requestId of the snapshot that will serve this trigger: a new one, or the queued one."""
        return await self._coalesced(TriggerSnapshot(package_id=caller.package_id), caller)

    async def trigger_recovery(self, caller: Caller | SignedIn, after: object) -> str:
        """The requestId of the recovery that will serve this trigger (SPEC §12): a new one, or the queued
        one. The credentials and the status come before `after` is checked, as §12 orders the answers."""
        state = await self._state(caller)
        if state.status is not PackageStatus.ACTIVE:
            raise PackageInactive()
        since = recovery_after(after, datetime.now(UTC), self.settings.recovery_hours)
        command = TriggerRecovery(
            package_id=caller.package_id, after=timestamp(since.astimezone(UTC)) if since else ""
        )
        return await self._coalesced(command, caller)

    async def _coalesced(self, command: Trigger, caller: Caller | SignedIn) -> str:
        enqueued = await self._append(command, caller)
        if enqueued.result is EnqueueResult.INACTIVE:
            raise PackageInactive()
        return enqueued.value if enqueued.result is EnqueueResult.COALESCED else command.request_id

    async def _change(self, kind: type[ChangeActivation], caller: Caller | SignedIn) -> Reply | Pending:
        command = kind(package_id=caller.package_id, reply_to=self.replies.channel)
        async with self.replies.awaiting(command.command_id) as reply:
            await self._append(command, caller)
            try:
                return await asyncio.wait_for(reply, self.settings.command_timeout_ms / 1000)
            except TimeoutError:
                COMMANDS_PENDING.inc()
                log.info("no worker answered in time; answered 202", extra={"command_id": command.command_id})
                return Pending(command.command_id)

    async def _append(self, command: ChangeActivation | Trigger, caller: Caller | SignedIn) -> Enqueued:
        if isinstance(caller, SignedIn):
            return await self._append_signed_in(command, caller)
        credentials = caller.credentials
        budgets = self.auth.budgets(credentials, caller.client)
        remembered = self.auth.remembered(credentials)
        if remembered is not None:
            enqueued = await self.log.append(command, remembered, budgets)
            _refuse_if_locked(enqueued)
            if enqueued.result is not EnqueueResult.STALE:
                return _counted(command, enqueued)
        # Not remembered, or the password changed since: verify in full. A second `stale` means the
        # password changed again while we verified; the caller's credentials are no longer proven.
        logged_in = await self.auth.login(credentials, caller.client)
        enqueued = await self.log.append(command, logged_in.credential_version, budgets)
        _refuse_if_locked(enqueued)
        if enqueued.result is EnqueueResult.STALE:
            self.auth.forget(credentials.package_id)
            raise InvalidCredentials()
        return _counted(command, enqueued)

    async def _append_signed_in(self, command: ChangeActivation | Trigger, caller: SignedIn) -> Enqueued:
        """Appended if the package's credential version is still the session's; its copy restored from
        storage once if it lost the version, else the session has ended (NotSignedIn)."""
        enqueued = await self.log.append(command, caller.credential_version)
        if enqueued.result is EnqueueResult.STALE:
            await self.auth.restore(caller.package_id, caller.credential_version)
            enqueued = await self.log.append(command, caller.credential_version)
        if enqueued.result is EnqueueResult.STALE:
            raise NotSignedIn()
        return _counted(command, enqueued)


def _refuse_if_locked(enqueued: Enqueued) -> None:
    """The append script found a budget of the caller's spent: the same 429 whatever the password."""
    if enqueued.result is EnqueueResult.LOCKED:
        refuse_if_locked(int(enqueued.value))


def _counted(command: ChangeActivation | Trigger, enqueued: Enqueued) -> Enqueued:
    if enqueued.result is EnqueueResult.QUEUED:
        COMMANDS_ENQUEUED.labels(command.type.value).inc()
        log.debug("enqueued as %s", enqueued.value, extra={"command_id": command.command_id})
    return enqueued
