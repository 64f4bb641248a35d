"""The worker's log as an operator reads it off a file or a pipe: our one format, no colour codes, and
none of FastStream's per-task noise."""

import io
import logging
import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.logs import configure_logging
from domain.settings import Settings
from tests.support import ACTIVATE, BODY, add_package, asgi_client
from worker.app import create_app as create_worker

# domain/logs.py's text format: time, level, logger, message.
OUR_FORMAT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) +[\w.]+: ")


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """The worker's own log set-up, into a file that is not a terminal (the root logger's handlers are
    replaced: pytest's are put back after)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_a_worker_logs_plain_lines_in_our_format(
    settings: Settings, engine: AsyncEngine, log: io.StringIO, capfd: pytest.CaptureFixture[str]
) -> None:
    from ingress.app import create_app as create_ingress

    await add_package(engine, active=False)
    ingress = create_ingress(settings)
    worker = create_worker(settings, consumer=f"test-{uuid.uuid4().hex[:8]}")
    async with worker, ingress.lifespan(), asgi_client(ingress) as client:
        assert (await client.post(ACTIVATE, json=BODY)).status_code == 200
    # Nothing of FastStream's own logger (colours) on stderr; everything through ours.
    assert "\x1b[" not in capfd.readouterr().err
    err = log.getvalue()
    lines = err.splitlines()
    assert any(" INFO    worker.partitions: took incident partitions " in line for line in lines), err
    assert [line for line in lines if not OUR_FORMAT.match(line)] == []
    assert "\x1b[" not in err
    assert not [line for line in lines if "callback for Task" in line]
