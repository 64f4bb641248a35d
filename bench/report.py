"""The figures of a run as a Markdown section (stdout and docs/BENCHMARKS.md) and as raw JSON."""

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import tables
from bench.amqp_delivery import markdown as amqp_markdown
from bench.machine import REPO_ROOT
from bench.runner import Run
from bench.scenarios import RATIOS
from bench.targets import checks

DOC = REPO_ROOT / "docs" / "BENCHMARKS.md"
RESULTS_DIR = REPO_ROOT / "bench" / "results"
# The generated part of BENCHMARKS.md lies between these; prose around them is kept.
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"


def markdown(run: Run, images: Mapping[str, str] | None = None) -> str:
    """The section; `images` maps a part (`throughput`, `latency`, `fanout`, `drain`) to a plot's path
    relative to the document."""
    images = images or {}
    lines = [*_header(run), "", "### Targets", "", *tables.targets(run)]
    if run.measurements:
        lines += ["", "### HTTP throughput", "", *_images(images, "throughput", "latency")]
        lines += [*tables.throughput(run), "", *tables.ratios(run)]
    if run.fanouts:
        lines += ["", "### Snapshot fan-out", "", *_images(images, "fanout"), *tables.fanout(run)]
    if run.drains:
        lines += ["", "### Worker drain", "", *_images(images, "drain"), *tables.drain(run)]
    if run.incidents:
        lines += ["", "### Incident fan-out", "", *tables.incidents(run)]
    if run.floods:
        lines += [
            "",
            "### Incidents of unknown fixtures",
            "",
            *(f"    {x}" for f in run.floods for x in f.lines()),
        ]
    for found in run.amqp:
        lines += ["", "### AMQP delivery beside the fast clients", "", *amqp_markdown(found).splitlines()[2:]]
    return "\n".join(lines) + "\n"


def write_json(run: Run) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"{stamp}.json"
    document = {
        "machine": run.machine,
        "options": asdict(run.options),
        "seconds": run.seconds,
        "measurements": [m.as_dict() for m in run.measurements],
        "ratios": {
            f"{r.numerator}/{r.denominator}": tables.ratio_values(run, r.numerator, r.denominator)
            for r in RATIOS
        },
        "fanouts": [{**asdict(f), "rate": f.snapshot.rate, "raw_rate": f.raw.rate} for f in run.fanouts],
        "drains": [{**asdict(d), "rate": d.rate} for d in run.drains],
        "incidents": [{**asdict(i), "rate": i.drain.rate, "raw_rate": i.raw.rate} for i in run.incidents],
        "incident_floods": [asdict(f) for f in run.floods],
        "amqp_delivery": [asdict(a) for a in run.amqp],
        "checks": [c.as_dict() for c in checks(run)],
        "notes": run.notes,
        "failures": run.failures,
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
    lines = [
        f"## Latest run: {m['date']}",
        "",
        f"- Machine: {m['cores']} cores, {m['cpu_model']}, Linux {m['kernel']}; Python {m['python']}; "
        f"commit {m['commit']}",
        f"- Command: `{o.command}`, which took {run.seconds:.0f} s: {o.duration_s:g} s per HTTP figure "
        f"after a {o.warmup_s:g} s warm-up per scenario; fan-out of "
        f"{' and '.join(f'{s:,}' for s in o.fanout_sizes)} fixtures; drain of {o.drain_commands:,} commands "
        f"by {', '.join(map(str, o.drain_workers))} workers",
        f"- Load generator: {m['generator_version']}",
    ]
    lines += [f"- Note: {note}" for note in run.notes]
    lines += [f"- **Failed**: {failure}" for failure in run.failures]
    return lines


def _images(images: Mapping[str, str], *parts: str) -> list[str]:
    found = [f"![{part}]({images[part]})" for part in parts if part in images]
    return [" ".join(found), ""] if found else []
