"""Redis behind Sentinel on this machine (SPEC §11): for `livescore dev --cluster`, the benchmarks and the
tests. A primary, two replicas and three sentinels of Debian's `redis-server` (7.0; `redis-server conf
--sentinel` is a sentinel), each on a free port of 127.0.0.1 with its files under one directory, and timers
short enough that a failover takes a few seconds. Two replicas, so that after a failover `WAIT 1`
(LIVESCORE_REDIS_MIN_REPLICAS=1) still has a replica to count.

The tests keep nothing (no persistence; killed at the end). `dev` keeps its data (appendonly) and, started
again under the same directory, makes the node the sentinels named last the primary, so the newest data is
what the others copy.
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
from servers.rabbitmq_node import free_port

REDIS_SERVER = shutil.which("redis-server")
INSTALL_HINT = "apt-get install redis-server"
# The name the sentinels monitor the primary under.
MASTER = "livescore"
# The data nodes' names (their files: redis1.conf, redis1.log, …); which one is the primary changes.
NODES = ("redis1", "redis2", "redis3")
SENTINELS = 3
# A primary silent this long is down to a sentinel; Redis's default (30 s) would make every test wait.
DOWN_AFTER_MS = 1000
# A failover that has not finished within this is given up and tried again; the default is 3 minutes.
FAILOVER_TIMEOUT_MS = 5000
# Sentinels that must agree the primary is down: two of three, so one sentinel lost changes nothing.
QUORUM = 2
# Servers start in milliseconds (a persistent one loads its AOF first); sentinels find each other through
# the primary's hello channel every 2 s.
START_TIMEOUT_S = 20
# A failover here: DOWN_AFTER_MS, then an election and the promotion, about 2–4 s.
FAILOVER_WAIT_S = 30
# A server told to stop flushes its AOF and, as a primary, waits for lagging replicas (up to 10 s).
STOP_TIMEOUT_S = 15
POLL_S = 0.05


@dataclass
class Server:
    """One redis-server process (a data node or a sentinel)."""

    port: int
    popen: "subprocess.Popen[bytes]"
    name: str = ""

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

    def terminate(self) -> None:
        """SIGTERM, as a server is stopped: it writes out what it holds; killed if it has not in time."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class SentinelSetup:
    """The running servers; `primary` is the one the sentinels name now."""

    directory: Path
    persistent: bool = False
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
        """Without persistence, killed: nothing of theirs is kept, and a primary told to stop waits for its
        replicas first. With it, the sentinels stopped first (none may fail the primary over while it
        stops), then the servers, each writing out its data."""
        for server in self.sentinels + self.nodes:
            if self.persistent:
                server.terminate()
            else:
                server.kill()

    def logs(self) -> str:
        files = sorted(self.directory.glob("*.log"))
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')}" for p in files)


def start(directory: Path, persistent: bool = False, down_after_ms: int = DOWN_AFTER_MS) -> SentinelSetup:
    """A primary, two replicas (linked up) and three sentinels that know all of them and each other, their
    files under `directory` (made if missing). `persistent`: every server's data in an append-only file."""
    assert REDIS_SERVER is not None
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    setup = SentinelSetup(directory, persistent)
    try:
        _start_nodes(setup, _last_primary(directory))
        replicas = [node.port for node in setup.nodes if node.port != setup.nodes[0].port]
        ports = [free_port() for _ in range(SENTINELS)]
        known = list(zip(ports, [secrets.token_hex(20) for _ in ports], strict=True))
        timers = (down_after_ms, FAILOVER_TIMEOUT_MS)
        setup.sentinels += [
            _start_sentinel(directory, i, setup.nodes[0].port, replicas, known, timers)
            for i in range(SENTINELS)
        ]
        _wait(lambda: all(_knows_everyone(s) for s in setup.sentinels), "sentinels know each other", setup)
    except BaseException:
        setup.stop()
        raise
    setup.nodes.sort(key=lambda node: node.name)
    return setup


def _start_nodes(setup: SentinelSetup, primary_name: str) -> None:
    """The primary first, then the replicas of it, linked up; `setup.nodes` starts with the primary."""
    primary = _start_node(setup, primary_name, None)
    setup.nodes.append(primary)
    setup.nodes += [_start_node(setup, name, primary.port) for name in NODES if name != primary_name]
    _wait(lambda: all(_linked(node) for node in setup.nodes[1:]), "replicas linked to the primary", setup)


