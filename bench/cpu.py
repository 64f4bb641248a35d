"""CPU time of running processes and of the whole machine, read from /proc, to show which process a
scenario keeps busy and whether anything else was competing for the cores."""

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

# Kernel clock ticks per second, the unit of utime and stime in /proc/<pid>/stat and of /proc/stat.
_TICKS = os.sysconf("SC_CLK_TCK")
# The role under which snapshot() reports the whole machine: every process, the kernel, and time the
# hypervisor stole; anything above the sum of the other roles was used by something else.
MACHINE = "machine"


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


def named_seconds(name: str) -> float:
    """CPU seconds of every process with this command name (e.g. all of PostgreSQL's backends);
    a process started since an earlier call counts from zero, which is what it used since."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                total += cpu_seconds(int(comm.parent.name))
        except OSError:
            continue  # the process ended while being looked at
    return total


def machine_seconds() -> float:
    """Non-idle CPU seconds of the machine, all cores together."""
    with open("/proc/stat") as stat:
        # user nice system idle iowait irq softirq steal
        ticks = [int(v) for v in stat.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICKS


def snapshot(pids: Mapping[str, int], names: Iterable[str] = ()) -> dict[str, float]:
    """CPU seconds so far of each process by role, of each named process group, and of the machine."""
    seconds = {role: cpu_seconds(pid) for role, pid in pids.items()}
    seconds |= {name: named_seconds(name) for name in names}
    return seconds | {MACHINE: machine_seconds()}


def busy(before: Mapping[str, float], after: Mapping[str, float], wall_s: float) -> dict[str, float]:
    """CPU seconds used per role over the wall time: 1.0 is one core busy all along."""
    if wall_s <= 0:
        return {role: 0.0 for role in before}
    return {role: (after[role] - before[role]) / wall_s for role in before}
