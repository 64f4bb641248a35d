"""The success bodies of SPEC §2.2, word for word."""

from typing import Any

from domain.commands import Outcome, PackageStatus
from domain.package_view import ViewState
from ingress.gateway import Pending
from ingress.replies import Reply
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


def _who(credentials: Credentials) -> dict[str, Any]:
    return {"packageId": credentials.package_id, "username": credentials.username}


def status(credentials: Credentials, state: ViewState) -> dict[str, Any]:
    """SPEC's status body, plus (an additive field) the fixtures queue as the customer should watch it."""
    queue = state.queue
    figures = {
        "name": queue.name,
        "length": queue.length,
        "pending": queue.pending,
        "consumers": queue.consumers,
        "lag": queue.lag,
    }
    status = state.status or PackageStatus.INACTIVE
    return {"success": True, **_who(credentials), "status": status.value, "queue": figures}


def snapshot(credentials: Credentials, request_id: str) -> dict[str, Any]:
    return {"success": True, "message": SNAPSHOT_SENT, **_who(credentials), "requestId": request_id}


def change(
    credentials: Credentials, target: PackageStatus, result: Reply | Pending
) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of an activate or deactivate request."""
    if isinstance(result, Pending):
        body = {
            "success": True,
            "message": _PENDING[target],
            **_who(credentials),
            "commandId": result.command_id,
        }
        return 202, body
    message = _ALREADY[target] if result.outcome is Outcome.ALREADY else _CHANGED[target]
    return 200, {"success": True, "message": message, **_who(credentials)}
