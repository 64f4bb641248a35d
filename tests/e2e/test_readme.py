"""The README's snippets marked `<!-- runs against livescore dev -->` run as printed against a real ingress
and worker, on this test's Redis and database, with the demo package `livescore dev` creates.

The one change made to them: the ingress listens on a free port of the test's instead of 8000.
"""

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from tests.e2e.processes import Processes
from tests.fixture_factory import fixture
from tests.support import add_fixtures

README = Path(__file__).parents[2] / "README.md"
MARK = "<!-- runs against livescore dev -->"
# The demo package `livescore dev` creates on empty storage (cli/dev.py), as the snippets name it.
DEMO_ID, DEMO_USERNAME, DEMO_PASSWORD = 1001, "demo@example.com", "demo-password"
DEMO = {"packageId": DEMO_ID, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}
UPCOMING = [fixture(n) for n in range(1, 4)]
# How long the consumer is left with nothing to read: past redis-py's default socket timeout of 5 s.
QUIET_S = 5.5


def snippets(language: str) -> list[str]:
    """The marked fenced blocks of one language, in README order."""
    fence = re.compile(re.escape(MARK) + r"\n```" + language + r"\n(.*?)\n```", re.DOTALL)
    return fence.findall(README.read_text())


def commands_and_answers(script: str) -> list[tuple[str, str]]:
    """Each command line of a shell snippet with the answer printed below it as `# …` lines (joined)."""
    pairs: list[tuple[str, str]] = []
    for line in script.splitlines():
        if line.startswith("#"):
            command, answer = pairs[-1]
            pairs[-1] = (command, answer + line.lstrip("# "))
        else:
            pairs.append((line, ""))
    return pairs


def matches(answer: str, printed: str) -> bool:
    """Whether an answer is the one printed, where `…` in the README stands for anything."""
    return re.fullmatch(".*".join(map(re.escape, printed.split("…"))), answer) is not None


async def demo_package(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await packages.add_package(conn, DEMO_ID, DEMO_USERNAME, DEMO_PASSWORD)
    await add_fixtures(engine, UPCOMING)


async def test_the_curl_lines_answer_as_printed(processes: Processes, storage: AsyncEngine) -> None:
    await demo_package(storage)
    await processes.worker()
    ingress = await processes.ingress()
    (script,) = snippets("sh")
    prelude = ""
    for command, printed in commands_and_answers(
        script.replace("localhost:8000", f"127.0.0.1:{ingress.port}")
    ):
        if not command.startswith("curl"):
            prelude += command + "\n"
            continue
        answer = await asyncio.to_thread(
            subprocess.run, ["bash", "-c", prelude + command], capture_output=True, text=True, timeout=30
        )
        assert matches(answer.stdout, printed), f"{command}\nprinted: {printed}\nanswered: {answer.stdout}"


async def test_the_consumer_receives_a_whole_snapshot(
    processes: Processes, storage: AsyncEngine, redis_url: str
) -> None:
    await demo_package(storage)
    await processes.worker()
    ingress = await processes.ingress()
    (consumer,) = snippets("python")
    env = {**os.environ, "REDIS_URL": redis_url}
    reader = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        consumer,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # Quiet for longer than redis-py's default socket timeout (5 s), which used to end the loop.
        done = asyncio.create_task(reader.wait())
        assert not (await asyncio.wait([done], timeout=QUIET_S))[0], await reader.stderr.read()  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=ingress.base_url) as client:
            for path in ("package/activate", "snapshots/trigger"):
                assert (await client.post(f"/api/livescore/{path}", json=DEMO)).status_code == 200
        assert reader.stdout is not None
        line = await asyncio.wait_for(reader.stdout.readline(), timeout=15)
        assert line.decode() == f"snapshot complete: {len(UPCOMING)} fixtures\n"
        assert reader.returncode is None  # still reading, as a consumer does
    finally:
        if reader.returncode is None:
            reader.kill()
        await done
