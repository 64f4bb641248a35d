"""A throwaway PostgreSQL server that a test starts, stops and starts again.

The binaries come from the `pgserver` wheel (a test dependency), so this needs nothing installed on the
machine, like the embedded Valkey. The server listens on 127.0.0.1 only, with trust authentication, and
keeps its data in a temporary directory removed by `close()`. PostgreSQL refuses to run as root: under
root the server runs as `nobody`, from a copy of the binaries in that directory (the virtualenv may sit
where `nobody` cannot read).

Also a statement run on the PostgreSQL server that LIVESCORE_TEST_DATABASE_URL names, for the session's
database (conftest's `database_template`).
"""

import asyncio
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import free_port

# Ends every other connection to the current database (see conftest's `database_url`).
END_OTHER_SESSIONS = """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()"""


def postgres_admin(server: str, statement: str) -> None:
    """Run one statement on a PostgreSQL server, outside a transaction (CREATE or DROP DATABASE)."""

    async def run() -> None:
        engine = create_async_engine(server, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(run())


START_TIMEOUT_S = 30.0


def _installation() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver wheel is not installed: pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


class ThrowawayPostgres:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="livescore-pg-"))
        self.port = free_port()
        self.data = self.base / "data"
        self._user = "nobody" if os.geteuid() == 0 else None
        install = _installation()
        if self._user:
            # The binaries find their libraries at $ORIGIN/../../../pgserver.libs: keep that layout.
            site = self.base / "site"
            shutil.copytree(install.parent.parent / "pgserver.libs", site / "pgserver.libs")
            for part in ("bin", "lib", "share"):
                shutil.copytree(install / part, site / "pgserver" / "pginstall" / part, symlinks=True)
            install = site / "pgserver" / "pginstall"
            self.base.chmod(0o755)
            for path in [self.base, *self.base.rglob("*")]:
                os.chown(path, 65534, 65534, follow_symlinks=False)
        self._bin = install / "bin"
        self._process: subprocess.Popen[bytes] | None = None
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    @property
    def _listen(self) -> list[str]:
        return ["-h", "127.0.0.1", "-k", str(self.base), "-c", "fsync=off"]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        # fsync off: the data is thrown away; the test is about the connection, not durability.
        self._process = subprocess.Popen(
            [str(self._bin / "postgres"), "-D", str(self.data), "-p", str(self.port), *self._listen],
            user=self._user,
            cwd=self.base,
            stdout=subprocess.DEVNULL,
            stderr=(self.base / "server.log").open("ab"),
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while subprocess.run(
            [str(self._bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False
        ).returncode:
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {(self.base / 'server.log').read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as when a database server goes away."""
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            self._process.wait(timeout=START_TIMEOUT_S)
        self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self._bin / program), *args], user=self._user, cwd=self.base, check=True, capture_output=True
        )
