"""Consume a package's queue with pika (https://pypi.org/project/pika/), printing each message body.

The queue already exists: the service creates `_{packageId}_` on the `Fixtures` and `Incidents` vhosts when
the package is activated. A customer may not declare it (403 ACCESS_REFUSED), only declare it *passively*,
which checks that it exists and changes nothing.

    AMQP_HOST=feed.example.com AMQP_USERNAME=me AMQP_PASSWORD=secret PACKAGE_ID=123 \
    AMQP_CA_FILE=/etc/ssl/certs/ca-certificates.crt python pika_consumer.py

AMQP_CA_FILE set: TLS (AMQPS, port 5671 unless AMQP_PORT says otherwise), trusting that CA file; unset: plain
AMQP on 5672 (local development only). AMQP_VHOST: `Fixtures` (default) or `Incidents`.
"""

import os
import ssl

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


def on_message(channel, method, properties, body):
    print(body.decode("utf-8"), flush=True)
    channel.basic_ack(method.delivery_tag)  # acknowledged once handled: the broker then drops it


channel.basic_consume(queue, on_message)
try:
    channel.start_consuming()
except KeyboardInterrupt:
    connection.close()