def _last_primary(directory: Path) -> str:
    """The node the sentinels of an earlier start under `directory` named last (they write the primary into
    their configuration at every failover); the first node in a new directory."""
    names = {_setting(directory / f"{name}.conf", "port"): name for name in NODES}
    names.pop("", None)  # nodes not started before
    named = [_monitored(conf) for conf in directory.glob("sentinel*.conf")]
    epoch_and_port = max((pair for pair in named if pair[1] in names), default=None)
    return names[epoch_and_port[1]] if epoch_and_port else NODES[0]


def _monitored(conf: Path) -> tuple[int, str]:
    """(config epoch, port) of the primary a sentinel's configuration file names."""
    monitor = _setting(conf, f"sentinel monitor {MASTER}").split()
    epoch = _setting(conf, f"sentinel config-epoch {MASTER}")
    return (int(epoch) if epoch.isdigit() else 0, monitor[1] if len(monitor) > 1 else "")


def _setting(conf: Path, key: str) -> str:
    """What follows `key` on its line of a configuration file; "" when the file or the line is missing."""
    lines = conf.read_text().splitlines() if conf.exists() else []
    return next((line[len(key) :].strip() for line in lines if line.startswith(f"{key} ")), "")


def _start_node(setup: SentinelSetup, name: str, primary_port: int | None) -> Server:
    port = free_port()
    lines = [
        f"port {port}",
        "bind 127.0.0.1",
        f"dir {setup.directory}",
        f"logfile {setup.directory / name}.log",
        f"dbfilename {name}.rdb",
        *_persistence(name, setup.persistent),
        # A replica's full sync starts at once, not after the default 5 s wait for other replicas.
        "repl-diskless-sync-delay 0",
    ]
    if primary_port is not None:
        lines.append(f"replicaof 127.0.0.1 {primary_port}")
    return _spawn(setup.directory / f"{name}.conf", lines, port, name)


def _persistence(name: str, persistent: bool) -> list[str]:
    if not persistent:
        # Nothing on disk: what survives the primary's loss is what reached a replica, as in production.
        return ['save ""', "appendonly no"]
    # Commands are the system of record until applied, so they survive a restart of `dev` (as its
    # embedded server's do); one append-only directory per node, since they share `dir`.
    return ['save ""', "appendonly yes", f"appenddirname {name}.aof"]


def _start_sentinel(
    directory: Path,
    number: int,
    primary_port: int,
    replicas: list[int],
    sentinels: list[tuple[int, str]],
    timers: tuple[int, int],
) -> Server:
    """Sentinel `number` of `sentinels` (port, id), told of the replicas and the other sentinels up front:
    left to find them, they take about 7 s (hello messages every 2 s, INFO every 10 s). `timers`: down
    after, failover timeout (ms)."""
    port, own_id = sentinels[number]
    down_after_ms, failover_timeout_ms = timers
    lines = [
        f"port {port}",
        "bind 127.0.0.1",
        f"dir {directory}",
        f"logfile {directory}/sentinel{number}.log",
        f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} {QUORUM}",
        f"sentinel down-after-milliseconds {MASTER} {down_after_ms}",
        f"sentinel failover-timeout {MASTER} {failover_timeout_ms}",
        f"sentinel parallel-syncs {MASTER} 1",
        f"sentinel myid {own_id}",
    ]
    lines += [f"sentinel known-replica {MASTER} 127.0.0.1 {replica}" for replica in replicas]
    others = [(p, i) for p, i in sentinels if p != port]
    lines += [f"sentinel known-sentinel {MASTER} 127.0.0.1 {p} {i}" for p, i in others]
    return _spawn(directory / f"sentinel{number}.conf", lines, port, f"sentinel{number}", "--sentinel")


def _spawn(config: Path, lines: list[str], port: int, name: str, *flags: str) -> Server:
    # A sentinel rewrites its configuration file as it learns: one writable file each.
    config.write_text("\n".join(lines) + "\n")
    assert REDIS_SERVER is not None
    # A session of its own: Ctrl-C in `dev`'s terminal does not reach it, so Redis outlives the worker
    # finishing its commands and is stopped last, by `dev` itself.
    popen = subprocess.Popen(  # noqa: S603 - Debian's server, with a configuration of our own
        [REDIS_SERVER, str(config), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = Server(port, popen, name)
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
