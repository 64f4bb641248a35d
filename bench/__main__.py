"""`python -m bench` (what `bench/run` calls): every scenario, one command, figures to stdout and docs."""

import argparse
import shlex
import signal
import sys
from dataclasses import replace

from bench import report
from bench.loadgen import GENERATORS
from bench.runner import PARTS, Options, Run, run

# Long enough for p99 to rest on thousands of requests even at one client; a whole run takes minutes.
FULL_DURATION_S = 5.0
# Long enough to see a regression; not figures to publish.
QUICK_DURATION_S = 2.0
# Loads connection pools, the remembered login and CPU caches before any figure is taken.
WARMUP_S = 1.0
# --quick: a backlog still drained in about a second by one worker, and only the worker counts the
# issue sets an aim for, so the whole run stays under two minutes.
QUICK_DRAIN_COMMANDS = 5_000
QUICK_DRAIN_WORKERS = (1, 2)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 s per HTTP figure, a smaller drain; leaves docs/ alone",
    )
    parser.add_argument("--duration", type=float, help="seconds per HTTP figure (overrides --quick's)")
    parser.add_argument("--generator", choices=GENERATORS, default="auto", help="auto: wrk when installed")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/BENCHMARKS.md or the plots")
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="run only this part (repeatable); implies --no-doc"
    )
    return parser.parse_args(argv)


def options_of(args: argparse.Namespace, argv: list[str]) -> Options:
    options = Options(
        duration_s=args.duration or (QUICK_DURATION_S if args.quick else FULL_DURATION_S),
        warmup_s=WARMUP_S,
        generator=args.generator,
        quick=args.quick,
        command=shlex.join(["bench/run", *argv]),
        parts=tuple(args.only or PARTS),
    )
    if args.quick:
        return replace(options, drain_commands=QUICK_DRAIN_COMMANDS, drain_workers=QUICK_DRAIN_WORKERS)
    return options


def main(argv: list[str]) -> int:
    args = parse(argv)
    # Turn a SIGTERM into KeyboardInterrupt so every process is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        result = run(options_of(args, argv))
    except KeyboardInterrupt:
        print("bench: interrupted; every process was stopped", file=sys.stderr)
        return 130
    print(report.markdown(result))
    print(f"raw figures: {report.write_json(result)}", file=sys.stderr)
    if result.failures:
        print("bench: some parts failed; docs/ left alone", file=sys.stderr)
        return 1
    if not (args.quick or args.no_doc or args.only):
        _publish(result)
    return 0


def _publish(result: Run) -> None:
    """The section and the plots into docs/ (the plots only with matplotlib, the `bench` extra)."""
    try:
        from bench import plots
    except ImportError:
        images: dict[str, str] = {}
        print("bench: matplotlib missing (pip install -e '.[bench]'); no plots", file=sys.stderr)
    else:
        images = plots.draw(result, report.DOC.parent)
    report.update_doc(report.markdown(result, images))
    print(f"updated {report.DOC} and {len(images)} plots", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
