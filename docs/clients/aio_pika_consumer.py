"""Consume a package's queue with aio-pika (https://pypi.org/project/aio-pika/), printing each message body.

The queue already exists: the service creates `_{packageId}_` on the `Fixtures` and `Incidents` vhosts when
the package is activated. A customer may not declare it (403 ACCESS_REFUSED), only declare it *passively*,
which checks that it exists and changes nothing.

    AMQP_HOST=feed.example.com AMQP_USERNAME=me AMQP_PASSWORD=secret PACKAGE_ID=123 \
    AMQP_CA_FILE=/etc/ssl/certs/ca-certificates.crt python aio_pika_consumer.py

AMQP_CA_FILE set: TLS (AMQPS, port 5671 unless AMQP_PORT says otherwise), trusting that CA file; unset: plain
AMQP on 5672 (local development only). AMQP_VHOST: `Fixtures` (default) or `Incidents`.
"""

import asyncio
import contextlib
import os
import ssl

import aio_pika


async def main() -> None:
    ca_file = os.environ.get("AMQP_CA_FILE")
    connection = await aio_pika.connect_robust(  # robust: reconnects, and consumes again, after an outage
        host=os.environ.get("AMQP_HOST", "127.0.0.1"),
        port=int(os.environ.get("AMQP_PORT") or (5671 if ca_file else 5672)),
        virtualhost=os.environ.get("AMQP_VHOST", "Fixtures"),
        login=os.environ["AMQP_USERNAME"],
        password=os.environ["AMQP_PASSWORD"],
        ssl=bool(ca_file),
        ssl_context=ssl.create_default_context(cafile=ca_file) if ca_file else None,
    )
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=100)
        # passive: never declare a queue you do not own
        queue = await channel.declare_queue(f"_{os.environ['PACKAGE_ID']}_", passive=True)
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():  # acknowledged once the block ends without an error
                    print(message.body.decode("utf-8"), flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
