"""Appending a command to `livescore:commands` after the checks that must hold as it enters, and freeing a
package for its next snapshot."""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.scripts.runner import Arg, LuaScript, ScriptCall, no_reply
from domain.scripts.tries import UNLIMITED, Budgets

ENQUEUE = LuaScript.load("locked", "enqueue")
RELEASE_SNAPSHOT = LuaScript.load("release_snapshot")


class EnqueueResult(StrEnum):
    QUEUED = "queued"
    # A snapshot of the package is queued or running already: this trigger is served by it.
    COALESCED = "coalesced"
    # A snapshot of an inactive package: nothing appended.
    INACTIVE = "inactive"
    # The credential version changed (a new password): authenticate again; nothing appended.
    STALE = "stale"
    # One of the caller's failure budgets is spent: nothing appended; `value` is the seconds to wait.
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class Enqueued:
    result: EnqueueResult
    # The entry's id (QUEUED), or the requestId of the snapshot that serves this trigger (COALESCED).
    value: str = ""


# Reply → result by a dict lookup: on the hot path, an enum's own lookup by value costs ten times more.
_RESULTS = {key: result for result in EnqueueResult for key in (result.value, result.value.encode())}


def enqueue(
    *,
    view: str,
    commands: str,
    snapshot_in_flight: str,
    credential_version: str,
    commands_maxlen: int,
    fields: Mapping[str, str],
    snapshot_request_id: str | None = None,
    in_flight_ttl_s: int = 0,
    budgets: Budgets = UNLIMITED,
) -> ScriptCall[Enqueued]:
    """Append `fields` to `commands` if `view` still holds `credential_version`; a snapshot (one with a
    `snapshot_request_id`) only if the package is active and `snapshot_in_flight` is free, which it then
    holds for `in_flight_ttl_s`; nothing while one of `budgets` is spent."""
    snapshot = snapshot_request_id is not None
    args: list[Arg] = [
        credential_version,
        commands_maxlen,
        "1" if snapshot else "0",
        snapshot_request_id or "",
        in_flight_ttl_s,
        len(budgets.counters),
        *budgets.limits,
    ]
    for name, value in fields.items():
        args += (name, value)
    return ScriptCall(ENQUEUE, [view, commands, snapshot_in_flight, *budgets.counters], args, _enqueued)


def _enqueued(reply: list[Any]) -> Enqueued:
    result = _RESULTS[reply[0]]
    if len(reply) == 1:
        return Enqueued(result)
    value = reply[1]
    return Enqueued(result, value.decode() if isinstance(value, bytes) else str(value))


def release_snapshot(*, snapshot_in_flight: str, request_id: str) -> ScriptCall[None]:
    """Free the package for its next snapshot, unless a newer one than `request_id` holds it."""
    return ScriptCall(RELEASE_SNAPSHOT, [snapshot_in_flight], [request_id], no_reply)
