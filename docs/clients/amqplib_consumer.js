// Consume a package's queue with Node's amqplib (https://www.npmjs.com/package/amqplib), printing each
// message body.
//
// The queue already exists: the service creates `_{packageId}_` on the `Fixtures` and `Incidents` vhosts
// when the package is activated. A customer may not declare it (403 ACCESS_REFUSED): `checkQueue` is the
// passive declare, which checks that it exists and changes nothing.
//
//   npm ci
//   AMQP_HOST=feed.example.com AMQP_USERNAME=me AMQP_PASSWORD=secret PACKAGE_ID=123 \
//   AMQP_CA_FILE=/etc/ssl/certs/ca-certificates.crt node amqplib_consumer.js
//
// AMQP_CA_FILE set: TLS (AMQPS, port 5671 unless AMQP_PORT says otherwise), trusting that CA file; unset:
// plain AMQP on 5672 (local development only). AMQP_VHOST: `Fixtures` (default) or `Incidents`.
'use strict';

const fs = require('fs');
const amqp = require('amqplib');

async function main() {
  const env = process.env;
  const caFile = env.AMQP_CA_FILE;
  const connection = await amqp.connect(
    {
      protocol: caFile ? 'amqps' : 'amqp',
      hostname: env.AMQP_HOST || '127.0.0.1',
      port: Number(env.AMQP_PORT || (caFile ? 5671 : 5672)),
      vhost: env.AMQP_VHOST || 'Fixtures',
      username: env.AMQP_USERNAME,
      password: env.AMQP_PASSWORD,
    },
    caFile ? { ca: [fs.readFileSync(caFile)] } : {},
  );
  const channel = await connection.createChannel();
  const queue = `_${env.PACKAGE_ID}_`;
  await channel.checkQueue(queue); // passive: never declare a queue you do not own
  await channel.prefetch(100);
  await channel.consume(queue, (message) => {
    process.stdout.write(message.content.toString('utf8') + '\n');
    channel.ack(message); // acknowledged once handled: the broker then drops it
  });
  process.once('SIGINT', () => connection.close());
}

main().catch((error) => {
  console.error(`amqplib_consumer: ${error.message}`);
  process.exit(1);
});
