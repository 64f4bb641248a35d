"""The brute-force limit's budgets (SPEC §2.3): a try reserved in every budget before a password is
verified, and given back when the login proves right or storage could not check it."""

from collections.abc import Sequence
from dataclasses import dataclass

from domain.scripts.runner import Arg, LuaScript, ScriptCall, no_reply

RESERVE_TRY = LuaScript.load("locked", "reserve_try")
GIVE_BACK_TRY = LuaScript.load("give_back_try")


@dataclass(frozen=True, slots=True)
class Budgets:
    """A caller's failure counters and each one's limit, in the same order: checked, without counting, by
    every script that answers a login (a remembered one too), and counted by `reserve_try`."""

    counters: list[str]
    limits: list[int]


# No budgets to check: the service itself, or a caller no limit applies to.
UNLIMITED = Budgets([], [])


@dataclass(frozen=True, slots=True)
class Reservation:
    # 0 when the try is reserved; else a budget is spent, nothing was counted, and this is how long its
    # window still runs.
    retry_after_s: int

    @property
    def reserved(self) -> bool:
        return self.retry_after_s == 0


def reserve_try(*, counters: Sequence[str], limits: Sequence[int], window_s: int) -> ScriptCall[Reservation]:
    """Count a try in every counter, each starting a window of `window_s` if new, unless one of them is
    above its limit (`limits`, in the same order) already."""
    args: list[Arg] = [*limits, window_s]
    return ScriptCall(RESERVE_TRY, list(counters), args, _reservation)


def give_back_try(*, counters: Sequence[str]) -> ScriptCall[None]:
    """Take back one try from every counter that still exists."""
    return ScriptCall(GIVE_BACK_TRY, list(counters), [], no_reply)


def _reservation(reply: int) -> Reservation:
    return Reservation(int(reply))
