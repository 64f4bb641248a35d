"""The scenarios, which server each loads, and the ratios between them that the issue asks for."""

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench import cpu
from bench.baseline import BARE_PATH, INLINE_PATHS, XADD_PATH
from bench.load import LoadResult, Target
from bench.loadgen import run_load
from bench.services import PACKAGE_ID, TRIGGER_PACKAGE_ID, Serving, post

# Concurrent clients per throughput scenario: one alone (latency), a few, many, and more clients than a
# uvicorn process has any hope of serving at once (queueing).
CONCURRENCIES = (1, 8, 32, 128)
# The issue asks for the activation round trip at these two only.
ROUND_TRIP_CONCURRENCIES = (1, 32)
# How long a probe may keep getting 202 (no worker answered yet) before the worker counts as missing.
PROBE_TIMEOUT_S = 30
# One turn of an interleaved measurement (wrk counts whole seconds).
SLICE_S = 1.0
API = "/api/livescore"
CHANGES = (f"{API}/package/activate", f"{API}/package/deactivate")


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    # `bare`, `xadd` or `inline` (a baseline app), `ingress` (the service, with one worker) or
    # `ingress_alone`.
    server: str
    paths: tuple[str, ...]
    concurrencies: tuple[int, ...]
    package_id: int = PACKAGE_ID
    # Where the server keeps its packages: the run's SQLite file, or a scratch PostgreSQL database.
    database: str = "SQLite"


@dataclass(frozen=True, slots=True)
class Ratio:
    """req/s of one scenario over another's at the same number of clients."""

    numerator: str
    denominator: str
    # The aim, when it sets one.
    target: float | None = None


@dataclass(frozen=True, slots=True)
class Measurement:
    scenario: str
    load: LoadResult
    # Busy fraction of each process over the measurement (1.0 = one core), by role, with the generator.
    cpu: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, **self.load.as_dict(), "cpu": self.cpu}


SCENARIOS = (
    Scenario("bare", "bare route", "bare", (BARE_PATH,), CONCURRENCIES),
    Scenario("bare_xadd", "bare route + XADD", "xadd", (XADD_PATH,), CONCURRENCIES),
    # Status never waits for a worker: it is measured beside the trigger, on the ingress without one.
    Scenario(
        "status", "status, remembered login", "ingress_alone", (f"{API}/package/status",), CONCURRENCIES
    ),
    Scenario("activation", "activate/deactivate round trip", "ingress", CHANGES, ROUND_TRIP_CONCURRENCIES),
    Scenario("inline", "inline SQL activate/deactivate", "inline", INLINE_PATHS, ROUND_TRIP_CONCURRENCIES),
    Scenario(
        "activation_pg",
        "activate/deactivate round trip, PostgreSQL",
        "ingress",
        CHANGES,
        ROUND_TRIP_CONCURRENCIES,
        database="PostgreSQL",
    ),
    Scenario(
        "inline_pg",
        "inline SQL activate/deactivate, PostgreSQL",
        "inline",
        INLINE_PATHS,
        ROUND_TRIP_CONCURRENCIES,
        database="PostgreSQL",
    ),
    # No worker runs: the first trigger's snapshot stays queued, so every later trigger coalesces onto it
    # and is answered at once — the ingress's own cost, with no fan-out taking the other core.
    Scenario(
        "trigger",
        "snapshot trigger",
        "ingress_alone",
        (f"{API}/snapshots/trigger",),
        CONCURRENCIES,
        TRIGGER_PACKAGE_ID,
    ),
)

RATIOS = (
    Ratio("status", "bare", target=0.5),
    # The ceiling of any endpoint that awaits one Redis round trip per request.
    Ratio("bare_xadd", "bare"),
    Ratio("status", "bare_xadd"),
    Ratio("activation", "bare_xadd"),
    # The design this service replaces: the handler updates the row itself (bench/baseline.py).
    Ratio("activation", "inline"),
    Ratio("activation_pg", "inline_pg"),
    Ratio("trigger", "bare_xadd", target=0.7),
)


def probe(scenario: Scenario, serving: Serving, body: bytes) -> None:
    """Each path once, before any load: the figures only count if the endpoint really succeeds.

    For `status` this first request is also the one that pays Argon2; the load then hits the remembered
    login. A 202 means no worker answered yet, so it is retried until one does.
    """
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    for path in scenario.paths:
        code, text = post(serving.port, path, body)
        while code == 202 and time.monotonic() < deadline:
            code, text = post(serving.port, path, body)
        if code != 200 or '"success":true' not in text.replace(" ", ""):
            raise RuntimeError(f"{scenario.title}: POST {path} answered {code} {text}")


def _one(
    scenario: Scenario, serving: Serving, target: Target, generator: str, concurrency: int, duration_s: float
) -> Measurement:
    before, started = cpu.snapshot(serving.pids), time.perf_counter()
    load = run_load(generator, target, concurrency, duration_s)
    busy = cpu.busy(before, cpu.snapshot(serving.pids), time.perf_counter() - started)
    return Measurement(scenario.key, load, {**busy, "generator": load.cpu})


def measure_interleaved(
    scenarios: Sequence[Scenario],
    servers: Mapping[str, Serving],
    bodies: Mapping[str, bytes],
    generator: str,
    duration_s: float,
    warmup_s: float,
) -> list[Measurement]:
    """Scenarios whose servers run side by side, measured in turns of one second each.

    On a shared machine the load of neighbours comes and goes over seconds: a scenario measured a
    minute after its baseline may meet a different machine. Taking turns, each scenario's figure is
    the sum of its slices, spread over the same minute as its baseline's. The order of the turns
    rotates every round, so no scenario always follows the same one.
    """
    targets = {}
    for scenario in scenarios:
        serving = servers[scenario.server]
        body = bodies[scenario.key]
        probe(scenario, serving, body)
        targets[scenario.key] = Target(serving.port, scenario.paths, body)
        run_load(generator, targets[scenario.key], max(scenario.concurrencies), warmup_s)
    rounds = max(1, round(duration_s / SLICE_S))
    found = []
    for concurrency in sorted({c for s in scenarios for c in s.concurrencies}):
        here = [s for s in scenarios if concurrency in s.concurrencies]
        slices: dict[str, list[Measurement]] = {s.key: [] for s in here}
        for turn in range(rounds):
            for scenario in here[turn % len(here) :] + here[: turn % len(here)]:
                serving, target = servers[scenario.server], targets[scenario.key]
                slices[scenario.key].append(_one(scenario, serving, target, generator, concurrency, SLICE_S))
        found += [_combined(slices[s.key]) for s in here]
    return found


def _combined(slices: list[Measurement]) -> Measurement:
    """Slices of one scenario as one figure: requests and time summed, percentiles the slices' median,
    CPU shares weighted by each slice's time."""
    loads = [m.load for m in slices]
    wall = sum(load.duration_s for load in loads)
    load = LoadResult(
        generator=loads[0].generator,
        concurrency=loads[0].concurrency,
        duration_s=wall,
        requests=sum(load.requests for load in loads),
        errors=sum(load.errors for load in loads),
        p50_ms=statistics.median(load.p50_ms for load in loads),
        p99_ms=statistics.median(load.p99_ms for load in loads),
        cpu=sum(load.cpu * load.duration_s for load in loads) / wall if wall else 0.0,
    )
    roles = slices[0].cpu.keys()
    cpu = {
        role: sum(m.cpu[role] * m.load.duration_s for m in slices) / wall if wall else 0.0 for role in roles
    }
    return Measurement(slices[0].scenario, load, cpu)
