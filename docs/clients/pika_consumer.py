"""Consume a package's queue with pika (https://pypi.org/project/pika/), printing each message body.

On the `Incidents` vhost it also keeps each match's live state as a customer must (docs/CONSUMING.md,
"After a gap"): a scoreboard (MessageType 4) replaces the fixture's state, an incident (2) is applied on top
of it, and a recovery's completion (101) says every scoreboard and recovered incident it announced has
arrived. The score goes to stderr, one line per change.

The queue already exists: the service creates `_{packageId}_` on the `Fixtures` and `Incidents` vhosts when
the package is activated. A customer may not declare it (403 ACCESS_REFUSED), only declare it *passively*,
which checks that it exists and changes nothing.

    AMQP_HOST=feed.example.com AMQP_USERNAME=me AMQP_PASSWORD=secret PACKAGE_ID=123 \
    AMQP_CA_FILE=/etc/ssl/certs/ca-certificates.crt python pika_consumer.py

AMQP_CA_FILE set: TLS (AMQPS, port 5671 unless AMQP_PORT says otherwise), trusting that CA file; unset: plain
AMQP on 5672 (local development only). AMQP_VHOST: `Fixtures` (default) or `Incidents`.
"""

import json
import os
import ssl
import sys

import pika

host = os.environ.get("AMQP_HOST", "127.0.0.1")
ca_file = os.environ.get("AMQP_CA_FILE")
queue = f"_{os.environ['PACKAGE_ID']}_"

parameters = pika.ConnectionParameters(
    host=host,
    port=int(os.environ.get("AMQP_PORT") or (5671 if ca_file else 5672)),
    virtual_host=os.environ.get("AMQP_VHOST", "Fixtures"),
    credentials=pika.PlainCredentials(os.environ["AMQP_USERNAME"], os.environ["AMQP_PASSWORD"]),
    ssl_options=pika.SSLOptions(ssl.create_default_context(cafile=ca_file), host) if ca_file else None,
)
connection = pika.BlockingConnection(parameters)
channel = connection.channel()
channel.queue_declare(queue, passive=True)  # passive: never declare a queue you do not own
channel.basic_qos(prefetch_count=100)


# fixtureId -> the fixture's scoreboard (the body of its latest MessageType 4), with later incidents applied.
live = {}


def handle(envelope):
    header, body = envelope["header"], envelope.get("body")
    kind = header["MessageType"]
    if kind == 4:  # a scoreboard (activation's initial image, recovery): the whole state, replacing yours
        live[body["fixtureId"]] = body
        say(body)
    elif kind == 2:  # an incident: on top of the scoreboard before it (or of nothing, for a new match)
        board = live.setdefault(body["fixtureId"], {"fixtureId": body["fixtureId"], "periods": []})
        apply_incident(board, body)
        say(board)
    elif kind == 101:  # a recovery is over: go on with the live incidents as usual
        print(f"recovery {body['requestId']} done: {body['fixtureCount']} scoreboards, "
              f"{body['incidentCount']} incidents recovered", file=sys.stderr, flush=True)  # fmt: skip


def apply_incident(board, incident):
    """A `Score` holds its period's score after it: a replacement, so an incident that comes twice (after
    a crash, or one already in the scoreboard) changes nothing. Keep more (statistics, the clock) alike."""
    period = incident.get("period") or {"id": 0, "name": None}  # a Score with no period: period 0
    periods = {p["id"]: p for p in board["periods"]}
    entry = periods.setdefault(period["id"], {**period, "finished": False, "results": []})
    if incident["kind"] == "Score" and incident.get("values"):
        entry["results"] = incident["values"]
    if incident["kind"] == "Period" and incident.get("status") == "Finished":
        entry["finished"] = True
    board["periods"] = sorted(periods.values(), key=lambda p: p["id"])


def say(board):
    """The match score: per position, the sum over the periods (sports in sets count the sets won instead,
    as the scoreboard's `results` does)."""
    total = {1: 0.0, 2: 0.0}
    for period in board["periods"]:
        for value in period["results"]:
            total[value["position"]] = total.get(value["position"], 0.0) + float(value["value"])
    print(f"fixture {board['fixtureId']}: {total[1]:g}–{total[2]:g}", file=sys.stderr, flush=True)


def on_message(channel, method, properties, body):
    handle(json.loads(body))  # the score first (stderr), then the body (stdout)
    print(body.decode("utf-8"), flush=True)
    channel.basic_ack(method.delivery_tag)  # acknowledged once handled: the broker then drops it


channel.basic_consume(queue, on_message)
try:
    channel.start_consuming()
except KeyboardInterrupt:
    connection.close()
