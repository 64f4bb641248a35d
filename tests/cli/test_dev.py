"""`livescore dev`'s checks before it starts anything, and the note of where its servers are, through the
real `livescore` entry point; the Redis half of `dev --cluster` (Redis behind Sentinel), started alone."""

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from cli.dev import livescore_command
from cli.dev_servers import start_sentinels
from cli.listeners import listener_of
from domain.settings import Settings, sentinel_nodes
from domain.streams import fixtures_queue
from servers import redis_sentinels
from servers.redis_sentinels import NODES
from tests.support import free_port, server_missing


def livescore(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "PORT"}}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_taken_port_is_refused_before_anything_starts_naming_its_process(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = livescore("dev", "--port", str(port), "--no-simulate", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"livescore: port {port} is taken by PID {os.getpid()} ({' '.join(_command_line())[:80]}); "
        f"stop it, or run `{livescore_command(tmp_path)} dev --port {port + 1}`"
    ]
    assert not (tmp_path / ".livescore").exists()  # no embedded server was started


def _command_line() -> list[str]:
    return Path(f"/proc/{os.getpid()}/cmdline").read_bytes().decode().strip("\0").split("\0")


async def test_the_command_in_a_dev_folder_reads_the_servers_dev_noted(
    tmp_path: Path, settings: Settings, redis: Redis
) -> None:
    await redis.xadd(fixtures_queue(9), {"message": json.dumps({"n": 1})})
    note = tmp_path / ".livescore" / "env"
    note.parent.mkdir()
    # This process stands for the running `dev` that wrote the note.
    note.write_text(f"LIVESCORE_DEV_PID={os.getpid()}\nREDIS_URL={settings.redis_url}\n")
    read = livescore("queue", "read", "--package", "9", cwd=tmp_path)
    assert read.returncode == 0, read.stderr
    assert [json.loads(line) for line in read.stdout.splitlines()] == [{"n": 1}]


def test_a_note_left_by_a_dev_that_stopped_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    note = tmp_path / ".livescore" / "env"
    note.parent.mkdir()
    note.write_text(f"LIVESCORE_DEV_PID={gone.stdout.strip()}\nREDIS_URL=redis://127.0.0.1:1/0\n")
    from cli.dev_state import noted_environment

    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert noted_environment() == {}
    finally:
        os.chdir(cwd)


def test_the_note_and_its_folder_are_the_owner_s_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The note holds the service's AMQP password and the management API's."""
    from cli.dev_state import ENV_FILE, STATE_DIR, write_note

    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    try:
        STATE_DIR.mkdir(mode=0o755)
        ENV_FILE.write_text("an earlier note, readable by all\n")
        write_note({"LIVESCORE_AMQP_URL": "amqp://svc:pw@127.0.0.1:1/"}, ["LIVESCORE_AMQP_URL"])
    finally:
        os.umask(old)
    assert stat.S_IMODE(ENV_FILE.stat().st_mode) == 0o600
    assert stat.S_IMODE(STATE_DIR.stat().st_mode) == 0o700
    assert "LIVESCORE_AMQP_URL=amqp://svc:pw@127.0.0.1:1/" in ENV_FILE.read_text()


def test_db_upgrade_makes_a_new_sqlite_file_its_owner_s_alone(tmp_path: Path) -> None:
    """It holds the packages' Argon2 hashes."""
    upgraded = livescore("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{tmp_path}/new.db"})
    assert upgraded.returncode == 0, upgraded.stderr
    assert stat.S_IMODE((tmp_path / "new.db").stat().st_mode) == 0o600


# Start-up of `dev` with the embedded Valkey: seconds, longer on a loaded machine.
DEV_START_TIMEOUT_S = 90
# What the banner says last before the commands to read the customer's queue.
BANNER_END = "metrics: http://127.0.0.1:"


def test_every_command_the_banner_prints_runs_as_printed_in_a_shell_without_the_venv(tmp_path: Path) -> None:
    """As the README has it: installed into .venv, nothing activated, `.venv/bin/livescore dev` run."""
    venv_bin = Path(sys.executable).parent
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != venv_bin)
    clean = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "PORT"}}
    env = {**clean, "PATH": path}
    port, log = free_port(), tmp_path / "dev.log"
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [str(venv_bin / "livescore"), "dev", "--no-simulate", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        banner = _banner(log, dev)
        commands = [line.strip() for line in banner.splitlines() if line.startswith("  ")]
        assert [c.split()[0] for c in commands] == ["curl", "curl", str(venv_bin / "livescore")], banner
        assert f"customer console (sign in as the demo package): http://127.0.0.1:{port}/console" in banner
        for command in commands:
            # As printed, through a shell: its quoting is part of what is tested.
            ran = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)  # noqa: S602
            assert ran.returncode == 0, (command, ran.stdout, ran.stderr)
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        dev.wait(60)


def _banner(log: Path, dev: "subprocess.Popen[bytes]") -> str:
    deadline = time.monotonic() + DEV_START_TIMEOUT_S
    while time.monotonic() < deadline and dev.poll() is None:
        text = log.read_text(errors="replace")
        if BANNER_END in text:
            return text.split("livescore is running on", 1)[1]
        time.sleep(0.2)
    raise AssertionError(f"no banner:\n{log.read_text(errors='replace')}")


@pytest.mark.cluster
def test_the_redis_half_of_cluster_is_a_primary_with_replicas_behind_sentinels_printed_to_kill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if redis_sentinels.REDIS_SERVER is None:
        server_missing(f"no redis-server on this machine ({redis_sentinels.INSTALL_HINT})")
    with ExitStack() as stack:
        env = start_sentinels(stack, Settings(port=8123), base=tmp_path)
        sentinels = sentinel_nodes(env["REDIS_SENTINELS"])
        with redis.Redis(*sentinels[0]) as sentinel:
            _, port = sentinel.sentinel_get_master_addr_by_name(env["REDIS_SENTINEL_MASTER"])
        holder = listener_of(port)
    assert len(sentinels) == 3
    assert env["LIVESCORE_REDIS_MIN_REPLICAS"] == "1"
    banner = capsys.readouterr().out
    pid = re.search(r"kill the primary with: kill -9 (\d+);", banner)
    assert pid, banner
    assert holder is not None
    assert holder.startswith(f"PID {pid[1]} "), (holder, banner)
    assert "curl -s http://127.0.0.1:8123/ready shows (redisPrimary)" in banner
    # Stopped with the stack, its data kept for the next `dev`.
    assert listener_of(port) is None
    assert all((tmp_path / "redis-sentinel" / f"{name}.aof").is_dir() for name in NODES)


def test_cluster_without_redis_server_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_sentinels, "REDIS_SERVER", None)
    with ExitStack() as stack, pytest.raises(SystemExit, match="apt-get install redis-server"):
        start_sentinels(stack, Settings())
