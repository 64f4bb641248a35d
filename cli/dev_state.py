"""Where `livescore dev` keeps its state, and the note of where its servers are.

`dev` writes `.livescore/env` (the URLs of its Redis, storage and broker) while it runs; the `livescore`
command run in the same folder reads it, so `livescore queue read` reads the Redis `dev` started, not
whatever listens on 6379. Variables set in the environment still win. The note names the `dev` process
that wrote it and counts only while that process lives. It holds the service's AMQP password and the
management API's: the folder and the note are their owner's alone (0700, 0600).
"""

import os
from collections.abc import Mapping
from pathlib import Path

from servers.private_files import private_directory, write_private

# Everything `dev` keeps between runs: the embedded server's data, a RabbitMQ node's, this note.
STATE_DIR = Path(".livescore")
ENV_FILE = STATE_DIR / "env"
_PID = "LIVESCORE_DEV_PID"


def write_note(env: Mapping[str, str], names: list[str]) -> None:
    private_directory(STATE_DIR)
    lines = [
        "# Written by `livescore dev`: where its servers are; removed when it stops.",
        f"{_PID}={os.getpid()}",
    ]
    lines += [f"{name}={env[name]}" for name in names if env.get(name)]
    write_private(ENV_FILE, "\n".join(lines) + "\n", 0o600)


def remove_note() -> None:
    ENV_FILE.unlink(missing_ok=True)


def noted_environment() -> dict[str, str]:
    """The variables of a running `livescore dev` of this folder; empty when there is none."""
    try:
        text = ENV_FILE.read_text()
    except OSError:
        return {}
    noted = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    if not _alive(noted.pop(_PID, "")):
        return {}
    return noted


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
