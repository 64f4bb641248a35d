"""`python -m bench` (what `bench/run` calls): every scenario, one command, figures to stdout and docs."""

import argparse
import shlex
import signal
import sys

from bench import report
from bench.loadgen import GENERATORS
from bench.runner import Options, run

# Long enough for p99 to rest on thousands of requests even at one client; a whole run takes about a minute.
FULL_DURATION_S = 5.0
# Long enough to see a regression; not figures to publish.
QUICK_DURATION_S = 2.0
# Loads connection pools, the remembered login and CPU caches before any figure is taken.
WARMUP_S = 1.0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="2 s per figure; leaves docs/BENCHMARKS.md alone"
    )
    parser.add_argument("--duration", type=float, help="seconds per figure (overrides --quick's)")
    parser.add_argument("--generator", choices=GENERATORS, default="auto", help="auto: wrk when installed")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/BENCHMARKS.md")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    # Turn a SIGTERM into KeyboardInterrupt so every server is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    options = Options(
        duration_s=args.duration or (QUICK_DURATION_S if args.quick else FULL_DURATION_S),
        warmup_s=WARMUP_S,
        generator=args.generator,
        quick=args.quick,
        command=shlex.join(["bench/run", *argv]),
    )
    try:
        result = run(options)
    except KeyboardInterrupt:
        print("bench: interrupted; every server was stopped", file=sys.stderr)
        return 130
    section = report.markdown(result)
    print(section)
    print(f"raw figures: {report.write_json(result)}", file=sys.stderr)
    if not (args.quick or args.no_doc):
        report.update_doc(section)
        print(f"updated {report.DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
