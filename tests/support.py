"""What several test modules share: the test package and its requests, waiting for a condition, an app run
in this event loop and its HTTP client, the commands stream and the packages' queues as the tests see them,
and checks of what must never show.

Fixtures are in conftest.py; the fixtures' factory (fixture_factory.py) makes fixtures of the sports kind.
"""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, cast

import httpx
import msgspec
import pytest
from litestar import Litestar
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner, Result

from cli.main import app as cli_app
from delivery.redis_streams import RedisStreamsDelivery
from domain import packages
from domain.commands import StreamId
from domain.fixture_store import store_fixtures
from domain.fixtures import Fixture, encode_fixture
from domain.messages import MESSAGE_FIELD, MessageType, envelope
from domain.models import Package
from domain.package_view import PackageView
from domain.scoreboard import Scoreboard, apply_incident, start
from domain.scoreboard_store import Delivered, appended_at, keep_round
from domain.settings import DEFAULT_SET_SPORTS, Settings
from domain.snapshot_book import SnapshotBook
from domain.streams import (
    COMMANDS_STREAM,
    FIXTURE_UPDATES_STREAM,
    INCIDENTS_STREAM,
    WORKERS_GROUP,
    fixtures_queue,
    incidents_queue,
)
from servers.rabbitmq_node import free_port as free_port  # one way to find a free port, shared with the CLI
from tests.fixture_factory import BEGAN, TENNIS, fixture, incident
from worker.entries import Entry
from worker.resources import Resources

# The package most tests use; conftest's `package` fixture adds it, inactive.
PACKAGE_ID, USERNAME, PASSWORD = 123, "user@example.com", "secret"
# The body that authenticates as it.
BODY = {"packageId": PACKAGE_ID, "username": USERNAME, "password": PASSWORD}

STATUS = "/api/livescore/package/status"
LIVE = "/api/livescore/fixtures/live"
ACTIVATE = "/api/livescore/package/activate"
DEACTIVATE = "/api/livescore/package/deactivate"
TRIGGER = "/api/livescore/snapshots/trigger"
RECOVER = "/api/livescore/recovery/trigger"

# How often a condition is checked while waiting.
POLL_S = 0.05


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 15, what: str = "the condition"
) -> None:
    """Wait until `check` holds, for what another task or process does, no longer than needed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def asgi_client(app: Litestar, address: str = "203.0.113.7") -> httpx.AsyncClient:
    """An HTTP client that talks to the app in this event loop, as a client at `address`."""
    transport = httpx.ASGITransport(app=cast(Any, app), client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://ingress")


async def hold(context: AbstractAsyncContextManager[Any]) -> AsyncIterator[None]:
    """Enter and exit a context in one task of its own.

    pytest-asyncio sets a fixture up and tears it down in different tasks, which anyio's cancel scopes
    (Litestar's lifespan, FastStream's app) refuse.
    """
    entered, release = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with context:
            entered.set()
            await release.wait()

    task = asyncio.create_task(run())
    waiter = asyncio.create_task(entered.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()
    yield
    release.set()
    await task


def server_missing(reason: str) -> NoReturn:
    """A test's server is not installed here: skipped on a developer's machine, a failure where
    LIVESCORE_REQUIRE_SERVERS=1 (CI, which installs every server the tests start)."""
    if os.environ.get("LIVESCORE_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{reason}, and LIVESCORE_REQUIRE_SERVERS=1 requires it")
    pytest.skip(reason)


@dataclass(frozen=True)
class Cli:
    """The `livescore` command line with a test's settings (conftest's `cli` fixture)."""

    settings: Settings

    async def __call__(self, *args: str) -> Result:
        """In a thread: the CLI runs an event loop of its own, which cannot nest in the test's."""

        def invoke() -> Result:
            return CliRunner().invoke(cli_app, list(args), obj=self.settings)

        return await asyncio.to_thread(invoke)

    async def output(self, *args: str) -> str:
        """What it printed, once it succeeded."""
        result = await self(*args)
        assert result.exit_code == 0, result.output
        return result.output


async def add_package(
    engine: AsyncEngine, package_id: int = PACKAGE_ID, *, active: bool = True, **subscriptions: Any
) -> dict[str, Any]:
    """A package, active unless told otherwise; the body that authenticates as it (BODY for PACKAGE_ID)."""
    username, password = (USERNAME, PASSWORD) if package_id == PACKAGE_ID else (f"u{package_id}", "pw")
    async with engine.begin() as conn:
        await packages.add_package(conn, package_id, username, password, active=active, **subscriptions)
    return {"packageId": package_id, "username": username, "password": password}


async def stored_package(engine: AsyncEngine, package_id: int = PACKAGE_ID) -> Any:
    """The package's row in storage."""
    async with engine.connect() as conn:
        query = select(Package).where(Package.id == package_id)  # type: ignore[arg-type]
        return (await conn.execute(query)).one()


