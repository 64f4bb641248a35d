// Consume a package's queue with Node's amqplib (https://www.npmjs.com/package/amqplib), printing each
// message body.
//
// On the `Incidents` vhost it also keeps each match's live state as a customer must (docs/CONSUMING.md,
// "After a gap"): a scoreboard (MessageType 4) replaces the fixture's state, an incident (2) is applied on
// top of it, and a recovery's completion (101) says every scoreboard and recovered incident it announced
// has arrived. The score goes to stderr, one line per change.
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

// fixtureId -> the fixture's scoreboard (the body of its latest MessageType 4), with later incidents applied.
const live = new Map();

function handle(envelope) {
  const kind = envelope.header.MessageType;
  const body = envelope.body;
  if (kind === 4) {
    // a scoreboard (activation's initial image, recovery): the whole state, replacing yours
    live.set(body.fixtureId, body);
    say(body);
  } else if (kind === 2) {
    // an incident: on top of the scoreboard before it (or of nothing, for a new match)
    if (!live.has(body.fixtureId)) live.set(body.fixtureId, { fixtureId: body.fixtureId, periods: [] });
    applyIncident(live.get(body.fixtureId), body);
    say(live.get(body.fixtureId));
  } else if (kind === 101) {
    // a recovery is over: go on with the live incidents as usual
    process.stderr.write(
      `recovery ${body.requestId} done: ${body.fixtureCount} scoreboards, ` +
        `${body.incidentCount} incidents recovered\n`,
    );
  }
}

// A `Score` holds its period's score after it: a replacement, so an incident that comes twice (after a
// crash, or one already in the scoreboard) changes nothing. Keep more (statistics, the clock) alike.
function applyIncident(board, incident) {
  const period = incident.period || { id: 0, name: null }; // a Score with no period: period 0
  let entry = board.periods.find((p) => p.id === period.id);
  if (!entry) {
    entry = { ...period, finished: false, results: [] };
    board.periods.push(entry);
    board.periods.sort((a, b) => a.id - b.id);
  }
  if (incident.kind === 'Score' && incident.values) entry.results = incident.values;
  if (incident.kind === 'Period' && incident.status === 'Finished') entry.finished = true;
}

// The match score: per position, the sum over the periods (sports in sets count the sets won instead, as
// the scoreboard's `results` does).
function say(board) {
  const total = { 1: 0, 2: 0 };
  for (const period of board.periods) {
    for (const value of period.results) {
      total[value.position] = (total[value.position] || 0) + Number(value.value);
    }
  }
  process.stderr.write(`fixture ${board.fixtureId}: ${total[1]}–${total[2]}\n`);
}

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
    handle(JSON.parse(message.content.toString('utf8'))); // the score first (stderr), then the body
    process.stdout.write(message.content.toString('utf8') + '\n');
    channel.ack(message); // acknowledged once handled: the broker then drops it
  });
  process.once('SIGINT', () => connection.close());
}

main().catch((error) => {
  console.error(`amqplib_consumer: ${error.message}`);
  process.exit(1);
});
