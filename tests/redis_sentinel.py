"""Redis behind Sentinel on this machine, for the tests of SPEC §11: a primary, two replicas and three
sentinels of Debian's `redis-server` (7.0; `redis-server conf --sentinel` is a sentinel), each on a free
port of 127.0.0.1 with its files under a directory of the test's own, and timers short enough that a
failover takes a few seconds. The conftest fixture `redis_sentinels` starts one per test and stops it.
"""

import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from domain.connections import RedisAddress
from tests.support import free_port

REDIS_SERVER = shutil.which("redis-server")
# The name the sentinels monitor the primary under.
MASTER = "livescore"
# A primary silent this long is down to a sentinel; Redis's default (30 s) would make every test wait.
DOWN_AFTER_MS = 1000
# A failover that has not finished within this is given up and tried again; the default is 3 minutes.
FAILOVER_TIMEOUT_MS = 5000
# Sentinels that must agree the primary is down: two of three, so one sentinel lost changes nothing.
QUORUM = 2
# Servers start in milliseconds; sentinels find each other through the primary's hello channel every 2 s.
START_TIMEOUT_S = 20
# A failover here: DOWN_AFTER_MS, then an election and the promotion, about 2–4 s.
FAILOVER_WAIT_S = 30
POLL_S = 0.05


@dataclass
class Server:
    """One redis-server process (a data node or a sentinel)."""

    port: int
    popen: "subprocess.Popen[bytes]"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def freeze(self) -> None:
        """SIGSTOP: a machine cut off from the others; its clients' connections stay open, unanswered."""
        self.popen.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.popen.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the machine lost, nothing written out, no goodbye to anybody."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()


