"""Connections that do not deliver a request in time, or send an endless head, are closed by every HTTP
listener the service runs, each a real process: the ingress, broker-auth, and the worker's /health and
/metrics.

A client that connects and says nothing, or sends its request a byte at a time, would otherwise hold a
connection (and a file descriptor, and for a body a running request) for ever; one sending a head
without end would grow the process's memory as fast as it sends.
"""

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator

import pytest

from domain.http_server import MAX_HEAD_BYTES
from tests.e2e.processes import Ingress, Processes
from tests.support import free_port

# Short, so that the tests are quick; the default is 10 s.
TIMEOUT_S = 1
# How late a close may come on a loaded 2-core machine, yet far below "never".
MARGIN_S = 2
# LIVESCORE_KEEP_ALIVE_S of the tests that set it: above the request timeout, and so far below uvicorn's
# 5 s that a listener ignoring the setting fails the test.
KEEP_ALIVE_S = 2
# Slower than any real client, fast enough to keep the connection busy all the time.
TRICKLE_INTERVAL_S = 0.3
# Several at once: each connection has its own deadline.
CONNECTIONS = 5
BODY = b'{"packageId": 1, "username": "someone@example.com", "password": "p"}'
HEAD = (
    b"POST /api/livescore/package/status HTTP/1.1\r\nHost: ingress\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)
)
HEALTH = b"GET /health HTTP/1.1\r\nHost: ingress\r\n\r\n"

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def ingress(processes: Processes) -> Ingress:
    return await processes.ingress(LIVESCORE_REQUEST_TIMEOUT_S=str(TIMEOUT_S))


LISTENERS = ["ingress", "broker-auth", "worker"]


@pytest.fixture(params=LISTENERS)
async def listener(request: pytest.FixtureRequest, processes: Processes) -> Ingress:
    """One HTTP listener of the service, in its own process, once it answers /health."""
    return await start_listener(processes, request.param)


@pytest.fixture(params=LISTENERS)
async def keeping_listener(request: pytest.FixtureRequest, processes: Processes) -> Ingress:
    """One HTTP listener of the service, keeping idle connections KEEP_ALIVE_S."""
    return await start_listener(processes, request.param, LIVESCORE_KEEP_ALIVE_S=str(KEEP_ALIVE_S))


async def start_listener(processes: Processes, kind: str, **env: str) -> Ingress:
    env["LIVESCORE_REQUEST_TIMEOUT_S"] = str(TIMEOUT_S)
    if kind == "ingress":
        return await processes.ingress(**env)
    if kind == "broker-auth":
        return await processes.broker_auth(**env)
    port = free_port()
    worker = await processes.worker(LIVESCORE_WORKER_PORT=str(port), **env)
    served = Ingress("worker /metrics", worker.popen, worker.log_path, port)
    await processes.wait_for_ingress(served)
    return served


