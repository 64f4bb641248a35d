"""The TCP sockets a group of processes listens on, read from /proc (Linux): where a private server is
reachable from."""

import ipaddress
from pathlib import Path

# /proc/net/tcp's state of a listening socket.
_LISTEN = "0A"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def listening_in_group(pgid: int) -> set[tuple[Address, int]]:
    """(address, port) of every listening TCP socket held by a process of process group `pgid`."""
    inodes = {inode for pid in _group(pgid) for inode in _socket_inodes(pid)}
    return {(address, port) for address, port, inode in _listening() if inode in inodes}


def is_loopback(address: Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def _group(pgid: int) -> list[Path]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == pgid:
            members.append(stat.parent)
    return members


def _socket_inodes(process: Path) -> set[str]:
    inodes = set()
    try:
        for fd in (process / "fd").iterdir():
            target = str(fd.readlink())
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    except OSError:  # gone meanwhile
        pass
    return inodes


def _listening() -> list[tuple[Address, int, str]]:
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == _LISTEN:
                hex_address, hex_port = fields[1].split(":")
                found.append((_address(hex_address), int(hex_port, 16), fields[9]))
    return found


def _address(hex_address: str) -> Address:
    # The kernel prints each 32-bit word of the address in host (little-endian) order.
    raw = b"".join(bytes.fromhex(hex_address[i : i + 8])[::-1] for i in range(0, len(hex_address), 8))
    return ipaddress.ip_address(raw)
