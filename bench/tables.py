"""The figures of one run as Markdown tables: targets, HTTP throughput and its ratios, fan-out, drain,
incidents."""

from collections.abc import Mapping

from bench.drain import SHAPES
from bench.runner import Run
from bench.scenarios import RATIOS, SCENARIOS
from bench.targets import checks, clients

# Process roles in the CPU columns of the throughput table, in this order.
ROLES = ("server", "worker", "redis", "generator", "machine")
# The same for the fan-out table: whoever appends the messages, and Redis.
_PUBLISHING = ("publisher", "redis", "machine")
_DRAINING = ("workers", "postgres", "redis", "machine")
_DRAINING_REDIS = ("workers", "redis", "machine")
CPU_NOTE = (
    "CPU: share of one core each process used during the measurement. machine: every process on the "
    "machine together (200 % = two cores busy); what it holds beyond the other columns was used by "
    "something else."
)


# Scenario titles by key, as the tables print them.
TITLES = {s.key: s.title for s in SCENARIOS}


def targets(run: Run) -> list[str]:
    lines = [
        "| aim | measured | baseline | ratio | target | met |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for check in checks(run):
        # Three decimals: a ratio just under its target must not print as the target itself.
        ratio = f"{check.value:.3f}" if check.baseline else "–"
        target = f"≥ {check.target:.2f}" if check.at_least else f"≤ {check.target:g} {check.unit}"
        met = "met" if check.met else "**not met**"
        lines.append(
            f"| {check.what} | {check.measured} | {check.baseline or '–'} | {ratio} | {target} | {met} |"
        )
    return lines


def throughput(run: Run) -> list[str]:
    lines = [
        "| scenario | clients | req/s | p50 ms | p99 ms | errors | CPU server | worker | redis | generator "
        "| machine |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in run.measurements:
        load = m.load
        lines.append(
            f"| {TITLES[m.scenario]} | {load.concurrency} | {load.rps:,.0f} | {load.p50_ms:.2f} | "
            f"{load.p99_ms:.2f} | {load.errors} | {_cpu_cells(m.cpu, ROLES)} |"
        )
    return [*lines, "", CPU_NOTE]


def ratios(run: Run) -> list[str]:
    concurrencies = sorted({m.load.concurrency for m in run.measurements})
    lines = [
        "req/s of one scenario over another's at the same number of clients:",
        "",
        "| ratio | " + " | ".join(clients(c) for c in concurrencies) + " | target |",
        "| --- | " + " | ".join("---:" for _ in concurrencies) + " | --- |",
    ]
    for ratio in RATIOS:
        values = ratio_values(run, ratio.numerator, ratio.denominator)
        cells = [f"{values[c]:.2f}" if c in values else "–" for c in concurrencies]
        aim = _aim(values, ratio.target)
        lines.append(
            f"| {TITLES[ratio.numerator]} / {TITLES[ratio.denominator]} | {' | '.join(cells)} | {aim} |"
        )
    return lines


def fanout(run: Run) -> list[str]:
    lines = [
        "| fixtures | first message ms | messages/s | ratio | worker RSS at rest MiB | peak growth MiB "
        "| CPU publisher | redis | machine |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in run.fanouts:
        lines += [
            f"| {f.fixtures:,}: snapshot fan-out | {f.first_message_ms} | {f.snapshot.rate:,.0f} | – | "
            f"{f.rss_before_mib:.1f} | {f.rss_growth_mib:.1f} | {_cpu_cells(f.snapshot.cpu, _PUBLISHING)} |",
            f"| {f.fixtures:,}: raw XADD, pipelined | – | {f.raw.rate:,.0f} | {f.ratio:.2f} | – | – | "
            f"{_cpu_cells(f.raw.cpu, _PUBLISHING)} |",
            f"| {f.fixtures:,}: raw XADD, scripted | – | {f.scripted.rate:,.0f} | {f.scripted_ratio:.2f} | "
            f"– | – | {_cpu_cells(f.scripted.cpu, _PUBLISHING)} |",
        ]
    return [
        *lines,
        "",
        "ratio: the snapshot's rate over the baseline's. CPU publisher: the worker for the snapshot, the "
        "benchmark process for the baselines.",
    ]


def drain(run: Run) -> list[str]:
    lines = [
        "| database | backlog | workers | commands | seconds | commands/s | vs 1 worker | storage consistent "
        "| CPU workers | postgres | redis | machine |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    ones = {(d.database, d.shape): d.rate for d in run.drains if d.workers == 1}
    for d in run.drains:
        one = ones.get((d.database, d.shape))
        scaling = f"{d.rate / one:.2f}" if one else "–"
        applied = f"{d.commands:,}" if d.drained else f"{d.applied:,} of {d.commands:,} (timed out)"
        lines.append(
            f"| {d.database} | {d.shape} | {d.workers} | {applied} | {d.seconds:.2f} | {d.rate:,.0f} | "
            f"{scaling} | {'yes' if d.consistent else '**no**'} | {_cpu_cells(d.cpu, _DRAINING)} |"
        )
    return [
        *lines,
        "",
        f"Backlogs: {', '.join(f'{s.name} ({s.packages:,})' for s in SHAPES)}, the same commands for every "
        "worker count.",
    ]


def incidents(run: Run) -> list[str]:
    lines = [
        "| workers | at 200 incidents/s: p50 ms | p99 ms | max ms | queue messages | CPU workers | redis "
        "| machine | backlog: messages/s | raw XADD pipelined | ratio | CPU workers | redis | machine |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for i in run.incidents:
        lines.append(
            f"| {i.workers} | {i.p50_ms:.0f} | {i.p99_ms:.0f} | {i.max_ms:.0f} | {i.latency_messages:,} | "
            f"{_cpu_cells(i.latency_cpu, _DRAINING_REDIS)} | {i.drain.rate:,.0f} | {i.raw.rate:,.0f} | "
            f"{i.ratio:.2f} | {_cpu_cells(i.drain.cpu, _DRAINING_REDIS)} |"
        )
    return [
        *lines,
        "",
        "Latency: each queue message's entry id minus its incident's upstream entry id (Redis's clock, ms). "
        "Backlog: queue messages per second from the backlog's first upstream entry to the last queue "
        "message; raw XADD pipelined: the same messages appended by the benchmark process alone.",
    ]


def ratio_values(run: Run, numerator: str, denominator: str) -> dict[int, float]:
    values: dict[int, float] = {}
    for m in run.measurements:
        if m.scenario != numerator:
            continue
        base = run.rps(denominator, m.load.concurrency)
        if base:
            values[m.load.concurrency] = m.load.rps / base
    return values


def _cpu_cells(cpu: Mapping[str, float], roles: tuple[str, ...]) -> str:
    return " | ".join(f"{cpu[role] * 100:.0f} %" if role in cpu else "–" for role in roles)


def _aim(values: dict[int, float], target: float | None) -> str:
    if target is None or not values:
        return "–"
    met = all(v >= target for v in values.values())
    return f"≥ {target:.2f}: {'met' if met else '**not met**'}"