@contextlib.asynccontextmanager
async def connection(ingress: Ingress) -> AsyncIterator[Stream]:
    reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def trickle(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Send data a byte at a time, until it is all sent or the server has closed the connection."""
    with contextlib.suppress(ConnectionError):
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
            await asyncio.sleep(TRICKLE_INTERVAL_S)


async def seconds_until_closed(reader: asyncio.StreamReader, since: float) -> float:
    """Seconds from `since` until the server closes the connection (or the test's patience ends)."""
    with contextlib.suppress(ConnectionError, TimeoutError):
        while await asyncio.wait_for(reader.read(1024), TIMEOUT_S + MARGIN_S * 2):
            pass
    return time.monotonic() - since


async def closed_while(ingress: Ingress, sent_first: bytes, trickled: bytes) -> float:
    """How long a connection lives that sends `sent_first` at once, then `trickled` a byte at a time."""
    async with connection(ingress) as (reader, writer):
        start = time.monotonic()
        writer.write(sent_first)
        sender = asyncio.create_task(trickle(writer, trickled))
        try:
            return await seconds_until_closed(reader, start)
        finally:
            sender.cancel()


async def answer(stream: Stream, request: bytes) -> int:
    """Send a request and read its whole answer on a kept-alive connection; its status code."""
    reader, writer = stream
    writer.write(request)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S + MARGIN_S)
    length = re.search(rb"(?i)content-length: (\d+)", head)
    assert length, head
    await reader.readexactly(int(length[1]))
    return int(head.split()[1])


def assert_closed_in_time(lifetimes: list[float]) -> None:
    assert all(TIMEOUT_S * 0.9 <= seconds <= TIMEOUT_S + MARGIN_S for seconds in lifetimes), lifetimes


async def test_silent_connections_are_closed_after_the_request_timeout(listener: Ingress) -> None:
    lifetimes = await asyncio.gather(*(closed_while(listener, b"", b"") for _ in range(CONNECTIONS)))
    assert_closed_in_time(lifetimes)


async def test_connections_trickling_a_request_head_are_closed_after_the_request_timeout(
    listener: Ingress,
) -> None:
    lifetimes = await asyncio.gather(*(closed_while(listener, b"", HEAD) for _ in range(CONNECTIONS)))
    assert_closed_in_time(lifetimes)


async def test_connections_trickling_a_request_body_are_closed_after_the_request_timeout(
    listener: Ingress,
) -> None:
    lifetimes = await asyncio.gather(*(closed_while(listener, HEAD, BODY) for _ in range(CONNECTIONS)))
    assert_closed_in_time(lifetimes)


async def test_a_request_trickling_in_after_an_answered_one_is_closed_after_the_request_timeout(
    listener: Ingress,
) -> None:
    """uvicorn's own keep-alive timer stops at the next request's first byte; ours starts there."""
    async with connection(listener) as stream:
        assert await answer(stream, HEALTH) == 200
        await asyncio.sleep(TIMEOUT_S * 1.5)  # idle past the request timeout: the behaviour under test
        start = time.monotonic()
        sender = asyncio.create_task(trickle(stream[1], HEAD))
        try:
            lifetime = await seconds_until_closed(stream[0], start)
        finally:
            sender.cancel()
    assert_closed_in_time([lifetime])


async def test_a_keep_alive_client_pausing_between_requests_is_not_disturbed(ingress: Ingress) -> None:
    """Pauses longer than the request timeout and shorter than the keep-alive one (uvicorn's 5 s), and a
    body arriving a moment after its head, all on one connection."""
    async with connection(ingress) as stream:
        for _ in range(3):
            assert await answer(stream, HEALTH) == 200
            await asyncio.sleep(TIMEOUT_S * 1.5)  # the pauses are the behaviour under test
        stream[1].write(HEAD)
        await asyncio.sleep(TIMEOUT_S / 2)  # the body a moment after its head: the behaviour under test
        assert await answer(stream, BODY) == 400  # no such package: the body arrived and was read
        assert await answer(stream, HEALTH) == 200


async def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_setting(
    keeping_listener: Ingress,
) -> None:
    """Idle longer than the request timeout, and kept; then idle past LIVESCORE_KEEP_ALIVE_S, and closed
    then (behind a proxy that keeps its connections longer than uvicorn's 5 s, the setting is raised)."""
    async with connection(keeping_listener) as stream:
        assert await answer(stream, HEALTH) == 200
        await asyncio.sleep(TIMEOUT_S * 1.2)  # idle, below the keep-alive: the behaviour under test
        assert await answer(stream, HEALTH) == 200
        lifetime = await seconds_until_closed(stream[0], time.monotonic())
    assert KEEP_ALIVE_S * 0.9 <= lifetime <= KEEP_ALIVE_S + MARGIN_S, lifetime


async def test_a_request_head_past_the_limit_is_answered_431_and_closed_at_once(listener: Ingress) -> None:
    async with connection(listener) as (reader, writer):
        start = time.monotonic()
        writer.write(b"GET /health HTTP/1.1\r\nHost: ingress\r\nX-Padding: " + b"a" * MAX_HEAD_BYTES)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        answered = await asyncio.wait_for(reader.read(), TIMEOUT_S / 2)
        assert time.monotonic() - start < TIMEOUT_S / 2
    assert answered.startswith(b"HTTP/1.1 431 ")
    assert answered.endswith(b'\r\n\r\n{"error":"Request header fields too large"}')


async def test_large_heads_and_bodies_within_their_limits_are_served_as_usual(ingress: Ingress) -> None:
    """A head of 8 KiB is served; a 17,000-byte body sent with its head at once is the app's 413, not a
    head refused for the bytes that came in the same packet."""
    async with connection(ingress) as stream:
        big_head = b"GET /health HTTP/1.1\r\nHost: ingress\r\nCookie: " + b"c" * 8192 + b"\r\n\r\n"
        assert await answer(stream, big_head) == 200
    body = b"x" * 17000
    async with connection(ingress) as stream:
        head = HEAD.replace(b"Content-Length: %d" % len(BODY), b"Content-Length: %d" % len(body))
        assert await answer(stream, head + body) == 413
