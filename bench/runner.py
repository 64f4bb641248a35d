"""One benchmark run: start the stores, then each part in turn — HTTP throughput (each server alone,
under every scenario it serves), snapshot fan-out, worker drain — each beside its baseline."""

import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine, postgres
from bench.amqp_delivery import QUICK_SECONDS as AMQP_QUICK_SECONDS
from bench.amqp_delivery import SECONDS as AMQP_SECONDS
from bench.amqp_delivery import Comparison as AmqpDelivery
from bench.amqp_delivery import markdown as amqp_markdown
from bench.amqp_delivery import measure as measure_amqp
from bench.amqp_delivery import missing as amqp_missing
from bench.drain import COMMANDS, WORKER_COUNTS, Drain, run_drain
from bench.fanout import SIZES, FanOut, run_fanout
from bench.incident_flood import BURST as FLOOD_BURST
from bench.incident_flood import QUICK_BURST, run_flood
from bench.incident_flood import Figures as IncidentFlood
from bench.incidents import IncidentFanOut, run_incidents
from bench.loadgen import choose_generator
from bench.scenarios import SCENARIOS, Measurement, Scenario, measure_interleaved
from bench.services import Backing, add_packages, backing, serving

PARTS = ("throughput", "fanout", "drain", "incidents", "incident_flood", "amqp_delivery")
# The servers of the activation round trip and its baseline, measured once per database.
_ROUND_TRIP_SERVERS = ("ingress", "inline")
# Where the logs of a run with a failed part are kept (bench/results/ is not committed).
LOGS_DIR = machine.REPO_ROOT / "bench" / "results" / "logs"


@dataclass(frozen=True, slots=True)
class Options:
    duration_s: float
    warmup_s: float
    generator: str
    quick: bool
    command: str
    parts: tuple[str, ...] = PARTS
    fanout_sizes: tuple[int, ...] = SIZES
    drain_commands: int = COMMANDS
    drain_workers: tuple[int, ...] = WORKER_COUNTS


@dataclass(slots=True)
class Run:
    machine: dict[str, Any]
    options: Options
    measurements: list[Measurement] = field(default_factory=list)
    fanouts: list[FanOut] = field(default_factory=list)
    drains: list[Drain] = field(default_factory=list)
    incidents: list[IncidentFanOut] = field(default_factory=list)
    floods: list[IncidentFlood] = field(default_factory=list)
    amqp: list[AmqpDelivery] = field(default_factory=list)
    # What was skipped and why (e.g. no PostgreSQL); the run is still whole without it.
    notes: list[str] = field(default_factory=list)
    # Parts that failed: their figures are missing and the document is not updated.
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def rps(self, scenario: str, concurrency: int) -> float | None:
        for m in self.measurements:
            if m.scenario == scenario and m.load.concurrency == concurrency:
                return m.load.rps
        return None


Part = Callable[[Run, Backing, str], None]


def run(options: Options) -> Run:
    generator = choose_generator(options.generator)
    result = Run(machine.describe(generator), options)
    started = time.perf_counter()
    with backing() as stores:
        for name in options.parts:
            part_started = time.perf_counter()
            try:
                _PARTS[name](result, stores, generator)
                _say(f"{name}: {time.perf_counter() - part_started:.0f} s")
            except Exception as exc:  # one broken part must not cost the figures of the others
                _say(traceback.format_exc())
                result.failures.append(f"{name}: {str(exc).splitlines()[0] if str(exc) else repr(exc)}")
                _say(f"process logs kept in {_keep_logs(stores)}")
    result.seconds = time.perf_counter() - started
    return result


def _throughput(result: Run, stores: Backing, generator: str) -> None:
    """The servers that need no worker side by side, their scenarios taking turns; then the activation
    round trip beside the inline-SQL baseline, once per database, whose worker must not run while the
    others are measured (it would answer the triggers' snapshots and take a core)."""
    together = [s for s in SCENARIOS if s.server not in _ROUND_TRIP_SERVERS]
    result.measurements += _in_turns(result, stores, generator, together)
    for database in ("SQLite", "PostgreSQL"):
        scenarios = [s for s in SCENARIOS if s.server in _ROUND_TRIP_SERVERS and s.database == database]
        try:
            with _stores_on(stores, database) as backing:
                result.measurements += _in_turns(result, backing, generator, scenarios)
        except postgres.Unavailable as exc:
            result.notes.append(f"activation round trip on PostgreSQL skipped: {exc}")


def _in_turns(result: Run, stores: Backing, generator: str, scenarios: list[Scenario]) -> list[Measurement]:
    options = result.options
    with ExitStack() as stack:
        servers = {kind: stack.enter_context(serving(kind, stores)) for kind in {s.server for s in scenarios}}
        _say(f"{', '.join(s.title for s in scenarios)}: in turns, {_clients(scenarios)} clients")
        bodies = {s.key: stores.credentials_body(s.package_id) for s in scenarios}
        found = measure_interleaved(
            scenarios, servers, bodies, generator, options.duration_s, options.warmup_s
        )
        _say("\n".join(map(_progress, found)))
        return found


