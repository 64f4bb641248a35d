"""The baseline's figures as Markdown: the printed table, and its part of docs/BENCHMARKS.md."""

from bench.amqp_baseline import CLIENTS, P99_LIMIT_MS, SNAPSHOT, WINDOW, Results, Step

NAMES = {"amqplib": "Node amqplib", "aiormq": "Python aiormq, pipelined", "raw": "Python pamqp, raw socket"}
WAY_NAMES = {"copies": "client publishes the 50 copies", "exchange": "one publish to a fanout exchange"}


def _latency(step: Step) -> str:
    return (
        f"{step.delivered:,}/{step.expected:,} delivered, p50 {step.p50_ms:,.0f} / p99 {step.p99_ms:,.0f} / "
        f"max {step.max_ms:,.0f} ms"
    )


def best_copies(results: Results) -> Step:
    """The fast client's figure the service's incidents p99 is held to: copies published by the client."""
    steps = [results.at_rate(client, "copies") for client in CLIENTS]
    complete = [s for s in steps if s.delivered == s.expected and s.nacked == 0] or steps
    return min(complete, key=lambda s: s.p99_ms)


def best_snapshot(results: Results) -> tuple[str, float]:
    client = max(CLIENTS, key=results.snapshot)
    return client, results.snapshot(client)


def table(results: Results) -> str:
    clients = list(CLIENTS)
    lines = [
        "| " + " | ".join(["", *(NAMES[c] for c in clients), "baseline (fastest)"]) + " |",
        "| --- | " + " | ".join("---:" for _ in range(len(clients) + 1)) + " |",
    ]
    for way in ("copies", "exchange"):
        steps = [results.at_rate(c, way) for c in clients]
        complete = [s for s in steps if s.delivered == s.expected and s.nacked == 0] or steps
        best = min(complete, key=lambda s: s.p99_ms)
        lines.append(
            f"| {results.rate} incidents/s × {results.seconds:g} s to 50 queues, {WAY_NAMES[way]} | "
            + " | ".join(_latency(s) for s in steps)
            + f" | {NAMES[best.client]}: p99 {best.p99_ms:,.0f} ms |"
        )
    for way in ("copies", "exchange"):
        held = {c: results.held(c, way) for c in clients}
        top = max(clients, key=lambda c: held[c] or 0)
        lines.append(
            f"| highest rate held {results.seconds:g} s with p99 ≤ {P99_LIMIT_MS / 1000:g} s, all delivered, "
            f"{WAY_NAMES[way]} (incidents/s; ×50 messages/s) | "
            + " | ".join(_held(held[c], results.rate) for c in clients)
            + f" | {NAMES[top]}: {_held(held[top], results.rate)} |"
        )
    client, rate = best_snapshot(results)
    lines.append(
        f"| snapshot: {SNAPSHOT:,} fixtures to one queue, ≤ {WINDOW:,} unconfirmed (messages/s, median of "
        f"{len(results.snapshots[client])}) | "
        + " | ".join(f"{results.snapshot(c):,.0f}" for c in clients)
        + f" | {NAMES[client]}: {rate:,.0f} |"
    )
    return "\n".join(lines)


def _held(rate: int | None, first: int) -> str:
    return f"{rate:,}" if rate else f"none (missed at {first:,})"


