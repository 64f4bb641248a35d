"""A consumer group's figures for the workers' metrics: pending, consumers, and what it has not been
delivered yet (counted where Redis cannot tell, or may misreport after a restart)."""

from dataclasses import dataclass
from typing import Any

from domain.scripts.runner import LuaScript, ScriptCall

GROUP_FIGURES = LuaScript.load("undelivered", "group_figures")


@dataclass(frozen=True, slots=True)
class GroupFigures:
    pending: int
    consumers: int
    # Entries not delivered to the group yet: exact up to the `most` asked for; above it, Redis's own
    # figure, or `most` + 1 when Redis cannot tell.
    lag: int


def group_figures(*, stream: str, group: str, most: int) -> ScriptCall[GroupFigures | None]:
    """The figures of `group` on `stream`, its lag counted up to `most` entries; None when there is no
    such stream or group."""
    return ScriptCall(GROUP_FIGURES, [stream], [group, most], _figures)


def _figures(reply: list[Any]) -> GroupFigures | None:
    if not reply:
        return None
    pending, consumers, lag = reply
    return GroupFigures(int(pending), int(consumers), int(lag))