@contextmanager
def _stores_on(stores: Backing, database: str) -> Iterator[Backing]:
    """The run's stores, with a scratch PostgreSQL database holding the run's packages if asked."""
    if database == "SQLite":
        yield stores
        return
    with postgres.scratch_database(postgres.server_url()) as url:
        add_packages(url, stores.password, stores.redis_url)
        yield replace(stores, database_url=url)


def _clients(scenarios: list[Scenario]) -> str:
    return ", ".join(map(str, sorted({c for s in scenarios for c in s.concurrencies})))


def _fanout(result: Run, stores: Backing, _generator: str) -> None:
    sizes = result.options.fanout_sizes
    _say(f"snapshot fan-out: {', '.join(f'{s:,}' for s in sizes)} fixtures, a fresh worker each")
    for fanout in run_fanout(stores, sizes):
        result.fanouts.append(fanout)
        _say(
            f"  {fanout.fixtures:>7,} fixtures {fanout.snapshot.rate:>9,.0f}/s, raw XADD pipelined "
            f"{fanout.raw.rate:>9,.0f}/s, scripted {fanout.scripted.rate:>9,.0f}/s  "
            f"first message {fanout.first_message_ms} ms  RSS +{fanout.rss_growth_mib:.1f} MiB"
        )


def _drain(result: Run, stores: Backing, _generator: str) -> None:
    options = result.options
    _say(f"worker drain: {options.drain_commands:,} commands, {options.drain_workers} workers")
    drains, notes = run_drain(stores, options.drain_commands, options.drain_workers)
    result.drains += drains
    result.notes += notes
    for d in drains:
        workers = f"{d.workers} worker" + ("s" if d.workers > 1 else " ")
        _say(f"  {d.database:<10} {d.shape:<13} {workers} {d.rate:>9,.0f} commands/s  ({d.seconds:.2f} s)")
    _say("\n".join(f"  {note}" for note in notes))


def _incidents(result: Run, stores: Backing, _generator: str) -> None:
    _say("incident fan-out: 50 packages, 1 and 2 workers")
    for found in run_incidents(stores, quick=result.options.quick):
        result.incidents.append(found)
        workers = f"{found.workers} worker" + ("s" if found.workers > 1 else " ")
        _say(
            f"  {workers} at 200/s: p50 {found.p50_ms:.0f} ms p99 {found.p99_ms:.0f} ms; backlog "
            f"{found.drain.rate:>9,.0f} messages/s, raw XADD pipelined {found.raw.rate:>9,.0f}/s "
            f"({found.ratio:.2f})"
        )


def _incident_flood(result: Run, stores: Backing, _generator: str) -> None:
    burst = QUICK_BURST if result.options.quick else FLOOD_BURST
    _say(f"incidents of unknown fixtures: {burst:,} at once beside 20 valid a second, 1 worker")
    found = run_flood(stores, burst)
    result.floods.append(found)
    _say("\n".join(f"  {line}" for line in found.lines()))


def _amqp_delivery(result: Run, stores: Backing, _generator: str) -> None:
    missing = amqp_missing()
    if missing:
        result.notes.append(f"AMQP delivery not measured: {missing}")
        _say(result.notes[-1])
        return
    seconds = AMQP_QUICK_SECONDS if result.options.quick else AMQP_SECONDS
    _say(f"AMQP delivery beside the fast clients: 200 incidents/s to 50 queues, {seconds:g} s a step")
    found = measure_amqp(stores, seconds)
    result.amqp.append(found)
    _say("\n".join(f"  {line}" for line in amqp_markdown(found).splitlines()[4:]))


_PARTS: dict[str, Part] = {
    "throughput": _throughput,
    "fanout": _fanout,
    "drain": _drain,
    "incidents": _incidents,
    "incident_flood": _incident_flood,
    "amqp_delivery": _amqp_delivery,
}


def _keep_logs(stores: Backing) -> Path:
    """The run's process logs, copied out of its temporary directory before that is removed."""
    kept = LOGS_DIR / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    kept.mkdir(parents=True, exist_ok=True)
    for log in stores.workdir.glob("*.log"):
        shutil.copy(log, kept / log.name)
    return kept


def _progress(m: Measurement) -> str:
    load = m.load
    figures = f"{load.rps:>9,.0f} req/s  p50 {load.p50_ms:.2f} ms  p99 {load.p99_ms:.2f} ms"
    return f"  {m.scenario:<10} {load.concurrency:>4} clients {figures}"


def _say(text: str) -> None:
    if text:
        print(text, file=sys.stderr, flush=True)
