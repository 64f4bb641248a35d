"""The Redis copy of a package's status (domain/package_view.py): read with its queue's figures in one round
trip, remembered after a command is applied, refreshed after a write outside the commands stream."""

from dataclasses import dataclass
from typing import Any

from domain.delivery import QueueFigures
from domain.package_status import PackageStatus
from domain.packages import PackageState
from domain.scripts.runner import Arg, LuaScript, ScriptCall, text
from domain.scripts.tries import UNLIMITED, Budgets

READ_VIEW = LuaScript.load("undelivered", "backlog", "locked", "read_view")
REMEMBER_STATE = LuaScript.load("copy_order", "remember_state")
REMEMBER_STATES = LuaScript.load("copy_order", "remember_states")
REFRESH_VIEW = LuaScript.load("copy_order", "refresh_view")


@dataclass(frozen=True, slots=True)
class ViewState:
    """A package as the ingress reads it: its copy, and its queue's figures."""

    credential_version: str | None
    status: PackageStatus | None
    queue: QueueFigures
    # Why the service set the status (e.g. "queue-limit"); None when the customer did.
    reason: str | None = None
    # The package's incidents queue, where the delivery reports it (AMQP, SPEC §9); the read leaves it
    # to the caller.
    incidents_queue: QueueFigures | None = None
    # Above 0 when one of the caller's failure budgets is spent: nothing else was read, and this is how
    # long its window still runs.
    retry_after_s: int = 0


# Reply → status by a dict lookup: on the hot path, an enum's own lookup by value costs ten times more.
_STATUSES = {key: status for status in PackageStatus for key in (status.value, status.value.encode())}


def read_view(
    *, view: str, queue: str, queue_limit: int, budgets: Budgets = UNLIMITED
) -> ScriptCall[ViewState]:
    """The copy in `view` and the figures of `queue`, whose backlog counts against `queue_limit` — unless
    one of `budgets` is spent."""

    def read(reply: list[Any]) -> ViewState:
        cv, status, reason, length, pending, consumers, lag, retry_after = reply
        figures = QueueFigures(queue, int(length), int(pending), int(consumers), int(lag))
        status_ = _STATUSES[status] if status else None
        return ViewState(text(cv), status_, figures, text(reason) or None, retry_after_s=int(retry_after))

    return ScriptCall(READ_VIEW, [view, queue, *budgets.counters], [queue_limit, *budgets.limits], read)


def remember_state(
    *, view: str, state: PackageState, credential_version: str = ""
) -> ScriptCall[PackageStatus | None]:
    """Record `state` if its command is newer than the copy's, and `credential_version` (unless empty) if
    the copy has none; the status the copy holds afterwards."""
    return ScriptCall(REMEMBER_STATE, [view], [*_state(state), credential_version], _status)


def remember_states(states: dict[str, PackageState]) -> ScriptCall[int]:
    """`remember_state` for many copies (view key → state) in one call; how many were written."""
    args = [arg for state in states.values() for arg in _state(state)]
    return ScriptCall(REMEMBER_STATES, list(states), args, int)


def refresh_view(*, view: str, state: PackageState, credential_version: str) -> ScriptCall[bool]:
    """Make the copy say what storage holds (`state`, `credential_version`), or drop it when it reflects
    a newer command than storage's; whether it was written."""
    return ScriptCall(REFRESH_VIEW, [view], [*_state(state), credential_version], _written)


def _state(state: PackageState) -> list[Arg]:
    return [state.status.value, state.applied.ms, state.applied.seq, state.reason or ""]


def _status(reply: bytes | str | None) -> PackageStatus | None:
    return None if reply is None else _STATUSES[reply]


def _written(reply: int) -> bool:
    return reply == 1
