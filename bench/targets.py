"""The issue's aims, each checked against a run: figure, baseline, ratio, target, met or not."""

from dataclasses import asdict, dataclass
from typing import Any

from bench.amqp_delivery import INCIDENTS_TARGET as AMQP_INCIDENTS_TARGET
from bench.amqp_delivery import SNAPSHOT_TARGET as AMQP_SNAPSHOT_TARGET
from bench.drain import SCALING_TARGET, SHAPES, SQLITE_SCALING_TARGET, Drain
from bench.fanout import RATE_TARGET, RSS_GROWTH_LIMIT_MIB
from bench.incident_flood import P99_TARGET_MS as FLOOD_P99_TARGET_MS
from bench.incident_flood import RSS_GROWTH_TARGET_MIB as FLOOD_RSS_TARGET_MIB
from bench.incidents import P99_TARGET_MS
from bench.incidents import RATE_TARGET as INCIDENT_RATE_TARGET
from bench.runner import Run
from bench.scenarios import RATIOS, SCENARIOS


def clients(count: int) -> str:
    return f"{count} client" + ("s" if count > 1 else "")


@dataclass(frozen=True, slots=True)
class Check:
    what: str
    # The figure and its baseline as shown ("4,210 req/s"); the baseline is empty for an absolute limit.
    measured: str
    baseline: str
    value: float
    target: float
    # A ratio must reach the target; an absolute figure (memory, latency) must stay at or under it.
    at_least: bool = True
    unit: str = "MiB"

    @property
    def met(self) -> bool:
        return self.value >= self.target if self.at_least else self.value <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


# Issue 15's aims for one customer alone (SQLite, one worker), and the 32-client round-trip rate when it was
# filed (docs/BENCHMARKS.md, 2026-11-30), which the changes for those aims must not lower.
ROUND_TRIP_P50_MS = 2.0
ROUND_TRIP_P99_MS = 6.0
ROUND_TRIP_RPS_BEFORE = 2565


def checks(run: Run) -> list[Check]:
    return [
        *_throughput(run),
        *_round_trip(run),
        *_fanout(run),
        *_drain(run),
        *_incidents(run),
        *_floods(run),
        *_amqp(run),
    ]


def _round_trip(run: Run) -> list[Check]:
    found = []
    for m in run.measurements:
        load = m.load
        if m.scenario != "activation":
            continue
        if load.concurrency == 1:
            what = "activate/deactivate round trip, 1 client, SQLite"
            found += [
                Check(
                    f"{what}: p50", f"{load.p50_ms:.2f} ms", "", load.p50_ms, ROUND_TRIP_P50_MS, False, "ms"
                ),
                Check(
                    f"{what}: p99", f"{load.p99_ms:.2f} ms", "", load.p99_ms, ROUND_TRIP_P99_MS, False, "ms"
                ),
            ]
            inline = _p50(run, "inline", 1)
            if inline:
                what = "inline-SQL p50 / round-trip p50, 1 client, SQLite"
                found.append(
                    Check(what, f"{load.p50_ms:.2f} ms", f"{inline:.2f} ms", inline / load.p50_ms, 1.0)
                )
        elif load.concurrency == 32:
            # Named by the commit it was measured on: a reader of BENCHMARKS.md has no issue tracker.
            what = (
                "activate/deactivate round trip, 32 clients, SQLite"
                " / before the activation path's changes (e7c338e)"
            )
            before = ROUND_TRIP_RPS_BEFORE
            found.append(Check(what, f"{load.rps:,.0f} req/s", f"{before:,} req/s", load.rps / before, 1.0))
    return found


def _p50(run: Run, scenario: str, concurrency: int) -> float | None:
    for m in run.measurements:
        if m.scenario == scenario and m.load.concurrency == concurrency:
            return m.load.p50_ms
    return None


def _throughput(run: Run) -> list[Check]:
    titles = {s.key: s.title for s in SCENARIOS}
    found = []
    for ratio in RATIOS:
        if ratio.target is None:
            continue
        for m in run.measurements:
            base = run.rps(ratio.denominator, m.load.concurrency)
            if m.scenario == ratio.numerator and base:
                what = (
                    f"{titles[ratio.numerator]} / {titles[ratio.denominator]}, {clients(m.load.concurrency)}"
                )
                found.append(
                    Check(
                        what,
                        f"{m.load.rps:,.0f} req/s",
                        f"{base:,.0f} req/s",
                        m.load.rps / base,
                        ratio.target,
                    )
                )
    return found


