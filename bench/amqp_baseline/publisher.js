'use strict';
// The fast publishing client of `python -m bench.amqp_baseline` (issue 22's baseline), and the consumer
// that notes arrivals for both clients. Driven by the Python command: `node publisher.js MODE JOB_JSON`,
// one JSON line on stdout per result.
//
// Modes:
//   incidents  paced incidents, each to every queue: `exchange` "" publishes one copy per queue (routing key
//              = queue name); any other exchange gets one publish with `routingKey`, the broker copies.
//   snapshot   `count` messages to one queue as fast as the window allows.
//   consume    consume every queue (no-ack); prints {"ready": true}; then for each stdin line
//              `stop EXPECTED TIMEOUT_S` waits until EXPECTED messages arrived (or the time is up), prints
//              the latencies' figures and starts counting anew; `quit` ends it.
// Publishing is persistent with publisher confirms, at most `window` publishes unconfirmed.
// A message's creation time (epoch ms) replaces the marker in its template; latency = arrival - creation.
const amqp = require('amqplib');

const MARKER = '__CREATED_MS__';
const STAMP = Buffer.from('"createdMs":');

function now() {
  return performance.timeOrigin + performance.now();
}

function templates(job) {
  return job.templates.map((t) => {
    const at = t.indexOf(MARKER);
    return [Buffer.from(t.slice(0, at)), Buffer.from(t.slice(at + MARKER.length))];
  });
}

function body(template, created) {
  return Buffer.concat([template[0], Buffer.from(created.toFixed(3)), template[1]]);
}

// Publishes with at most `window` unconfirmed; `send` returns when the channel's buffer has room.
// The job's message properties (bench/amqp_baseline `service_properties`): the service's own, so that the
// broker routes and stores the same bytes; persistent either way.
function optionsOf(job) {
  const p = job.properties;
  if (!p) return { persistent: true, contentType: 'application/json' };
  return {
    persistent: true,
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    headers: p.headers,
    priority: p.priority,
    correlationId: p.correlationId,
    messageId: p.messageId,
    timestamp: p.timestamp,
    type: p.type,
    appId: p.appId,
  };
}

function publisher(channel, window, options) {
  const state = { inFlight: 0, confirmed: 0, nacked: 0, waiting: null, need: 0 };
  const done = (err) => {
    state.inFlight -= 1;
    if (err) state.nacked += 1;
    else state.confirmed += 1;
    if (state.waiting && state.inFlight + state.need <= window) {
      const resume = state.waiting;
      state.waiting = null;
      resume();
    }
  };
  let drained = null;
  channel.on('drain', () => {
    if (drained) {
      const resume = drained;
      drained = null;
      resume();
    }
  });
  state.room = async (need) => {
    if (state.inFlight + need > window) {
      state.need = need;
      await new Promise((resolve) => {
        state.waiting = resolve;
      });
    }
  };
  state.publish = async (exchange, routingKey, content) => {
    state.inFlight += 1;
    const ok = channel.publish(exchange, routingKey, content, options, done);
    if (!ok) await new Promise((resolve) => { drained = resolve; });
  };
  state.settled = async () => state.room(window);
  return state;
}

async function incidents(job) {
  const connection = await amqp.connect(job.url);
  const channel = await connection.createConfirmChannel();
  const bodies = templates(job);
  const out = publisher(channel, job.window, optionsOf(job));
  const copies = job.exchange === '' ? job.queues.length : 1;
  const total = Math.round(job.rate * job.seconds);
  const started = now() + 50;
  let behind = 0;
  for (let n = 0; n < total; n += 1) {
    const due = started + (n * 1000) / job.rate;
    const wait = due - now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    // Stamped when the publish starts, as the service's incidents are when appended: a timer's lateness
    // is the pacing's (behindMs), not the publishing's.
    const created = now();
    behind = Math.max(behind, created - due);
    await out.room(copies);
    const content = body(bodies[n % bodies.length], created);
    if (copies === 1) await out.publish(job.exchange, job.routingKey, content);
    else for (const queue of job.queues) await out.publish('', queue, content);
  }
  await out.settled();
  const seconds = (now() - started) / 1000;
  await connection.close();
  return { incidents: total, published: total * copies, confirmed: out.confirmed, nacked: out.nacked, seconds, behindMs: behind };
}

async function snapshot(job) {
  const connection = await amqp.connect(job.url);
  const channel = await connection.createConfirmChannel();
  const template = templates(job)[0];
  const out = publisher(channel, job.window, optionsOf(job));
  const started = now();
  for (let n = 0; n < job.count; n += 1) {
    await out.room(1);
    await out.publish('', job.queue, body(template, now()));
  }
  await out.settled();
  const seconds = (now() - started) / 1000;
  await connection.close();
  return { messages: job.count, confirmed: out.confirmed, nacked: out.nacked, seconds, rate: job.count / seconds };
}

function figures(latencies, count) {
  const sorted = Float64Array.from(latencies.subarray(0, count)).sort();
  const at = (q) => (count ? sorted[Math.min(count - 1, Math.ceil(q * count) - 1)] : null);
  return { received: count, p50: at(0.5), p99: at(0.99), max: count ? sorted[count - 1] : null };
}

async function consume(job) {
  const connection = await amqp.connect(job.url);
  const channel = await connection.createChannel();
  await channel.prefetch(job.prefetch);
  let latencies = new Float64Array(1 << 20);
  let count = 0;
  const note = (message) => {
    const arrived = now();
    const content = message.content;
    const at = content.indexOf(STAMP) + STAMP.length;
    let end = at;
    while (content[end] !== 44 && content[end] !== 125) end += 1; // ',' or '}'
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count] = arrived - Number(content.toString('latin1', at, end));
    count += 1;
  };
  for (const queue of job.queues) await channel.consume(queue, note, { noAck: true });
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  let buffered = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const [command, expected, timeout] = buffered.slice(0, newline).trim().split(' ');
      buffered = buffered.slice(newline + 1);
      if (command === 'quit') {
        await connection.close();
        return null;
      }
      const deadline = now() + Number(timeout) * 1000;
      while (count < Number(expected) && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      process.stdout.write(`${JSON.stringify(figures(latencies, count))}\n`);
      count = 0;
    }
  }
  await connection.close();
  return null;
}

const modes = { incidents, snapshot, consume };

modes[process.argv[2]](JSON.parse(process.argv[3])).then(
  (result) => {
    if (result) process.stdout.write(`${JSON.stringify(result)}\n`);
  },
  (error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
  },
);
