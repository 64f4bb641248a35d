"""The HTTP load generator's interface: wrk when installed, else an asyncio raw-socket client."""

import shutil

from bench.load import LoadResult, Target

GENERATORS = ("auto", "wrk", "asyncio")


def choose_generator(requested: str) -> str:
    if requested == "auto":
        return "wrk" if shutil.which("wrk") else "asyncio"
    if requested == "wrk" and not shutil.which("wrk"):
        raise SystemExit("bench: --generator wrk asked for, but wrk is not installed (apt-get install wrk)")
    return requested


def run_load(generator: str, target: Target, concurrency: int, duration_s: float) -> LoadResult:
    """Keep `concurrency` connections busy for `duration_s`, each awaiting its answer before the next."""
    if generator == "wrk":
        from bench.wrk_driver import run_wrk

        return run_wrk(target, concurrency, duration_s)
    from bench.socket_client import run_sockets

    return run_sockets(target, concurrency, duration_s)
