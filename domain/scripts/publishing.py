"""Publishing to a package's queue (SPEC §4) with the checks that must hold as it happens: the package is
active and its backlog leaves room. A queue that is full has the package deactivated through the commands
stream, once per activation (domain/queue_limit.py)."""

from collections.abc import Mapping, Sequence
from typing import Any

from domain.delivery import Published, PublishResult
from domain.scripts.runner import Arg, LuaScript, ScriptCall

PUBLISH = LuaScript.load("undelivered", "backlog", "publish")
PUBLISH_ONCE = LuaScript.load("undelivered", "backlog", "publish_once")
DEACTIVATE_ONCE = LuaScript.load("deactivate_once")

_RESULTS = {key: result for result in PublishResult for key in (result.value, result.value.encode())}


def publish(
    *, view: str, queue: str, limit: int, message_field: str, messages: Sequence[bytes]
) -> ScriptCall[Published]:
    """Append to `queue`, one entry of `message_field` each, the `messages` that fit under `limit` if the
    package (its copy in `view`) is active."""
    args: list[Arg] = [limit, message_field, *messages]
    return ScriptCall(PUBLISH, [view, queue], args, published)


def publish_once(
    *, view: str, queue: str, marker: str, marker_ttl_s: int, limit: int, message_field: str, message: bytes
) -> ScriptCall[Published]:
    """Append `message` to `queue` if the package is active and it fits under `limit`, unless `marker` was
    set before (within `marker_ttl_s`); a message that was sent before counts as published, 0 times."""
    args: list[Arg] = [message, marker_ttl_s, limit, message_field]
    return ScriptCall(PUBLISH_ONCE, [view, queue, marker], args, published)


def deactivate_once(
    *,
    view: str,
    commands: str,
    full_guard: str,
    commands_maxlen: int,
    guard_ttl_s: int,
    deactivation: Mapping[str, str],
) -> ScriptCall[bool]:
    """Append `deactivation` to `commands` if the package (its copy in `view`) is active, unless
    `full_guard` says it was appended under the same activation (within `guard_ttl_s`); whether it was."""
    args: list[Arg] = [commands_maxlen, guard_ttl_s, *_pairs(deactivation)]
    return ScriptCall(DEACTIVATE_ONCE, [view, commands, full_guard], args, bool)


def published(reply: list[Any]) -> Published:
    """The reply of `publish` or `publish_once`."""
    result, count = reply
    return Published(_RESULTS[result], int(count))


def _pairs(fields: Mapping[str, str]) -> list[Arg]:
    return [item for pair in fields.items() for item in pair]
