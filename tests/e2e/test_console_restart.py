"""An ingress process with open console live streams stops at once when told to, and a stream opened on
the next one goes on where the last left off (SPEC §13: EventSource reconnects by itself)."""

import asyncio
import signal
from collections.abc import AsyncIterator

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from tests.e2e.processes import Processes
from tests.support import BODY, PACKAGE_ID, PASSWORD, USERNAME

# uvicorn waits for every response in progress: without the streams ending, it would wait for ever.
STOPPED_WITHIN_S = 5


async def open_stream(client: httpx.AsyncClient, base_url: str) -> httpx.Response:
    origin = {"origin": base_url}
    signed_in = await client.post(f"{base_url}/console/sign-in", json=BODY, headers=origin)
    cookie = {"cookie": f"livescore_console={signed_in.cookies['livescore_console']}"}
    return await client.send(
        client.build_request("GET", f"{base_url}/console/live", headers=cookie), stream=True
    )


async def drained(lines: AsyncIterator[str]) -> list[str]:
    return [line async for line in lines]


async def test_open_live_streams_end_when_the_ingress_stops_and_reconnect_to_the_next(
    processes: Processes, storage: AsyncEngine
) -> None:
    async with storage.begin() as conn:
        await packages.add_package(conn, PACKAGE_ID, USERNAME, PASSWORD)
    ingress = await processes.ingress(LIVESCORE_CONSOLE_INSECURE_COOKIE="1")
    async with httpx.AsyncClient(timeout=10) as client:
        streams = [await open_stream(client, ingress.base_url) for _ in range(3)]
        readers = [stream.aiter_lines() for stream in streams]
        for lines in readers:
            assert (await anext(lines)).startswith("retry: 1000")
        ingress.signal(signal.SIGTERM)
        assert await ingress.exited(STOPPED_WITHIN_S) is not None, ingress.log
        for lines, stream in zip(readers, streams, strict=True):
            rest = await asyncio.wait_for(drained(lines), STOPPED_WITHIN_S)  # ended, not hung
            assert "event: signed-out" not in rest
            await stream.aclose()

        again = await processes.ingress(LIVESCORE_CONSOLE_INSECURE_COOKIE="1")
        stream = await open_stream(client, again.base_url)
        assert stream.status_code == 200
        await stream.aclose()
