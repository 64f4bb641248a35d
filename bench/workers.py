"""Fresh worker processes for the fan-out and drain figures, counted ready once they joined the group."""

import asyncio
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from bench.services import Backing, logs, process
from domain.command_log import ensure_consumer_group
from domain.commands import Command
from domain.streams import COMMANDS_STREAM, WORKERS_GROUP

# Start-up imports FastStream, SQLAlchemy and the drivers; four at once on two cores take a while.
JOIN_TIMEOUT_S = 60
# Start-up takes seconds: a twentieth of one is precise enough, and costs Redis nothing.
JOIN_POLL_S = 0.05
# A worker is counted once its first read named it in the group; its other subscribers start in the same
# instant, and this lets them reach their first blocking read too before any figure is taken.
SETTLE_S = 0.5


@contextmanager
def workers(stores: Backing, count: int, **env: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` `python -m worker` processes on a reset commands stream; stopped whatever happens."""
    reset_commands(stores.redis_url)
    environment = stores.env(**env)
    with ExitStack() as stack:
        procs = [
            stack.enter_context(process(["worker"], environment, stores.workdir / f"worker-{i}.log"))
            for i in range(count)
        ]
        _wait_joined(stores, procs)
        yield procs


def fields_of(command: Command) -> dict[Any, Any]:
    """A command's stream fields, typed as redis-py's XADD takes them."""
    return dict(command.to_fields())


def reset_commands(redis_url: str) -> None:
    """An empty commands stream with the workers' group, as on a fresh deployment: nothing left over from
    an earlier part of the run (such as the trigger scenario's queued snapshot) reaches a new worker."""
    client: Redis = Redis.from_url(redis_url)
    try:
        client.delete(COMMANDS_STREAM)
    finally:
        client.close()
    asyncio.run(_ensure_group(redis_url))


async def _ensure_group(redis_url: str) -> None:
    client: AsyncRedis = AsyncRedis.from_url(redis_url)
    try:
        await ensure_consumer_group(client)
    finally:
        await client.aclose()


def _wait_joined(stores: Backing, procs: list[subprocess.Popen[bytes]]) -> None:
    client: Redis = Redis.from_url(stores.redis_url)
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a worker exited during start-up\n{logs(stores.workdir)}")
            if _consumers(client) >= len(procs):
                time.sleep(SETTLE_S)
                return
            time.sleep(JOIN_POLL_S)
    finally:
        client.close()
    raise RuntimeError(f"workers did not join the group within {JOIN_TIMEOUT_S} s\n{logs(stores.workdir)}")


def _consumers(client: Redis) -> int:
    """Consumers in the (freshly reset) commands group: each worker process reads under its own name."""
    groups: Any = client.xinfo_groups(COMMANDS_STREAM)
    for group in groups:
        if group["name"] in (WORKERS_GROUP, WORKERS_GROUP.encode()):
            return int(group["consumers"])
    return 0
