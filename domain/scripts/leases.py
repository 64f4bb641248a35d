"""Incident partitions' leases (SPEC §10, domain/partitions.py): renewed and taken up to a fair share,
and given up, each in one script so that two workers never both believe they own a partition."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.scripts.runner import Arg, LuaScript, ScriptCall, no_reply

RENEW_LEASES = LuaScript.load("renew_leases")
RELEASE_LEASES = LuaScript.load("release_leases")


@dataclass(frozen=True, slots=True)
class Leases:
    """What one renewal found: live workers, this worker's fair share, what it renewed and took."""

    workers: int
    fair: int
    kept: list[int]
    taken: list[int]


def renew_leases(
    *, workers: str, leases: Sequence[str], me: str, lease_ms: int, start: int, held: Sequence[int]
) -> ScriptCall[Leases]:
    """Renew the leases `me` still holds of `held`, then take free ones, looking from `start` on, up to
    its fair share of `leases` among the live `workers`."""
    args: list[Arg] = [me, lease_ms, start, *held]
    return ScriptCall(RENEW_LEASES, [workers, *leases], args, _leases)


def release_leases(*, workers: str, leases: Sequence[str], me: str, leaving: bool) -> ScriptCall[None]:
    """Give up what `me` still holds of `leases`; `leaving`: also leave the live workers."""
    return ScriptCall(RELEASE_LEASES, [workers, *leases], [me, "1" if leaving else "0"], no_reply)


def _leases(reply: Any) -> Leases:
    workers, fair, kept, taken = reply
    return Leases(int(workers), int(fair), [int(p) for p in kept], [int(p) for p in taken])
