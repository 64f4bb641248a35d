"""PNG plots of a run for docs/: throughput by clients, latency bars, fan-out, drain (matplotlib, Agg)."""

from collections.abc import Callable
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from bench.drain import SCALING_TARGET
from bench.fanout import RATE_TARGET, RSS_GROWTH_LIMIT_MIB
from bench.runner import Run
from bench.scenarios import SCENARIOS

# Readable on a laptop screen and in a GitHub page without zooming.
SIZE_IN = (10, 5.5)
DPI = 110
# Scenario names short enough to sit side by side under the latency bars.
SHORT = {
    "bare": "bare",
    "bare_xadd": "bare\n+XADD",
    "status": "status",
    "activation": "round\ntrip",
    "trigger": "trigger",
}
FILES = {
    "throughput": "bench-throughput.png",
    "latency": "bench-latency.png",
    "fanout": "bench-fanout.png",
    "drain": "bench-drain.png",
}


def draw(run: Run, directory: Path) -> dict[str, str]:
    """Every plot the run has figures for; returns part → file name (relative to `directory`)."""
    painters: dict[str, tuple[bool, Callable[[Figure, Run], None]]] = {
        "throughput": (bool(run.measurements), _throughput),
        "latency": (bool(run.measurements), _latency),
        "fanout": (bool(run.fanouts), _fanout),
        "drain": (bool(run.drains), _drain),
    }
    drawn = {}
    for part, (has_figures, paint) in painters.items():
        if has_figures:
            figure = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
            paint(figure, run)
            figure.savefig(directory / FILES[part])
            drawn[part] = FILES[part]
    return drawn


def _throughput(figure: Figure, run: Run) -> None:
    axes = figure.subplots()
    for scenario in SCENARIOS:
        points = sorted(
            (m.load.concurrency, m.load.rps) for m in run.measurements if m.scenario == scenario.key
        )
        if points:
            axes.plot(*zip(*points, strict=True), marker="o", label=scenario.title)
    concurrencies = sorted({m.load.concurrency for m in run.measurements})
    axes.set_xscale("log", base=2)
    axes.set_xticks(concurrencies, [str(c) for c in concurrencies])
    axes.set(
        xlabel="concurrent clients", ylabel="requests/s", title="HTTP throughput by clients", ylim=(0, None)
    )
    _grid(axes)
    axes.grid(axis="x", alpha=0.3)
    axes.legend()


def _latency(figure: Figure, run: Run) -> None:
    concurrencies = sorted({m.load.concurrency for m in run.measurements})
    grid = figure.subplots(1, len(concurrencies), sharey=True, squeeze=False)[0]
    for axes, clients in zip(grid, concurrencies, strict=True):
        found = [m for m in run.measurements if m.load.concurrency == clients]
        names = [SHORT.get(m.scenario, m.scenario) for m in found]
        positions = range(len(found))
        axes.bar([p - 0.2 for p in positions], [m.load.p50_ms for m in found], 0.4, label="p50")
        axes.bar([p + 0.2 for p in positions], [m.load.p99_ms for m in found], 0.4, label="p99")
        axes.set_xticks(list(positions), names, fontsize=8)
        axes.set_title(f"{clients} client" + ("s" if clients > 1 else ""))
        axes.set_yscale("log")
        axes.grid(axis="y", alpha=0.3)
    grid[0].set_ylabel("latency, ms (log scale)")
    grid[0].legend()
    figure.suptitle("Latency per request: p50 and p99")


def _fanout(figure: Figure, run: Run) -> None:
    rates, memory = figure.subplots(1, 2, width_ratios=(2, 1))
    labels = [f"{f.fixtures:,}" for f in run.fanouts]
    positions = list(range(len(run.fanouts)))
    series = (
        ("snapshot fan-out (worker)", [f.snapshot.rate for f in run.fanouts]),
        ("raw XADD, pipelined (target baseline)", [f.raw.rate for f in run.fanouts]),
        ("raw XADD, scripted", [f.scripted.rate for f in run.fanouts]),
    )
    for i, (label, values) in enumerate(series):
        bars = rates.bar([p + (i - 1) * 0.27 for p in positions], values, 0.27, label=label)
        if i == 0:
            rates.bar_label(bars, [f"{f.ratio:.2f}× pipelined" for f in run.fanouts], padding=2, fontsize=8)
    rates.set_xticks(positions, labels)
    rates.set(
        xlabel="fixtures in the snapshot",
        ylabel="messages/s",
        title=f"Rate (target ≥ {RATE_TARGET}× pipelined)",
    )
    rates.legend(loc="upper left", fontsize=8)
    growth = memory.bar(positions, [f.rss_growth_mib for f in run.fanouts], 0.5, color="tab:gray")
    memory.bar_label(growth, [f"{f.rss_growth_mib:.1f}" for f in run.fanouts], padding=2)
    memory.axhline(
        RSS_GROWTH_LIMIT_MIB, color="tab:red", linestyle="--", label=f"limit {RSS_GROWTH_LIMIT_MIB} MiB"
    )
    memory.set_xticks(positions, labels)
    memory.set(
        xlabel="fixtures in the snapshot", ylabel="MiB", title="Worker peak RSS growth", ylim=(0, None)
    )
    memory.legend()
    _grid(rates, memory)
    figure.suptitle("Snapshot fan-out by one worker, beside raw XADD of the same messages")


def _drain(figure: Figure, run: Run) -> None:
    axes = figure.subplots()
    series = list(dict.fromkeys((d.database, d.shape) for d in run.drains))
    counts = sorted({d.workers for d in run.drains})
    width = 0.8 / len(series)
    for i, (database, shape) in enumerate(series):
        rate = {d.workers: d.rate for d in run.drains if (d.database, d.shape) == (database, shape)}
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(counts))]
        bars = axes.bar(xs, [rate.get(c, 0) for c in counts], width, label=f"{database}, {shape}")
        one = rate.get(1)
        notes = [f"{rate[c] / one:.2f}×" if one and c in rate else "" for c in counts]
        axes.bar_label(bars, notes, padding=2, fontsize=7)
    axes.set_xticks(list(range(len(counts))), [str(c) for c in counts])
    axes.set(
        xlabel="worker processes",
        ylabel="commands applied/s",
        title="Draining a backlog of activation commands (labels: rate over 1 worker; "
        f"target on PostgreSQL ≥ {SCALING_TARGET}× at 2)",
    )
    axes.legend(fontsize=8)
    _grid(axes)


def _grid(*axes: Axes) -> None:
    for one in axes:
        one.grid(axis="y", alpha=0.3)
        one.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
