import argparse
import sys

from bench.amqp_baseline import NOTES, RATE, SECONDS, run
from bench.amqp_baseline.report import notes, table


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.amqp_baseline", description=sys.modules["bench.amqp_baseline"].__doc__
    )
    parser.add_argument("--seconds", type=float, default=SECONDS, help="seconds per paced run")
    parser.add_argument("--rate", type=int, default=RATE, help="incidents/s of the latency figures")
    parser.add_argument("--write-notes", action="store_true", help=f"also write {NOTES}")
    args = parser.parse_args()
    results = run(args.seconds, args.rate)
    print(table(results))
    if args.write_notes:
        command = " ".join(["python -m bench.amqp_baseline", *sys.argv[1:]])
        NOTES.parent.mkdir(parents=True, exist_ok=True)
        NOTES.write_text(notes(results, command))


if __name__ == "__main__":
    main()
