"""The figures of a run as a Markdown section (stdout and docs/BENCHMARKS.md) and as raw JSON."""

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench.machine import REPO_ROOT
from bench.runner import Run
from bench.scenarios import RATIOS, SCENARIOS, Measurement

DOC = REPO_ROOT / "docs" / "BENCHMARKS.md"
RESULTS_DIR = REPO_ROOT / "bench" / "results"
# The generated part of BENCHMARKS.md lies between these; prose around them is kept.
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
# Process roles in the CPU columns, in this order.
ROLES = ("server", "worker", "redis", "generator")


def markdown(run: Run) -> str:
    return "\n".join([*_header(run), "", *_figures(run), "", *_ratios(run)]) + "\n"


def write_json(run: Run) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"{stamp}.json"
    document = {
        "machine": run.machine,
        "options": asdict(run.options),
        "measurements": [m.as_dict() for m in run.measurements],
        "ratios": {
            _ratio_key(r.numerator, r.denominator): _ratio_values(run, r.numerator, r.denominator)
            for r in RATIOS
        },
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def update_doc(section: str, path: Path = DOC) -> None:
    """Replace the generated section of the document, or add it; everything else is left as it was."""
    block = f"{BEGIN}\n{section}{END}\n"
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text + ("\n" if text else "") + block
    path.write_text(text)


def _header(run: Run) -> list[str]:
    m, o = run.machine, run.options
    return [
        f"## Latest run: {m['date']}",
        "",
        f"- Machine: {m['cores']} cores, {m['cpu_model']}, Linux {m['kernel']}; Python {m['python']}; "
        f"commit {m['commit']}",
        f"- Command: `{o.command}`; {o.duration_s:g} s per figure, after a {o.warmup_s:g} s warm-up "
        "per scenario",
        f"- Load generator: {m['generator_version']}",
    ]


def _figures(run: Run) -> list[str]:
    lines = [
        "| scenario | clients | req/s | p50 ms | p99 ms | errors | CPU server | worker | redis | generator |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    titles = {s.key: s.title for s in SCENARIOS}
    for m in run.measurements:
        load = m.load
        lines.append(
            f"| {titles[m.scenario]} | {load.concurrency} | {load.rps:,.0f} | {load.p50_ms:.2f} | "
            f"{load.p99_ms:.2f} | {load.errors} | {_cpu_cells(m)} |"
        )
    lines += ["", "CPU: share of one core each process used during the measurement (200 % = both cores)."]
    return lines


def _cpu_cells(m: Measurement) -> str:
    return " | ".join(f"{m.cpu[role] * 100:.0f} %" if role in m.cpu else "–" for role in ROLES)


def _ratios(run: Run) -> list[str]:
    concurrencies = sorted({m.load.concurrency for m in run.measurements})
    lines = [
        "req/s of one scenario over another's at the same number of clients:",
        "",
        "| ratio | " + " | ".join(_clients(c) for c in concurrencies) + " | aim |",
        "| --- | " + " | ".join("---:" for _ in concurrencies) + " | --- |",
    ]
    titles = {s.key: s.title for s in SCENARIOS}
    for ratio in RATIOS:
        values = _ratio_values(run, ratio.numerator, ratio.denominator)
        cells = [f"{values[c]:.2f}" if c in values else "–" for c in concurrencies]
        aim = _aim(values, ratio.target)
        lines.append(
            f"| {titles[ratio.numerator]} / {titles[ratio.denominator]} | {' | '.join(cells)} | {aim} |"
        )
    return lines


def _clients(count: int) -> str:
    return f"{count} client" + ("s" if count > 1 else "")


def _ratio_values(run: Run, numerator: str, denominator: str) -> dict[int, float]:
    values: dict[int, float] = {}
    for m in run.measurements:
        if m.scenario != numerator:
            continue
        base = run.rps(denominator, m.load.concurrency)
        if base:
            values[m.load.concurrency] = m.load.rps / base
    return values


def _aim(values: dict[int, float], target: float | None) -> str:
    if target is None:
        return "–"
    met = all(v >= target for v in values.values())
    return f"≥ {target:.2f}: {'met' if met else 'not met'}"


def _ratio_key(numerator: str, denominator: str) -> str:
    return f"{numerator}/{denominator}"