def _fanout(run: Run) -> list[Check]:
    found = []
    for f in run.fanouts:
        found.append(
            Check(
                f"snapshot fan-out / raw pipelined XADD, {f.fixtures:,} fixtures",
                f"{f.snapshot.rate:,.0f} fixtures/s",
                f"{f.raw.rate:,.0f} messages/s",
                f.ratio,
                RATE_TARGET,
            )
        )
    for f in run.fanouts:
        growth = f"{f.rss_growth_mib:.1f} MiB"
        what = f"worker peak RSS growth during the snapshot, {f.fixtures:,} fixtures"
        found.append(Check(what, growth, "", f.rss_growth_mib, RSS_GROWTH_LIMIT_MIB, at_least=False))
    return found


def _drain(run: Run) -> list[Check]:
    found = []
    for database, target in (("PostgreSQL", SCALING_TARGET), ("SQLite", SQLITE_SCALING_TARGET)):
        for shape in SHAPES:
            rates = {d.workers: d for d in run.drains if (d.database, d.shape) == (database, shape.name)}
            if 1 in rates and 2 in rates:
                two, one = rates[2], rates[1]
                what = f"drain, 2 workers / 1 worker, {database}, {shape.name}"
                found.append(Check(what, _commands(two), _commands(one), two.rate / one.rate, target))
    return found


def _commands(drain: Drain) -> str:
    return f"{drain.rate:,.0f} commands/s"


def _incidents(run: Run) -> list[Check]:
    found = []
    for i in run.incidents:
        workers = clients(i.workers).replace("client", "worker")
        what = f"incident latency p99 at 200/s to 50 packages, {workers}"
        found.append(
            Check(what, f"{i.p99_ms:.0f} ms", "", i.p99_ms, P99_TARGET_MS, at_least=False, unit="ms")
        )
        what = f"incident fan-out / raw pipelined XADD, {workers}"
        found.append(
            Check(
                what,
                f"{i.drain.rate:,.0f} messages/s",
                f"{i.raw.rate:,.0f} messages/s",
                i.ratio,
                INCIDENT_RATE_TARGET,
            )
        )
    rates = {i.workers: i.drain.rate for i in run.incidents}
    if rates.get(1) and rates.get(2):
        what = "incident fan-out, 2 workers / 1 worker"
        found.append(
            Check(
                what, f"{rates[2]:,.0f} messages/s", f"{rates[1]:,.0f} messages/s", rates[2] / rates[1], 1.0
            )
        )
    return found


def _floods(run: Run) -> list[Check]:
    """Issue 20 item 4: valid incidents behind a burst of unknown fixtures, and the worker's memory."""
    found = []
    for f in run.floods:
        p99 = f.during[1]
        what = f"valid incidents' p99 while {f.burst:,} of unknown fixtures are read past"
        found.append(
            Check(what, f"{p99:,.0f} ms", f"{f.quiet[1]:,.0f} ms", p99, FLOOD_P99_TARGET_MS, False, "ms")
        )
        growth = f.rss_peak - f.rss_before
        what = f"worker memory growth with {f.burst:,} incidents of unknown fixtures"
        found.append(
            Check(what, f"{growth:,.0f} MiB", f"{f.rss_before:,.0f} MiB", growth, FLOOD_RSS_TARGET_MIB, False)
        )
    return found


def _amqp(run: Run) -> list[Check]:
    """Issue 22: the service over AMQP against the fastest client on the same node, in the same run."""
    found = []
    for a in run.amqp:
        copies, service = a.best_copies(), a.service_at_rate()
        what = f"AMQP incidents p99 at 200/s to 50 packages: {copies.client}'s copies ÷ the service"
        measured, baseline = f"{service.p99_ms:,.0f} ms", f"{copies.p99_ms:,.0f} ms"
        found.append(Check(what, measured, baseline, a.incidents_ratio(), AMQP_INCIDENTS_TARGET, unit="ms"))
        client, rate = a.best_snapshot()
        what = f"AMQP snapshot of 20,000 fixtures: the service ÷ {client}"
        measured, baseline = f"{a.service_snapshot:,.0f} msg/s", f"{rate:,.0f} msg/s"
        found.append(Check(what, measured, baseline, a.snapshot_ratio(), AMQP_SNAPSHOT_TARGET, unit="msg/s"))
    return found
