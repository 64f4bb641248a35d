"""One benchmark run: start the stores, then each server in turn, alone, under every scenario it serves."""

import sys
from dataclasses import dataclass
from typing import Any

from bench import machine
from bench.loadgen import choose_generator
from bench.scenarios import SCENARIOS, Measurement, Scenario, measure
from bench.services import backing, serving


@dataclass(frozen=True, slots=True)
class Options:
    duration_s: float
    warmup_s: float
    generator: str
    quick: bool
    command: str


@dataclass(frozen=True, slots=True)
class Run:
    machine: dict[str, Any]
    options: Options
    measurements: list[Measurement]

    def rps(self, scenario: str, concurrency: int) -> float | None:
        for m in self.measurements:
            if m.scenario == scenario and m.load.concurrency == concurrency:
                return m.load.rps
        return None


def run(options: Options) -> Run:
    generator = choose_generator(options.generator)
    measurements: list[Measurement] = []
    with backing() as stores:
        body = stores.credentials_body()
        for server, scenarios in _by_server(SCENARIOS):
            with serving(server, stores) as served:
                for scenario in scenarios:
                    _say(f"{scenario.title}: {', '.join(map(str, scenario.concurrencies))} clients")
                    found = measure(scenario, served, body, generator, options.duration_s, options.warmup_s)
                    _say("\n".join(map(_progress, found)))
                    measurements += found
    return Run(machine.describe(generator), options, measurements)


def _by_server(scenarios: tuple[Scenario, ...]) -> list[tuple[str, list[Scenario]]]:
    """Scenarios grouped by server in first-seen order, so each server starts once and runs alone."""
    groups: dict[str, list[Scenario]] = {}
    for scenario in scenarios:
        groups.setdefault(scenario.server, []).append(scenario)
    return list(groups.items())


def _progress(m: Measurement) -> str:
    load = m.load
    figures = f"{load.rps:>9,.0f} req/s  p50 {load.p50_ms:.2f} ms  p99 {load.p99_ms:.2f} ms"
    return f"  {load.concurrency:>4} clients {figures}"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