@dataclass
class SentinelSetup:
    """The running servers; `primary` is the one the sentinels name now."""

    directory: Path
    nodes: list[Server] = field(default_factory=list)
    sentinels: list[Server] = field(default_factory=list)

    @property
    def sentinel_list(self) -> str:
        """REDIS_SENTINELS for the service."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    @property
    def address(self) -> RedisAddress:
        return RedisAddress("redis://", tuple(("127.0.0.1", s.port) for s in self.sentinels), MASTER)

    @property
    def env(self) -> dict[str, str]:
        return {"REDIS_SENTINELS": self.sentinel_list, "REDIS_SENTINEL_MASTER": MASTER}

    def primary_port(self) -> int:
        """The primary as the first sentinel that answers names it."""
        for sentinel in self.sentinels:
            try:
                with sentinel.client() as client:
                    host_port = client.sentinel_get_master_addr_by_name(MASTER)
            except redis.RedisError:
                continue
            if host_port:
                return int(host_port[1])
        raise AssertionError("no sentinel names a primary")

    def primary(self) -> Server:
        port = self.primary_port()
        return next(node for node in self.nodes if node.port == port)

    def kill_primary(self) -> Server:
        """kill -9 the current primary; the server killed."""
        primary = self.primary()
        primary.kill()
        return primary

    def freeze_primary(self) -> Server:
        """Freeze the current primary (it comes back with `thaw`, still believing it is the primary)."""
        primary = self.primary()
        primary.freeze()
        return primary

    def wait_for_failover(self, old_port: int) -> int:
        """The new primary's port, once every sentinel names it, it accepts writes and every other replica
        replicates from it (a primary cut off and back before that would find a replica still its own)."""
        deadline = time.monotonic() + FAILOVER_WAIT_S
        while time.monotonic() < deadline:
            ports = {self._named_by(s) for s in self.sentinels if s.popen.poll() is None}
            if (
                len(ports) == 1
                and (port := ports.pop()) not in (old_port, None)
                and self._settled(port, old_port)
            ):
                return port
            time.sleep(POLL_S)
        raise AssertionError(f"no failover within {FAILOVER_WAIT_S} s:\n{self.logs()}")

    def _settled(self, port: int, old_port: int) -> bool:
        others = [n for n in self.nodes if n.port not in (port, old_port) and n.popen.poll() is None]
        return _writable(port) and all(_linked_to(n, port) for n in others)

    def _named_by(self, sentinel: Server) -> int | None:
        try:
            with sentinel.client() as client:
                host_port = client.sentinel_get_master_addr_by_name(MASTER)
        except redis.RedisError:
            return None
        return int(host_port[1]) if host_port else None

    def stop(self) -> None:
        """Killed: nothing of theirs is kept, and a primary told to stop waits for its replicas first."""
        for server in self.sentinels + self.nodes:
            server.kill()

    def logs(self) -> str:
        files = sorted(self.directory.glob("*.log"))
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')}" for p in files)


def start(directory: Path) -> SentinelSetup:
    """A primary, two replicas (linked up) and three sentinels that know all of them and each other."""
    assert REDIS_SERVER is not None
    setup = SentinelSetup(directory)
    try:
        primary = _start_node(directory, "primary", None)
        setup.nodes.append(primary)
        setup.nodes += [_start_node(directory, f"replica{i}", primary.port) for i in (1, 2)]
        _wait(lambda: all(_linked(node) for node in setup.nodes[1:]), "replicas linked to the primary", setup)
        ports = [free_port() for _ in range(3)]
        ids = [secrets.token_hex(20) for _ in ports]
        replicas = [node.port for node in setup.nodes[1:]]
        setup.sentinels += [
            _start_sentinel(directory, i, primary.port, replicas, list(zip(ports, ids, strict=True)))
            for i in range(3)
        ]
        _wait(lambda: all(_knows_everyone(s) for s in setup.sentinels), "sentinels know each other", setup)
    except BaseException:
        setup.stop()
        raise
    return setup


def _start_node(directory: Path, name: str, primary_port: int | None) -> Server:
    port = free_port()
    lines = [
        f"port {port}",
        "bind 127.0.0.1",
        f"dir {directory}",
        f"logfile {directory / name}.log",
        f"dbfilename {name}.rdb",
        # Nothing on disk: what survives the primary's loss is what reached a replica, as in production.
        'save ""',
        "appendonly no",
        # A replica's full sync starts at once, not after the default 5 s wait for other replicas.
        "repl-diskless-sync-delay 0",
    ]
    if primary_port is not None:
        lines.append(f"replicaof 127.0.0.1 {primary_port}")
    return _spawn(directory / f"{name}.conf", lines, port)


def _start_sentinel(
    directory: Path, number: int, primary_port: int, replicas: list[int], sentinels: list[tuple[int, str]]
) -> Server:
    """Sentinel `number` of `sentinels` (port, id), told of the replicas and the other sentinels up front:
    left to find them, they take about 7 s (hello messages every 2 s, INFO every 10 s)."""
    port, own_id = sentinels[number]
    lines = [
        f"port {port}",
        "bind 127.0.0.1",
        f"dir {directory}",
        f"logfile {directory}/sentinel{number}.log",
        f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} {QUORUM}",
        f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
        f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
        f"sentinel parallel-syncs {MASTER} 1",
        f"sentinel myid {own_id}",
    ]
    lines += [f"sentinel known-replica {MASTER} 127.0.0.1 {replica}" for replica in replicas]
    others = [(p, i) for p, i in sentinels if p != port]
    lines += [f"sentinel known-sentinel {MASTER} 127.0.0.1 {p} {i}" for p, i in others]
    return _spawn(directory / f"sentinel{number}.conf", lines, port, "--sentinel")


def _spawn(config: Path, lines: list[str], port: int, *flags: str) -> Server:
    # A sentinel rewrites its configuration file as it learns: one writable file each.
    config.write_text("\n".join(lines) + "\n")
    assert REDIS_SERVER is not None
    popen = subprocess.Popen(
        [REDIS_SERVER, str(config), *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Server(port, popen)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(server):
        if popen.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{config.stem} did not start: {config.with_suffix('.log').read_text()}")
        time.sleep(POLL_S)
    return server


def _answers(server: Server) -> bool:
    try:
        with server.client() as client:
            client.ping()
            return True
    except redis.RedisError:
        return False


def _linked(node: Server) -> bool:
    with node.client() as client:
        link: Any = client.info("replication").get("master_link_status")
        return bool(link == "up")


def _linked_to(node: Server, primary_port: int) -> bool:
    try:
        with node.client() as client:
            info: Any = client.info("replication")
    except redis.RedisError:
        return False
    return bool(info.get("master_port") == primary_port and info.get("master_link_status") == "up")


def _knows_everyone(sentinel: Server) -> bool:
    with sentinel.client() as client:
        state = client.sentinel_master(MASTER)
    return int(state["num-other-sentinels"]) == 2 and int(state["num-slaves"]) == 2


def _writable(port: int) -> bool:
    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client:
            role: Any = client.info("replication")["role"]
            return bool(role == "master")
    except redis.RedisError:
        return False


def _wait(check: Callable[[], bool], what: str, setup: SentinelSetup) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(POLL_S)
    raise AssertionError(f"not within {START_TIMEOUT_S} s: {what}\n{setup.logs()}")
