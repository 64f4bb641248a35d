"""Resident memory of a running process, read from /proc, to show whether a snapshot's size costs memory."""

# /proc/<pid>/status reports memory in kibibytes.
_KIB_PER_MIB = 1024


def resident_mib(pid: int) -> float:
    """Resident set size now (VmRSS)."""
    return _status_mib(pid, "VmRSS")


def peak_mib(pid: int) -> float:
    """The highest resident set size since the process started (VmHWM)."""
    return _status_mib(pid, "VmHWM")


def _status_mib(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / _KIB_PER_MIB
    raise RuntimeError(f"/proc/{pid}/status has no {field}")
