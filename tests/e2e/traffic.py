"""Clients that keep a spawned ingress busy while something goes wrong, and what each request was answered."""

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx

from tests.e2e.processes import Ingress

PATHS = {
    "activate": "/api/livescore/package/activate",
    "deactivate": "/api/livescore/package/deactivate",
    "status": "/api/livescore/package/status",
    "trigger": "/api/livescore/snapshots/trigger",
}
# The client's patience per request: well above the 5 s an activation waits for a worker before answering
# 202, so that every request gets the service's own answer.
HTTP_TIMEOUT_S = 30
# After an answer of the outage (5xx), or a connection the restarting ingress dropped: no need to hammer it.
PAUSE_S = 0.02


@dataclass(frozen=True)
class Answer:
    """One request and its answer; times by the wall clock, comparable with a command's requestedAt."""

    kind: str
    package_id: int
    status_code: int
    body: dict[str, Any]
    sent_at: float
    answered_at: float

    @property
    def success(self) -> bool:
        return self.status_code in (200, 202)


async def keep_sending(
    ingress: Ingress,
    bodies: dict[int, dict[str, Any]],
    requests: Iterator[tuple[str, int]],
    answers: list[Answer],
    stop: asyncio.Event,
    *,
    through_restarts: bool = False,
) -> None:
    """One client: the `requests` (a kind of PATHS, a package of `bodies`) one at a time, until told to
    stop. `through_restarts`: a dropped connection is no answer (nothing was promised) and a body that is
    not JSON is kept as text; otherwise either fails the client."""
    async with httpx.AsyncClient(base_url=ingress.base_url, timeout=HTTP_TIMEOUT_S) as client:
        while not stop.is_set():
            kind, package_id = next(requests)
            sent_at = time.time()
            try:
                response = await client.post(PATHS[kind], json=bodies[package_id])
            except httpx.TransportError:
                if not through_restarts:
                    raise
                await asyncio.sleep(PAUSE_S)
                continue
            body = _json(response) if through_restarts else response.json()
            answers.append(Answer(kind, package_id, response.status_code, body, sent_at, time.time()))
            if response.status_code >= 500:
                await asyncio.sleep(PAUSE_S)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        return cast(dict[str, Any], response.json())
    except ValueError:
        return {"text": response.text}
