"""Files only their owner may read: Erlang cookies, the service account's password, `dev`'s note of its
servers' URLs."""

import os
from pathlib import Path


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """`path` replaced by a file of `text` with `mode`, never readable by others even for a moment (made
    with that mode, not changed after; the umask can only take permissions away)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def private_directory(path: Path) -> Path:
    """`path` made if missing, and open to its owner alone (what it holds may be secret)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path
