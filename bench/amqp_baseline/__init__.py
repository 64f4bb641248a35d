"""Issue 22's baseline (`python -m bench.amqp_baseline [--seconds S] [--rate R] [--write-doc]`): what a
fast publishing client achieves on a private RabbitMQ 3.10 node, the figures the service's AMQP delivery
is measured against.

Three clients, each in a process of its own, in the same run: Node's amqplib (publisher.js, pinned by
package-lock.json) and two pipelining Python clients (pipelined.py): aiormq directly, and pamqp frames over
a bare socket (raw.py). All publish persistent messages with publisher confirms, at most WINDOW
unconfirmed.

1. **Incidents to 50 packages**: 50 durable classic queues declared as the service declares an Incidents
   queue (`x-max-length` 50,000, `x-overflow` `reject-publish`); incidents (~600-byte JSON envelopes) paced
   at R a second for S seconds, each delivered to all 50 queues, in two ways: **copies** (the client
   publishes the 50 copies itself, default exchange, routing key = queue) and **exchange** (one publish to
   a fanout exchange bound to the 50 queues; the broker copies). A consumer of all 50 queues (publisher.js,
   one connection, no-ack, the same for both clients) notes each arrival; latency = arrival minus the
   incident's creation time, stamped in its body when its publish starts, as the service's incidents are
   when appended (a publisher's timer waking late is the pacing's, reported as how far it fell behind,
   not the publishing's). Then a ramp from R (ramp steps of RAMP) for each client and way: the highest rate
   held for S seconds with p99 ≤ 1 s, all delivered, no nack.
2. **Snapshot to one queue**: SNAPSHOT fixture-sized (~600 B) messages to one Fixtures queue as fast as the
   window allows: messages/s from the first publish to the last confirmation (median of SNAPSHOT_TURNS).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bench.amqp_baseline import broker
from domain.settings import Settings
from servers import rabbitmq_node

HERE = Path(__file__).resolve().parent
CLIENTS: dict[str, list[str]] = {
    "amqplib": ["node", str(HERE / "publisher.js")],
    "aiormq": [sys.executable, "-m", "bench.amqp_baseline.pipelined", "aiormq"],
    "raw": [sys.executable, "-m", "bench.amqp_baseline.pipelined", "raw"],
}
WAYS = ("copies", "exchange")
RATE, SECONDS = 200, 10
# The rates of the ramp (incidents/s, each to 50 queues); a client and way stop at their first miss.
RAMP = (200, 300, 400, 600, 800, 1200, 1600, 2400, 3200, 4800, 6400)
P99_LIMIT_MS = 1000.0
WINDOW, PREFETCH = 1000, 1000
SNAPSHOT, SNAPSHOT_TURNS = 20_000, 3
MESSAGE_BYTES = 600
WARM_UP_S = 1.0
# After the last confirmation, how long the consumer may take to see every message.
DRAIN_S = 30
# A publisher that has not finished in its paced time plus this is a failure, not waited for.
PUBLISH_SLACK_S = 120


@dataclass(frozen=True, slots=True)
class Step:
    client: str
    way: str
    rate: int
    expected: int
    delivered: int
    nacked: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    behind_ms: float

    @classmethod
    def arrived(
        cls, client: str, way: str, rate: int, expected: int, seen: dict[str, Any], nacked: int, behind: float
    ) -> "Step":
        """A step's figures as the consumer reported them (`Consumer.figures`)."""
        return cls(
            client,
            way,
            rate,
            expected,
            int(seen["received"]),
            nacked,
            float(seen["p50"] or 0.0),
            float(seen["p99"] or 0.0),
            float(seen["max"] or 0.0),
            behind,
        )

    @property
    def held(self) -> bool:
        return self.delivered == self.expected and self.nacked == 0 and self.p99_ms <= P99_LIMIT_MS


@dataclass
class Results:
    seconds: float
    rate: int
    steps: list[Step] = field(default_factory=list)
    snapshots: dict[str, list[float]] = field(default_factory=dict)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    started: str = ""

    def at_rate(self, client: str, way: str) -> Step:
        return next(s for s in self.steps if (s.client, s.way, s.rate) == (client, way, self.rate))

    def held(self, client: str, way: str) -> int | None:
        rates = [s.rate for s in self.steps if (s.client, s.way) == (client, way) and s.held]
        return max(rates) if rates else None

    def snapshot(self, client: str) -> float:
        return statistics.median(self.snapshots[client])


def run(seconds: float, rate: int) -> Results:
    if not rabbitmq_node.installed():
        raise SystemExit(f"bench: RabbitMQ is not installed ({rabbitmq_node.INSTALL_HINT})")
    _npm_ci()
    results = Results(seconds, rate, load_before=os.getloadavg(), started=_now())
    with tempfile.TemporaryDirectory() as base:
        node = rabbitmq_node.start_node(Path(base), Settings())
        try:
            _measure(node.settings(Settings()), results)
        finally:
            node.stop()
    results.load_after = os.getloadavg()
    return results


def _measure(settings: Settings, results: Results) -> None:
    incidents_url, fixtures_url = (
        broker.vhost_url(settings, "incidents"),
        broker.vhost_url(settings, "fixtures"),
    )
    queues = broker.declare(incidents_url, fixtures_url, settings.queue_limit)
    templates = broker.incident_templates(MESSAGE_BYTES)
    with _consumer(incidents_url, queues.incidents) as consumer:
        for client, way in _pairs():
            # A fresh node's first seconds are slower (the queues' first writes): each client and way
            # publishes for WARM_UP_S before anything is measured.
            _step(client, way, _job(incidents_url, queues, templates, way, RATE, WARM_UP_S), consumer)
            broker.purge(incidents_url, queues.incidents)
        _ramp(incidents_url, queues, templates, consumer, results)
    _snapshots(fixtures_url, queues.snapshot, results)


