"""`status` with AMQP delivery over HTTP (`python -m bench.amqp_status [--duration S]`): an ingress with
LIVESCORE_DELIVERY=amqp on a private RabbitMQ node, an ingress delivering to Redis streams and the bare
Litestar route, measured in one-second turns as `bench/run` measures its HTTP scenarios."""

import argparse
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.baseline import BARE_PATH
from bench.loadgen import choose_generator
from bench.scenarios import API, CONCURRENCIES, Scenario, measure_interleaved
from bench.services import PACKAGE_ID, Serving, _free_port, _wait_healthy, backing, process, serving
from domain.settings import Settings
from servers import rabbitmq_node

TARGET = 0.5


def run(duration_s: float) -> str:
    if not rabbitmq_node.installed():
        raise SystemExit(f"bench: RabbitMQ is not installed ({rabbitmq_node.INSTALL_HINT})")
    status = (f"{API}/package/status",)
    scenarios = [
        Scenario("bare", "bare route", "bare", (BARE_PATH,), CONCURRENCIES),
        Scenario("status", "status, Redis streams", "ingress_alone", status, CONCURRENCIES),
        Scenario("status_amqp", "status, delivering over AMQP", "ingress_amqp", status, CONCURRENCIES),
    ]
    with backing() as stores, tempfile.TemporaryDirectory() as base, ExitStack() as stack:
        node = rabbitmq_node.start_node(Path(base), Settings())
        stack.callback(node.stop)
        amqp = node.settings(Settings())
        port = _free_port()
        env = stores.env(
            PORT=str(port),
            LIVESCORE_HOST="127.0.0.1",
            LIVESCORE_DELIVERY="amqp",
            LIVESCORE_AMQP_URL=amqp.amqp_url,
            LIVESCORE_AMQP_MANAGEMENT_URL=amqp.amqp_management_url,
        )
        ingress = stack.enter_context(process(["ingress"], env, stores.workdir / "ingress-amqp.log"))
        _wait_healthy(port, [ingress], stores.workdir)
        servers = {
            "bare": stack.enter_context(serving("bare", stores)),
            "ingress_alone": stack.enter_context(serving("ingress_alone", stores)),
            "ingress_amqp": Serving(port, {"server": ingress.pid}),
        }
        bodies = {s.key: b"" if s.key == "bare" else stores.credentials_body(PACKAGE_ID) for s in scenarios}
        found = measure_interleaved(scenarios, servers, bodies, choose_generator("auto"), duration_s, 1.0)
    return _table({(m.scenario, m.load.concurrency): m.load.rps for m in found})


def _table(rates: dict[tuple[str, int], float]) -> str:
    """One row per number of clients: the three routes' requests/s and the AMQP route's ratio to bare."""
    lines = [
        "| clients | bare route | status, Redis streams | status, over AMQP | AMQP / bare (aim ≥ 0.50) |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for clients in CONCURRENCIES:
        bare, redis, over_amqp = (rates[(key, clients)] for key in ("bare", "status", "status_amqp"))
        met = "met" if over_amqp / bare >= TARGET else "not met"
        lines.append(
            f"| {clients} | {bare:,.0f} | {redis:,.0f} | {over_amqp:,.0f} | {over_amqp / bare:.2f} ({met}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.amqp_status", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per figure")
    print(run(parser.parse_args().duration))


if __name__ == "__main__":
    main()
