import argparse
import sys

from bench.amqp_baseline import RATE, SECONDS, run
from bench.amqp_baseline.report import notes, table
from bench.machine import REPO_ROOT

DOC = REPO_ROOT / "docs" / "BENCHMARKS.md"
# Its section of BENCHMARKS.md lies between these; a run with --write-doc replaces what is between them.
BEGIN, END = "<!-- bench:amqp-baseline:begin -->", "<!-- bench:amqp-baseline:end -->"


def write_doc(text: str) -> None:
    """The run's figures as BENCHMARKS.md's section (every figure lives on that page), headings one level
    down."""
    section = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
    doc = DOC.read_text()
    if BEGIN in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + BEGIN + "\n" + section + "\n" + END + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + f"\n\n{BEGIN}\n{section}\n{END}\n"
    DOC.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.amqp_baseline", description=sys.modules["bench.amqp_baseline"].__doc__
    )
    parser.add_argument("--seconds", type=float, default=SECONDS, help="seconds per paced run")
    parser.add_argument("--rate", type=int, default=RATE, help="incidents/s of the latency figures")
    parser.add_argument("--write-doc", action="store_true", help="also write its part of docs/BENCHMARKS.md")
    args = parser.parse_args()
    results = run(args.seconds, args.rate)
    print(table(results))
    if args.write_doc:
        write_doc(notes(results, " ".join(["python -m bench.amqp_baseline", *sys.argv[1:]])))


if __name__ == "__main__":
    main()
