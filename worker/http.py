"""The worker's own `/health` and `/metrics` (SPEC §2.4), served when LIVESCORE_WORKER_PORT is set.

Not FastStream's `AsgiFastStream`: it serves routes only when uvicorn runs the whole app, which would
then own the worker's signals and its stop sequence (stop reading, finish the batch in hand, apply this
worker's own pending entries, close). The worker keeps FastStream's own runner, which `livescore dev`
and the tests drive directly, and serves these two routes with prometheus-client's ASGI app on a small
uvicorn server beside it.
"""

import asyncio
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from prometheus_client import make_asgi_app

from domain.http_server import ConnectionLimits, bounded_config

_metrics = make_asgi_app()
_HEALTHY = json.dumps({"status": "ok"}).encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """/health answers while the process runs; everything else is the Prometheus exposition."""
    if scope["type"] == "http" and scope["path"] == "/health":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    # Said up front, as the ingress does: a keep-alive client needs no chunked reading.
                    (b"content-length", str(len(_HEALTHY)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _HEALTHY})
        return
    await _metrics(scope, receive, send)


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling: FastStream owns the process's signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class OperationsServer:
    host: str
    port: int
    # The ingress's limits on stalled and idle connections.
    limits: ConnectionLimits
    _server: _Server | None = field(default=None, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> None:
        config = bounded_config(app, self.host, self.port, self.limits, lifespan="off")
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(), name="operations-http")

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
