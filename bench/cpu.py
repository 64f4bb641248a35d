"""CPU time of running processes, read from /proc, to show which process a scenario keeps busy."""

import os
from collections.abc import Mapping

# Kernel clock ticks per second, the unit of utime and stime in /proc/<pid>/stat.
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads); 0 when it is gone or not visible."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return 0.0
    # Fields after the command name, which is parenthesised and may itself hold spaces.
    fields = text[text.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    return {role: cpu_seconds(pid) for role, pid in pids.items()}


def busy(before: Mapping[str, float], after: Mapping[str, float], wall_s: float) -> dict[str, float]:
    """CPU seconds used per role over the wall time: 1.0 is one core busy all along."""
    if wall_s <= 0:
        return {role: 0.0 for role in before}
    return {role: (after[role] - before[role]) / wall_s for role in before}
