"""The deactivation fence of a broker that cannot check a package's status as it takes a message (AMQP,
SPEC §9: after a deactivation's 200, no message reaches that package's queues).

Every publishing batch registers itself in one sorted set, by Redis's clock, in the same script that reads
its packages' statuses, and leaves it once its confirmations are in. A deactivation, after its status copy
says `inactive`, notes Redis's time T and waits until no batch registered before T remains: a batch
registered after T read `inactive`; one registered before T has had every message confirmed — in its
queue — before the 200. One registration per batch, not per message.
"""

from collections.abc import Sequence

from domain.scripts.runner import Arg, LuaScript, ScriptCall
from domain.streams import PUBLISHING_BATCHES, package_view

REGISTER = LuaScript.load("register_publishing")
FENCE = LuaScript.load("fence")


def register_publishing(batch_id: str, package_ids: Sequence[int]) -> ScriptCall[list[bool]]:
    """Register the batch, and answer whether each package is active, in order."""
    keys: list[Arg] = [PUBLISHING_BATCHES, *(package_view(p) for p in package_ids)]
    return ScriptCall(REGISTER, keys, [batch_id], _active)


def still_publishing(moment_ms: int, longest_ms: int) -> ScriptCall[tuple[int, int]]:
    """(the moment — Redis's now when `moment_ms` is 0 —, batches registered before it still publishing);
    batches older than `longest_ms` are dropped as a dead worker's."""
    return ScriptCall(FENCE, [PUBLISHING_BATCHES], [moment_ms, longest_ms], _counted)


def _active(reply: list[bytes | None]) -> list[bool]:
    return [status == b"active" for status in reply]


def _counted(reply: list[int]) -> tuple[int, int]:
    return int(reply[0]), int(reply[1])