def ramp(results: Results) -> str:
    lines = [
        "| client | way | incidents/s | messages/s | delivered | nacked | p50 ms | p99 ms | max ms | "
        "publisher behind, max ms | held |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in sorted(results.steps, key=lambda s: (s.client, s.way, s.rate)):
        lines.append(
            f"| {NAMES[s.client]} | {s.way} | {s.rate:,} | {s.rate * 50:,} | "
            f"{s.delivered:,}/{s.expected:,} | {s.nacked} | {s.p50_ms:,.0f} | {s.p99_ms:,.0f} | "
            f"{s.max_ms:,.0f} | {s.behind_ms:,.0f} | {'yes' if s.held else 'no'} |"
        )
    return "\n".join(lines)


def notes(results: Results, command: str) -> str:
    before = ", ".join(f"{x:.2f}" for x in results.load_before)
    after = ", ".join(f"{x:.2f}" for x in results.load_after)
    snapshots = "; ".join(
        f"{NAMES[c]} " + ", ".join(f"{r:,.0f}" for r in results.snapshots[c]) for c in CLIENTS
    )
    return f"""# AMQP baseline: what a fast publishing client gets from one RabbitMQ 3.10 node (issue 22)

Measured {results.started} with `{command}` (bench/amqp_baseline/).

Machine load average (1, 5, 15 min) before: {before}; after: {after}. **This machine (2 cores) is shared
with other engineers' tests running at the same time**: the figures move with that load, so compare the
service with the baseline only within one run, as `bench/amqp_baseline` does for its clients.

{_setup(results)}## Figures

{table(results)}

Every step of the ramp:

{ramp(results)}

Snapshot runs (messages/s): {snapshots}.

{_meaning(results)}"""


def _setup(results: Results) -> str:
    """The report's set-up section: the node, the messages, the publishers, the consumer and the ramp."""
    return f"""## Set-up
- One private RabbitMQ 3.10 node (`servers.rabbitmq_node.start_node`), the service's account; 50 durable
  classic queues on the Incidents vhost declared as the service declares them (`x-max-length` 50,000,
  `x-overflow` `reject-publish`), a fanout exchange bound to them; one Fixtures queue for the snapshot.
- Messages: the service's envelopes (incident: MessageType 2; fixture: MessageType 1) padded to ~600 bytes,
  persistent, `content_type` `application/json`; each stamped with its creation time (epoch ms) when its
  publish starts, as the service's incidents are when appended (a timer waking late is the pacing's,
  reported as how far the publisher fell behind).
- Publishers, each a process of its own: Node's amqplib {_amqplib_version()} (`publisher.js`, confirm
  channel); aiormq (`pipelined.py`: every publish a task, `wait=False`, the confirmations gathered as they
  arrive); pamqp frames over a bare asyncio socket (`raw.py`: a publish's method and header frames
  marshalled once, confirmations only counted). Publisher confirms, at most {WINDOW:,} publishes
  unconfirmed, never one at a time.
- Consumer: one amqplib connection consuming all 50 queues, no-ack, the same for both publishers;
  latency = arrival − creation, both this machine's clock.
- Ramp: {results.rate} incidents/s, then the higher rates of `RAMP`, {results.seconds:g} s each; a client and
  way stop at the first rate with p99 > 1 s, a lost message or a nack.

"""


def _meaning(results: Results) -> str:
    """The report's last section: the bars the service must clear in the same run."""
    copies = best_copies(results)
    client, snapshot = best_snapshot(results)
    return f"""## What they mean for issue 22
- **Incidents**: at {results.rate} incidents/s to 50 packages, the fastest client publishing the 50
  copies itself ({NAMES[copies.client]}) delivered {copies.delivered:,}/{copies.expected:,} with
  p99 **{copies.p99_ms:,.0f} ms** (p50 {copies.p50_ms:,.0f} ms). The service's incidents p99 in the same
  run must be no worse than that (ratio ≥ 1.0), all delivered; publishing once to an exchange (the
  broker copies) is the row to beat, since that is the design issue 22 asks for.
- **Snapshot**: the fastest client put {snapshot:,.0f} messages/s into one queue ({NAMES[client]});
  the service's snapshot of {SNAPSHOT:,} fixtures must reach ≥ 0.8 of that,
  **≥ {0.8 * snapshot:,.0f} messages/s**, measured in the same run.
- The highest rate held is the node's and the client's ceiling on this machine, not the service's aim;
  it says how much room is left above a live match day's 200 incidents/s.
- The service-side half (the service's figures beside these, in `bench/run`) is issue 22's later work.
"""


def _amqplib_version() -> str:
    import json
    from pathlib import Path

    lock = Path(__file__).with_name("package-lock.json")
    packages = json.loads(lock.read_text()).get("packages", {})
    return str(packages.get("node_modules/amqplib", {}).get("version", "?"))