async def add_fixtures(engine: AsyncEngine, fixtures: list[Fixture]) -> None:
    async with engine.begin() as conn:
        await store_fixtures(conn, fixtures)


def worker_resources(
    settings: Settings, engine: AsyncEngine, redis: Redis, consumer: str = "tester", queue_limit: int = 100
) -> Resources:
    """What a worker's handlers work with, over the test's own connections."""
    delivery = RedisStreamsDelivery(redis, queue_limit, 1000)
    return Resources(settings, consumer, redis, engine, PackageView(redis), delivery, SnapshotBook(redis))


async def append_command(redis: Redis, fields: dict[str, str]) -> bytes:
    """Append a command as the ingress would; its entry id."""
    entry_id: Any = await redis.xadd(COMMANDS_STREAM, cast(Any, fields))
    return bytes(entry_id)


async def append_commands(redis: Redis, commands: Sequence[dict[str, str]]) -> None:
    """Append commands in one round trip, with nobody waiting for their outcome."""
    pipe = redis.pipeline(transaction=False)
    for fields in commands:
        pipe.xadd(COMMANDS_STREAM, cast(Any, fields))
    await pipe.execute()


async def read_commands(redis: Redis, consumer: str = "tester") -> list[Entry]:
    """Deliver everything new to one consumer, as the worker's subscriber would."""
    reply: Any = await redis.xreadgroup(WORKERS_GROUP, consumer, {COMMANDS_STREAM: ">"})
    return [(entry_id, fields) for _, entries in reply for entry_id, fields in entries]


async def pending_commands(redis: Redis) -> int:
    """Commands delivered to the workers' group and not acknowledged."""
    return int((await redis.xpending(COMMANDS_STREAM, WORKERS_GROUP))["pending"])


async def publish_update(redis: Redis, update: Fixture) -> None:
    """A fixture update as the feed sends it."""
    message = envelope(MessageType.FIXTURE, encode_fixture(update)).body
    await redis.xadd(FIXTURE_UPDATES_STREAM, {MESSAGE_FIELD: message})


class Header(msgspec.Struct):
    MessageId: str
    Timestamp: str
    MessageType: int
    RequestId: str | None = None


class Message(msgspec.Struct):
    header: Header
    body: dict[str, Any]


async def queue_messages(redis: Redis, package_id: int = PACKAGE_ID) -> list[Message]:
    """Every message in the package's fixtures queue, each checked to be the one field SPEC §4 names."""
    entries: Any = await redis.xrange(fixtures_queue(package_id))
    assert all(list(fields) == [MESSAGE_FIELD.encode()] for _, fields in entries)
    return [msgspec.json.decode(fields[MESSAGE_FIELD.encode()], type=Message) for _, fields in entries]


