"""`livescore watch` ends a match day showing what `livescore simulate` called full time (SPEC §12).

Real processes over Redis streams delivery: a worker, an ingress, `livescore simulate` playing a seeded
match day fast, and `livescore watch` started once the package's activation answered 200 — halfway
through the day, every match in play, so the watch knows the earlier goals only from the live state
(read from storage when it starts; the initial image, being built elsewhere, will put the same on the
queue). When the day is over, the watch's final frame must show every match finished (FT) with the
simulator's full-time score, sets and all.
"""

import asyncio
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import msgspec
from redis.asyncio import Redis

from cli.match_day import Beat, match_day, pick_matches
from domain.fixtures import FixtureStatus
from domain.streams import INCIDENTS_STREAM, fixtures_queue, incidents_queue
from tests.e2e.processes import Processes, add_packages
from tests.support import ACTIVATE, eventually

PACKAGE, SEED, MATCHES = 31, 3, 8
# 500 match seconds per real second: the day (~12,000 match seconds) in about 25 s, and some 5 s between
# the activation (below) and the first final whistle for a loaded machine to start the watch in.
SPEED = 500
# The package is activated this many match seconds after the last kick-off: every match is in play and
# has a score, none is near its end.
AFTER_LAST_KICKOFF_S = 600
# Real seconds the watch has, after the activation, to start before the first final whistle.
WATCH_START_S = 4
# Wide enough that no name or score is cut short.
COLUMNS = 300
# The watch redraws every 0.25 s (cli/watch.py FRAME_S): this long after the last message it has drawn it.
SETTLE_S = 1.5
# Generous for a loaded 2-core machine, far below a hang.
DAY_TIMEOUT_S = 180
# A score as both draw it: "2–1", or for sports in sets "2–1 (6-4 3-6 6-3)".
SCORE = r"\d+–\d+(?: \([\d\- ]+\))?"
FULL_TIME = re.compile(rf"^full time  [^:]+: (?P<names>.+) (?P<score>{SCORE})$")


def _halfway(beats: list[Beat]) -> int:
    """How many incidents the day has appended when the package is activated."""
    last_kickoff = max(b.at_s for b in beats if b.status == FixtureStatus.IN_PROGRESS)
    first_whistle = min(b.at_s for b in beats if b.status == FixtureStatus.FINISHED)
    activate_at = last_kickoff + AFTER_LAST_KICKOFF_S
    assert activate_at < first_whistle - WATCH_START_S * SPEED, (
        "the seed's day leaves no time to start the watch"
    )
    return sum(1 for b in beats if b.incident is not None and b.at_s < activate_at)


def _spawn(processes: Processes, args: list[str], out: Path) -> "subprocess.Popen[bytes]":
    env = processes.env(COLUMNS=str(COLUMNS))
    with out.open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "cli", *args], env=env, stdout=log, stderr=log)


async def _at_least(redis: Redis, stream: str, count: int) -> bool:
    return int(await redis.xlen(stream)) >= count


async def _delivered_to_the_end(redis: Redis, beats: list[Beat]) -> bool:
    """Every match's last incident is in the package's incidents queue and its final whistle in its
    fixtures queue."""
    last_incidents = {b.fixture_id: b.incident.id for b in beats if b.incident is not None}
    incidents: Any = await redis.xrange(incidents_queue(PACKAGE))
    seen = {msgspec.json.decode(f[b"message"]).get("body", {}).get("id") for _, f in incidents}
    fixtures: Any = await redis.xrange(fixtures_queue(PACKAGE))
    bodies = [msgspec.json.decode(f[b"message"]).get("body") or {} for _, f in fixtures]
    finished = {b.get("fixtureId") for b in bodies if b.get("status") == FixtureStatus.FINISHED}
    return set(last_incidents.values()) <= seen and set(last_incidents) <= finished


def _full_time(output: str) -> dict[str, str]:
    """The simulator's full-time lines: the match's names → its final score."""
    lines = [FULL_TIME.match(line) for line in output.splitlines() if line.startswith("full time")]
    return {m["names"]: m["score"] for m in lines if m is not None}


def _final_frame(output: str, names: list[str]) -> dict[str, str]:
    """The rows of the watch's last frame: the match's names → the score drawn beside them, for rows
    marked FT (finished)."""
    frame = output[output.rfind(f"package {PACKAGE}: live") :]
    shown = {}
    for line in frame.splitlines():
        for match in names:
            found = re.search(rf"{re.escape(match)}\s+(?P<score>{SCORE})\s+FT\b", line)
            if found:
                shown[match] = found["score"]
    return shown


async def test_the_watch_s_final_frame_shows_the_simulator_s_full_time_scores(
    processes: Processes, redis: Redis, database_url: str, tmp_path: Path
) -> None:
    beats = match_day(pick_matches(MATCHES, SEED), SEED)
    bodies = await add_packages(database_url, [PACKAGE])
    await processes.worker()
    ingress = await processes.ingress()
    args = ["simulate", "--matches", str(MATCHES), "--speed", str(SPEED), "--seed", str(SEED)]
    simulating = _spawn(processes, args, tmp_path / "simulate.out")
    watching = None
    try:
        await eventually(lambda: _at_least(redis, INCIDENTS_STREAM, _halfway(beats)), 60, "halfway")
        async with httpx.AsyncClient(base_url=ingress.base_url, timeout=10) as client:
            assert (await client.post(ACTIVATE, json=bodies[PACKAGE])).status_code == 200
        watching = _spawn(processes, ["watch", "--package", str(PACKAGE)], tmp_path / "watch.out")
        # The premise: every match still in play once activated (else the machine was too slow for SPEED).
        assert "full time" not in (tmp_path / "simulate.out").read_text()
        assert await asyncio.to_thread(simulating.wait, DAY_TIMEOUT_S) == 0
        await eventually(lambda: _delivered_to_the_end(redis, beats), 60, "the day delivered to its end")
        await asyncio.sleep(SETTLE_S)
        assert watching.poll() is None, (tmp_path / "watch.out").read_text()
        watching.send_signal(signal.SIGINT)  # how a customer ends watching: the final frame is drawn
        assert await asyncio.to_thread(watching.wait, 20) == 0
    finally:
        for process in (simulating, watching):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    full_time = _full_time((tmp_path / "simulate.out").read_text())
    assert len(full_time) == MATCHES
    output = (tmp_path / "watch.out").read_text()
    assert _final_frame(output, list(full_time)) == full_time, output
