"""The answers of SPEC §2.2–2.3, word for word, as typed bodies (they also document the OpenAPI schema)."""

from typing import Any, Protocol

import msgspec

from domain.commands import Outcome
from domain.delivery import QueueFigures
from domain.package_status import PackageStatus
from domain.replies import Reply
from domain.scripts.views import ViewState
from ingress.gateway import Pending
from ingress.validation import Credentials

_CHANGED = {
    PackageStatus.ACTIVE: "Package activation completed successfully",
    PackageStatus.INACTIVE: "Package deactivation completed successfully",
}
_ALREADY = {
    PackageStatus.ACTIVE: "Package is already active",
    PackageStatus.INACTIVE: "Package is already inactive",
}
_PENDING = {
    PackageStatus.ACTIVE: "Package activation accepted and pending",
    PackageStatus.INACTIVE: "Package deactivation accepted and pending",
}
SNAPSHOT_SENT = "Livescore snapshot request sent successfully"
RECOVERY_SENT = "Recovery request sent successfully"


class Named(Protocol):
    """Whom an answer names: a request's credentials, or a console session's caller (ingress/gateway.py)."""

    @property
    def package_id(self) -> int: ...

    @property
    def username(self) -> str: ...


class StatusAnswer(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    success: bool
    package_id: int
    username: str
    # `active` or `inactive`; an enum, so the OpenAPI document says so.
    status: PackageStatus
    # Additive to the upstream contract: what a customer watches to keep the queue from overflowing.
    queue: QueueFigures
    # Additive: why the service itself set the status ("queue-limit"); absent when the customer did.
    reason: str | None = None
    # Additive, delivering over AMQP: the package's queue on the Incidents vhost (SPEC §9).
    incidents_queue: QueueFigures | None = None


class ChangeAnswer(msgspec.Struct, frozen=True, rename="camel"):
    success: bool
    message: str
    package_id: int
    username: str


class PendingAnswer(msgspec.Struct, frozen=True, rename="camel"):
    success: bool
    message: str
    package_id: int
    username: str
    command_id: str


class SnapshotAnswer(msgspec.Struct, frozen=True, rename="camel"):
    success: bool
    message: str
    package_id: int
    username: str
    request_id: str


class LiveAnswer(msgspec.Struct, frozen=True, rename="camel"):
    success: bool
    package_id: int
    username: str
    # Scoreboard bodies (SPEC §12), the same as the initial image's MessageType 4, by fixture id.
    fixtures: list[dict[str, Any]]


class ErrorAnswer(msgspec.Struct, frozen=True):
    error: str


class FailureAnswer(msgspec.Struct, frozen=True, rename="camel"):
    success: bool
    message: str
    package_id: int | None


def status(credentials: Named, state: ViewState) -> StatusAnswer:
    current = state.status or PackageStatus.INACTIVE
    return StatusAnswer(
        True,
        credentials.package_id,
        credentials.username,
        current,
        state.queue,
        state.reason,
        state.incidents_queue,
    )


def live(credentials: Credentials, fixtures: list[dict[str, Any]]) -> LiveAnswer:
    return LiveAnswer(True, credentials.package_id, credentials.username, fixtures)


def snapshot(credentials: Named, request_id: str) -> SnapshotAnswer:
    return SnapshotAnswer(True, SNAPSHOT_SENT, credentials.package_id, credentials.username, request_id)


def recovery(credentials: Named, request_id: str) -> SnapshotAnswer:
    """A recovery's answer has the snapshot's shape (SPEC §12), with its own message."""
    return SnapshotAnswer(True, RECOVERY_SENT, credentials.package_id, credentials.username, request_id)


def change(
    credentials: Named, target: PackageStatus, result: Reply | Pending
) -> tuple[int, ChangeAnswer | PendingAnswer]:
    """The HTTP status and body of an activate or deactivate request."""
    who = (credentials.package_id, credentials.username)
    if isinstance(result, Pending):
        return 202, PendingAnswer(True, _PENDING[target], *who, result.command_id)
    message = _ALREADY[target] if result.outcome is Outcome.ALREADY else _CHANGED[target]
    return 200, ChangeAnswer(True, message, *who)
