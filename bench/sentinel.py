"""Redis behind Sentinel (`python -m bench.sentinel [--duration S] [--failovers N]`): what
LIVESCORE_REDIS_MIN_REPLICAS=1 costs, and how long a failover leaves the service without answers.

One primary, two replicas and three sentinels of Debian's `redis-server` on this machine (what the tests
and `livescore dev --cluster` start: servers/redis_sentinels.py). Two ingress + worker pairs run side by side
on them, one with MIN_REPLICAS=0 and one with 1, and take turns under the same load: activation latency
at one client (activate and deactivate in turn, each answered once the worker applied it) and
snapshot-trigger throughput at 16 clients. Then N
failovers, each on a fresh setup with an ingress and a worker (MIN_REPLICAS=1) under two clients' load:
the primary is killed with SIGKILL and the gap is the time from the kill to the first 200/202 answer to a
request sent after it.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.load import LoadResult, Target, percentile
from bench.loadgen import choose_generator, run_load
from bench.services import (
    PACKAGE_ID,
    TRIGGER_PACKAGE_ID,
    Backing,
    Serving,
    _free_port,
    _wait_healthy,
    backing,
    post,
    process,
)
from servers.redis_sentinels import SentinelSetup, start

API = "/api/livescore"
ACTIVATION = (f"{API}/package/activate", f"{API}/package/deactivate")
TRIGGER = (f"{API}/snapshots/trigger",)
TRIGGER_CLIENTS = 16
# Turns per figure, each pair in turn, so that a slow moment of this shared machine hits both alike.
TURNS = 3
# Load before each kill, and how long to wait for the service to answer again.
BEFORE_KILL_S = 1.0
RECOVERY_TIMEOUT_S = 60


def run(duration_s: float, failovers: int) -> str:
    with backing() as stores, tempfile.TemporaryDirectory(prefix="livescore-sentinel-") as base:
        costs = _replica_costs(stores, Path(base) / "costs", duration_s)
        gaps = [_failover_gap(stores, Path(base) / f"failover-{i}") for i in range(failovers)]
    return _table(costs, gaps)


def _replica_costs(stores: Backing, directory: Path, duration_s: float) -> dict[int, list[LoadResult]]:
    generator = choose_generator("auto")
    directory.mkdir()
    setup = start(directory)
    results: dict[int, list[LoadResult]] = {0: [], 1: []}
    try:
        with ExitStack() as stack:
            pairs = {n: stack.enter_context(_service(stores, setup, n)) for n in (0, 1)}
            for _ in range(TURNS):
                for replicas, serving in pairs.items():
                    activation = Target(serving.port, ACTIVATION, stores.credentials_body(PACKAGE_ID))
                    results[replicas].append(run_load(generator, activation, 1, duration_s))
                    trigger = Target(serving.port, TRIGGER, stores.credentials_body(TRIGGER_PACKAGE_ID))
                    results[replicas].append(run_load(generator, trigger, TRIGGER_CLIENTS, duration_s))
    finally:
        setup.stop()
    return results


@contextmanager
def _service(stores: Backing, setup: SentinelSetup, replicas: int) -> Iterator[Serving]:
    """An ingress and a worker on the sentinels, once an activation is answered 200."""
    port = _free_port()
    env = stores.env(PORT=str(port), LIVESCORE_HOST="127.0.0.1", LIVESCORE_REDIS_MIN_REPLICAS=str(replicas))
    env.update(setup.env)
    env.pop("REDIS_URL")
    with ExitStack() as stack:
        logs = stores.workdir
        procs = [
            stack.enter_context(process(["ingress"], env, logs / f"ingress-{replicas}.log")),
            stack.enter_context(process(["worker"], env, logs / f"worker-{replicas}.log")),
        ]
        _wait_healthy(port, procs, logs)
        _wait_applied(port, stores)
        yield Serving(port, {"server": procs[0].pid, "worker": procs[1].pid})


def _wait_applied(port: int, stores: Backing) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while post(port, ACTIVATION[1], stores.credentials_body(PACKAGE_ID))[0] != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the worker never answered an activation")
        time.sleep(0.2)


def _failover_gap(stores: Backing, directory: Path) -> float:
    directory.mkdir()
    setup = start(directory)
    try:
        with _service(stores, setup, 1) as serving:
            return asyncio.run(_gap_under_load(serving.port, stores, setup))
    finally:
        setup.stop()


@dataclass
class _Load:
    """Two clients under way, and the moment the primary was killed."""

    killed_at: float = float("inf")
    first_success_after: float = 0.0
    recovered: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def _gap_under_load(port: int, stores: Backing, setup: SentinelSetup) -> float:
    """Seconds from the kill to the first success of a request sent after it."""
    load = _Load()
    clients = [asyncio.create_task(_client(port, stores, load, i)) for i in range(2)]
    await asyncio.sleep(BEFORE_KILL_S)
    await asyncio.to_thread(setup.kill_primary)
    # Counted from when the primary is dead: a request sent while the sentinels were asked who it is
    # could still be answered by it.
    load.killed_at = time.monotonic()
    try:
        await asyncio.wait_for(load.recovered.wait(), RECOVERY_TIMEOUT_S)
    finally:
        load.stop.set()
        await asyncio.gather(*clients)
    return load.first_success_after - load.killed_at


async def _client(port: int, stores: Backing, load: _Load, seed: int) -> None:
    """Status reads and activations in turn, one at a time."""
    paths = [f"{API}/package/status", ACTIVATION[seed % 2]]
    body = stores.credentials_body(PACKAGE_ID)
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        turn = 0
        while not load.stop.is_set():
            sent = time.monotonic()
            answer = await client.post(paths[turn % 2], content=body, headers=headers)
            turn += 1
            if answer.status_code not in (200, 202):
                await asyncio.sleep(0.005)
            elif sent > load.killed_at and not load.recovered.is_set():
                load.first_success_after = time.monotonic()
                load.recovered.set()


def _table(costs: dict[int, list[LoadResult]], gaps: list[float]) -> str:
    def latency(replicas: int, key: str) -> float:
        return float(statistics.median(getattr(r, key) for r in costs[replicas] if r.concurrency == 1))

    def rate(replicas: int) -> float:
        turns = [r for r in costs[replicas] if r.concurrency == TRIGGER_CLIENTS]
        return sum(r.requests for r in turns) / sum(r.duration_s for r in turns)

    def errors(replicas: int) -> int:
        return sum(r.errors for r in costs[replicas])

    lines = [
        "| LIVESCORE_REDIS_MIN_REPLICAS | activation p50 (1 client) | activation p99 | "
        f"trigger req/s ({TRIGGER_CLIENTS} clients) | errors |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in (0, 1):
        p50, p99 = latency(n, "p50_ms"), latency(n, "p99_ms")
        lines.append(f"| {n} | {p50:.2f} ms | {p99:.2f} ms | {rate(n):,.0f} | {errors(n)} |")
    ordered = sorted(round(g * 1000) for g in gaps)
    lines += [
        "",
        f"Failover gap over {len(gaps)} failovers (SIGKILL of the primary, down-after-milliseconds 1000): "
        f"p50 {percentile(ordered, 0.5) / 1000:.2f} s, p99 {percentile(ordered, 0.99) / 1000:.2f} s "
        f"(each: {', '.join(f'{g / 1000:.2f}' for g in ordered)} s)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sentinel", description=__doc__)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per turn of a figure")
    parser.add_argument("--failovers", type=int, default=5, help="failovers for the gap's percentiles")
    args = parser.parse_args()
    print(run(args.duration, args.failovers))


if __name__ == "__main__":
    main()
