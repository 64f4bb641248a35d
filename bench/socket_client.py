"""The fallback load generator: HTTP/1.1 keep-alive connections on raw asyncio sockets under uvloop."""

import asyncio
import time
from typing import cast

import uvloop

from bench.load import LoadResult, Target, percentile

# How long past the end of the run a connection may take to finish its last request before it is cut.
GRACE_S = 10.0
NS_PER_MS = 1_000_000


class _Tally:
    """Latencies and errors of every connection of one run."""

    def __init__(self) -> None:
        self.latencies_ns: list[int] = []
        self.errors = 0


class _Connection(asyncio.Protocol):
    """One client: sends a request, waits for the whole answer, records it, sends the next until the end."""

    def __init__(self, requests: list[bytes], deadline_ns: int, tally: _Tally, first: int) -> None:
        self._requests = requests
        self._deadline_ns = deadline_ns
        self._tally = tally
        self._next = first
        self._buffer = bytearray()
        self._sent_ns = 0
        self._transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport, but they are one.
        self._transport = cast(asyncio.Transport, transport)
        self._send()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        answer = _complete_answer(self._buffer)
        if answer is None:
            return
        status, size = answer
        self._tally.latencies_ns.append(time.perf_counter_ns() - self._sent_ns)
        if status < 200 or status >= 400:
            self._tally.errors += 1
        del self._buffer[:size]
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._sent_ns:
            self._tally.errors += 1  # the server closed the connection with a request in flight
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _send(self) -> None:
        assert self._transport is not None
        if time.perf_counter_ns() >= self._deadline_ns:
            self._sent_ns = 0
            self._transport.close()
            return
        request = self._requests[self._next % len(self._requests)]
        self._next += 1
        self._sent_ns = time.perf_counter_ns()
        self._transport.write(request)


def _complete_answer(buffer: bytearray) -> tuple[int, int] | None:
    """(status, bytes) of the answer at the head of the buffer once it is whole."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    status, length = _parse_head(bytes(buffer[:end]))
    size = end + 4 + length
    return (status, size) if len(buffer) >= size else None


def _parse_head(head: bytes) -> tuple[int, int]:
    """Status code and Content-Length; Litestar always sends the length for a JSON body."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return status, int(value)
    raise RuntimeError("answer without Content-Length; the fallback client needs one")


def _requests(target: Target) -> list[bytes]:
    return [
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(target.body)}\r\n\r\n"
        ).encode()
        + target.body
        for path in target.paths
    ]


async def _load(target: Target, concurrency: int, duration_s: float, tally: _Tally) -> float:
    loop = asyncio.get_running_loop()
    started_ns = time.perf_counter_ns()
    deadline_ns = started_ns + int(duration_s * 1e9)
    requests = _requests(target)
    connections = []
    for i in range(concurrency):
        _, conn = await loop.create_connection(
            lambda i=i: _Connection(requests, deadline_ns, tally, i),  # type: ignore[misc]
            "127.0.0.1",
            target.port,
        )
        connections.append(conn)
    try:
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in connections)), duration_s + GRACE_S)
    finally:
        for conn in connections:
            conn.close()
    return (time.perf_counter_ns() - started_ns) / 1e9


def run_sockets(target: Target, concurrency: int, duration_s: float) -> LoadResult:
    tally = _Tally()
    cpu_before = time.process_time()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        wall_s = runner.run(_load(target, concurrency, duration_s, tally))
    cpu_s = time.process_time() - cpu_before
    latencies = sorted(tally.latencies_ns)
    return LoadResult(
        generator="asyncio",
        concurrency=concurrency,
        duration_s=wall_s,
        requests=len(latencies),
        errors=tally.errors,
        p50_ms=percentile(latencies, 0.50) / NS_PER_MS,
        p99_ms=percentile(latencies, 0.99) / NS_PER_MS,
        cpu=cpu_s / wall_s if wall_s > 0 else 0.0,
    )