def _pairs() -> list[tuple[str, str]]:
    return [(client, way) for client in CLIENTS for way in WAYS]


# The properties the service sets on every message (SPEC §9; delivery/amqp.py `_content`), with values of
# the same sizes: the fast clients hand the broker the same bytes to route and store, not a lighter load.
def service_properties(message_type: int, request_id: bool) -> dict[str, Any]:
    headers: dict[str, Any] = {"MessageType": message_type, "FixtureId": 12_345_678, "SportId": 6046}
    headers["LeagueId"] = 1001
    if request_id:
        headers["RequestId"] = "6f1c2d3e-4a5b-4c6d-8e7f-901234567890"
    return {
        "contentType": "application/json",
        "contentEncoding": "utf-8",
        "headers": headers,
        "priority": 0,
        "correlationId": "0f1e2d3c-4b5a-4697-8877-665544332211",
        "messageId": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
        "timestamp": 1_796_000_000,
        "type": str(message_type),
        "appId": "faststream-0.7.8",
    }


def _job(
    url: str, queues: broker.Queues, templates: list[str], way: str, rate: int, seconds: float
) -> dict[str, Any]:
    return {
        "properties": service_properties(2, request_id=False),
        "url": url,
        "queues": queues.incidents,
        "exchange": "" if way == "copies" else queues.exchange,
        "routingKey": "",
        "rate": rate,
        "seconds": seconds,
        "window": WINDOW,
        "templates": templates,
    }


def _ramp(
    url: str, queues: broker.Queues, templates: list[str], consumer: "Consumer", results: Results
) -> None:
    """Each rate for every client and way still going (interleaved, so the machine's load falls on all
    alike); a client and way stop at their first miss."""
    going = _pairs()
    for rate in [results.rate, *(r for r in RAMP if r > results.rate)]:
        for client, way in list(going):
            step = _step(client, way, _job(url, queues, templates, way, rate, results.seconds), consumer)
            _report_progress(step)
            results.steps.append(step)
            broker.purge(url, queues.incidents)
            if not step.held:
                going.remove((client, way))
        if not going:
            return


def _snapshots(url: str, queue: str, results: Results, clients: tuple[str, ...] = tuple(CLIENTS)) -> None:
    job = {
        "properties": service_properties(1, request_id=True),
        "url": url,
        "queue": queue,
        "count": SNAPSHOT,
        "window": WINDOW,
        "templates": broker.fixture_templates(MESSAGE_BYTES),
    }
    for _ in range(SNAPSHOT_TURNS):
        for client in clients:
            answer = _publish(client, "snapshot", job, SNAPSHOT / 100)
            if answer["confirmed"] != SNAPSHOT:
                raise RuntimeError(f"{client}: snapshot confirmed {answer['confirmed']} of {SNAPSHOT}")
            results.snapshots.setdefault(client, []).append(float(answer["rate"]))
            broker.purge(url, [queue])


def _step(client: str, way: str, job: dict[str, Any], consumer: "Consumer") -> Step:
    answer = _publish(client, "incidents", job, float(job["seconds"]))
    expected = int(answer["incidents"]) * len(job["queues"])
    seen = consumer.figures(expected, DRAIN_S)
    return Step.arrived(
        client, way, int(job["rate"]), expected, seen, int(answer["nacked"]), float(answer["behindMs"])
    )


def _publish(client: str, mode: str, job: dict[str, Any], seconds: float) -> dict[str, Any]:
    done = subprocess.run(
        [*CLIENTS[client], mode, json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=seconds + PUBLISH_SLACK_S,
        cwd=HERE.parents[1],
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{client} {mode} failed:\n{done.stderr[-4000:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


class Consumer:
    """publisher.js consuming every queue: figures of what arrived since the last ask."""

    def __init__(self, stdin: IO[str], stdout: IO[str]) -> None:
        self._stdin, self._stdout = stdin, stdout

    def figures(self, expected: int, timeout_s: float) -> dict[str, Any]:
        self._stdin.write(f"stop {expected} {timeout_s}\n")
        self._stdin.flush()
        answer: dict[str, Any] = json.loads(self._stdout.readline())
        return answer


@contextmanager
def _consumer(url: str, queues: list[str]) -> Iterator[Consumer]:
    job = {"url": url, "queues": queues, "prefetch": PREFETCH}
    with subprocess.Popen(
        [*CLIENTS["amqplib"], "consume", json.dumps(job)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            if json.loads(process.stdout.readline() or "{}").get("ready") is not True:
                raise RuntimeError("the consumer did not start")
            yield Consumer(process.stdin, process.stdout)
            process.stdin.write("quit\n")
            process.stdin.flush()
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()


def _npm_ci() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("bench: Node and npm are needed for the amqplib client")
    if not (HERE / "node_modules" / "amqplib").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)


def _report_progress(step: Step) -> None:
    print(
        f"  {step.client} {step.way} {step.rate}/s: {step.delivered:,}/{step.expected:,} delivered, "
        f"p50 {step.p50_ms:,.0f} ms, p99 {step.p99_ms:,.0f} ms, nacked {step.nacked}",
        file=sys.stderr,
        flush=True,
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
