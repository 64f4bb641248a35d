"""Which process listens on a TCP port of this machine, read from /proc (Linux), to name it in an error."""

from pathlib import Path

# /proc/net/tcp's state of a listening socket.
_LISTEN = "0A"


def listener_of(port: int) -> str | None:
    """`PID n (its command line)` of the process listening on `port`; None when it cannot be told."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(_socket_inode(fd) in inodes for fd in fd_dir.iterdir()):
                return _describe(fd_dir.parent)
        except OSError:  # gone meanwhile, or not ours to look at
            continue
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _socket_inode(fd: Path) -> str:
    target = str(fd.readlink())
    return target[len("socket:[") : -1] if target.startswith("socket:[") else ""


def _describe(process: Path) -> str:
    command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    return f"PID {process.name} ({command[:80]})"