async def trigger_snapshot(client: httpx.AsyncClient, body: dict[str, Any] = BODY) -> str:
    """Trigger a snapshot over HTTP; its requestId."""
    response = await client.post(TRIGGER, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["message"] == "Livescore snapshot request sent successfully"
    return str(answer["requestId"])


async def until_complete(redis: Redis, request_id: str, timeout_s: float = 10) -> list[Message]:
    """The queue's messages once the completion of this snapshot is among them."""
    messages: list[Message] = []

    async def complete() -> bool:
        messages[:] = await queue_messages(redis)
        return any(m.header.MessageType == 100 and m.header.RequestId == request_id for m in messages)

    await eventually(complete, timeout_s, f"snapshot {request_id} complete")
    return messages


def assert_spec_failure(response: httpx.Response, message: str) -> None:
    """SPEC §2.3's 500 body, naming the package, with nothing internal in it."""
    assert response.status_code == 500
    assert response.json() == {"success": False, "message": message, "packageId": PACKAGE_ID}
    for leak in ["Traceback", "SELECT", "sqlite", "redis://", "127.0.0.1", 'File "', "secret", "Error("]:
        assert leak not in response.text


async def dump_redis(redis: Any) -> bytes:
    """Every key name and value in the database, streams entry by entry."""
    parts: list[bytes] = []
    async for key in redis.scan_iter():
        parts.append(key)
        kind = (await redis.type(key)).decode()
        if kind == "stream":
            parts += [repr(e).encode() for e in await redis.xrange(key)]
        elif kind == "hash":
            parts.append(repr(await redis.hgetall(key)).encode())
        elif kind == "string":
            parts.append(await redis.get(key) or b"")
    return b"\n".join(parts)


async def publish_incident(redis: Redis, body: Any) -> bytes:
    """Append an incident to the feed's stream as the feed does (a body that is not a dict goes as is)."""
    data = msgspec.json.encode(body) if isinstance(body, dict) else body
    message = envelope(MessageType.INCIDENT, data).body
    entry_id: Any = await redis.xadd(INCIDENTS_STREAM, {"message": message})
    return bytes(entry_id)


async def incidents_queue_messages(redis: Redis, package_id: int = PACKAGE_ID) -> list[dict[str, Any]]:
    """Every message in the package's incidents queue, decoded as plain JSON (headers vary by type)."""
    entries: Any = await redis.xrange(incidents_queue(package_id))
    return [msgspec.json.decode(fields[MESSAGE_FIELD.encode()]) for _, fields in entries]


async def recovery_done(redis: Redis, request_id: str, package_id: int = PACKAGE_ID) -> list[dict[str, Any]]:
    """The package's incidents queue once the completion (MessageType 101) of this recovery is in it."""
    messages: list[dict[str, Any]] = []

    async def done() -> bool:
        messages[:] = await incidents_queue_messages(redis, package_id)
        return any(
            m["header"]["MessageType"] == 101 and m["body"]["requestId"] == request_id for m in messages
        )

    await eventually(done, 20, f"recovery {request_id} complete")
    return messages


async def keep_incidents(engine: AsyncEngine, history: Sequence[tuple[datetime, dict[str, Any]]]) -> None:
    """Incidents kept as a worker keeps them, as if appended upstream at these times (oldest first)."""
    kept = [
        Delivered(StreamId(int(at.timestamp() * 1000), n), body["fixtureId"], msgspec.json.encode(body))
        for n, (at, body) in enumerate(history)
    ]
    async with engine.begin() as conn:
        await conn.run_sync(keep_round, kept, ())


async def kept_history(engine: AsyncEngine) -> list[Any]:
    """Incidents of four fixtures kept 20, 15, 5 and 1 minutes ago: two subscribed fixtures in play, one
    of another sport, one finished."""
    now = datetime.now(UTC)
    fixtures = [
        fixture(1, status=2, last_update=BEGAN),
        fixture(18, status=2, last_update=BEGAN),
        fixture(3, status=2, sport=TENNIS, league=3001, last_update=BEGAN),
        fixture(4, status=3, last_update=BEGAN),
    ]
    await add_fixtures(engine, fixtures)
    ages = [20, 15, 5, 1]
    history = [
        (now - timedelta(minutes=age), incident(100 * f.fixture_id + n, f.fixture_id, values=[]))
        for f in fixtures
        for n, age in enumerate(ages)
    ]
    await keep_incidents(engine, sorted(history, key=lambda item: item[0]))
    return history


async def folded_from_the_stream(redis: Redis, fixtures: Sequence[Fixture]) -> dict[int, Scoreboard]:
    """Each fixture's scoreboard as the pure fold gives it from the incidents stream as it stands: its
    incidents in stream order, each at its entry's time (what a worker must store, however many run)."""
    boards = {f.fixture_id: start(f) for f in fixtures}
    entries: Any = await redis.xrange(INCIDENTS_STREAM)
    for entry_id, fields in entries:
        body = msgspec.json.decode(fields[MESSAGE_FIELD.encode()])["body"]
        board = boards[body["fixtureId"]]
        boards[body["fixtureId"]] = apply_incident(board, body, appended_at(StreamId.parse(entry_id)))
    return {fixture_id: board for fixture_id, board in boards.items() if board.last_incident_id is not None}


# The console as a browser on its own origin reaches it: over https, so that its Secure cookie travels.
CONSOLE_ORIGIN = "https://ingress"


def console_browser(app: Any, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """An HTTP client talking to the app in this event loop as a page of the console's own origin does
    (its Origin header on every request); `headers` adds or replaces some."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    sent = {"origin": CONSOLE_ORIGIN, **(headers or {})}
    return httpx.AsyncClient(transport=transport, base_url=CONSOLE_ORIGIN, headers=sent)


async def console_sign_in(browser: httpx.AsyncClient, body: dict[str, Any] = BODY) -> httpx.Response:
    return await browser.post("/console/sign-in", json=body)


@asynccontextmanager
async def serving(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """The app (its lifespan entered by the caller) served over real HTTP on 127.0.0.1 (on `port`, or a
    free one) from this event loop, for what an in-process transport cannot do (a stream that never ends,
    a real browser); its base URL."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await eventually(started, what="the test's HTTP server to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def keep_incident(engine: AsyncEngine, n: int, body: dict[str, Any]) -> None:
    """An incident applied to the live state (kept, folded into its board) as a worker's round does, with
    the `n`th stream id of a fixed time."""
    entry = Delivered(StreamId(1_900_000_000_000 + n, 0), body["fixtureId"], msgspec.json.encode(body))
    async with engine.begin() as conn:
        await conn.run_sync(keep_round, [entry], DEFAULT_SET_SPORTS)
