"""What the figures were measured on: cores, CPU model, Python, date and the code's commit."""

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def describe(generator: str) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "commit": commit(),
        "generator": generator,
        "generator_version": generator_version(generator),
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def commit() -> str:
    """Short commit id, with `+changes` when the working tree differs from it (read-only git calls)."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def generator_version(generator: str) -> str:
    if generator != "wrk":
        return f"asyncio raw sockets on uvloop, Python {sys.version.split()[0]}"
    # `wrk --version` prints its banner and exits with status 1.
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    banner = (done.stdout or done.stderr).strip()
    return banner.splitlines()[0].split(" Copyright")[0] if banner else "wrk"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()
