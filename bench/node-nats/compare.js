'use strict';

// Strata through Node vs the official NATS JavaScript clients
// (@nats-io/transport-node and @nats-io/jetstream 3.3, the newest whose
// dependencies run on Node 20) on the same JetStream server, in one process:
//
//   node --expose-gc compare.js --suite=publish|receive [--reps=3]
//        [--seconds=2] [--count=50000] [--out=results.jsonl]
//
// Suites (each client used as its documentation shows):
//   publish  one 256-byte payload per call, 64 calls in flight, each awaited
//            until the server's ack: Strata `topic.publish` vs `js.publish`.
//   receive  `count` messages waiting on the stream, received and acked as
//            fast as the client goes with at most 64 unacked: Strata
//            `infra.subscribe` (max concurrency 64) vs a durable pull
//            consumer's `consume({ max_messages: 64, callback })` calling
//            `m.ack()`; each side has its own consumer on one stream, so both
//            get every message.
//
// The stream is file-backed with limits retention (at most 200,000 messages,
// the oldest dropped), provisioned by Strata at load and deleted at the end.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { binding, machine, flags, within } = require('../node/common');
const { runSuite, record, failAfter, check } = require('../node-servers/lib/run-suite');
const { drain } = require('../node-servers/lib/drain');

const opts = flags();
const suite = opts.suite ?? 'publish';
const reps = Number(opts.reps ?? 3);
const seconds = Number(opts.seconds ?? 2);
const count = Number(opts.count ?? 50_000);
const out = opts.out;

const SERVER = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
const RUN = `${process.pid}-${Date.now().toString(36)}`;
// Letters, digits and dashes: Strata's stream is this name, its subject `strata.<name>`.
const TOPIC = `strata-bench-${RUN}`;
const STREAM = TOPIC;
const SUBJECT = `strata.${TOPIC}`;
const PAYLOAD = Buffer.alloc(256, 'x');
const INFLIGHT = 64;

failAfter(20, `compare.js --suite=${suite}`);

/** The infra config Strata loads: the stream both sides use, and this repetition's subscription. */
function writeInfraConfig(subscriptions = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-nats-'));
  const config = {
    pubsub: {
      bench: {
        provider: 'nats',
        servers: [SERVER],
        provision: true,
        retention: 'limits',
        storage: 'file',
        max_messages: 200_000,
        name: TOPIC,
        subscriptions,
      },
    },
  };
  const file = path.join(dir, 'infra.config.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  process.chdir(dir);
  delete process.env.STRATA_CONFIG;
  return file;
}

async function natsClients() {
  const { connect } = require('@nats-io/transport-node');
  const { jetstream, jetstreamManager } = require('@nats-io/jetstream');
  const nc = await connect({ servers: SERVER });
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
}

async function publishSuite(nats) {
  const config = writeInfraConfig();
  const { Infra } = binding();
  const infra = await within(60_000, Infra.load(config), 'Infra.load');
  const topic = infra.topic('bench');
  check(typeof (await topic.publish(PAYLOAD)) === 'string', 'Strata publish returns an id');
  const ack = await nats.js.publish(SUBJECT, PAYLOAD);
  check(ack.stream === STREAM && ack.seq === 2, 'the NATS client publishes to the stream Strata made');
  await runSuite({
    suite,
    ops: {
      publish: {
        strata: () => topic.publish(PAYLOAD),
        'nats-js': () => nats.js.publish(SUBJECT, PAYLOAD),
      },
    },
    inflights: [INFLIGHT],
    reps,
    seconds,
    out,
    unitLabel: 'msgs',
  });
  await within(60_000, infra.close(), 'Infra.close');
}

/** One repetition of the receive suite: fresh consumers, `count` messages, both sides drain. */
async function receiveRep(nats, rep) {
  const { AckPolicy, DeliverPolicy } = require('@nats-io/jetstream');
  const strataSub = `${TOPIC}-strata-${rep}`;
  const natsSub = `${TOPIC}-js-${rep}`;
  const config = writeInfraConfig({ strata: { name: strataSub, max_concurrency: INFLIGHT } });
  const { Infra } = binding();
  // Loading provisions the stream and Strata's consumer (delivering what is published from now on).
  const infra = await within(60_000, Infra.load(config), 'Infra.load');
  await nats.jsm.consumers.add(STREAM, {
    durable_name: natsSub,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
  });
  const topic = infra.topic('bench');
  for (let i = 0; i < count; i += 1024) {
    const chunk = [];
    for (let j = i; j < Math.min(count, i + 1024); j++) chunk.push(topic.publish(PAYLOAD));
    await Promise.all(chunk);
  }
  const pending = async (name) => (await nats.jsm.consumers.info(STREAM, name)).num_pending;
  check((await pending(strataSub)) === count, `Strata's consumer has ${count} waiting`);
  check((await pending(natsSub)) === count, `the NATS client's consumer has ${count} waiting`);

  const measured = [];
  let order = ['strata', 'nats-js'];
  if (rep % 2 === 0) order = order.reverse();
  for (const side of order) {
    let n = 0;
    if (side === 'strata') {
      measured.push(
        await drain({
          side,
          inflight: INFLIGHT,
          count,
          start: async () => {
            infra.subscribe('bench', 'strata', () => {
              n++;
            }, { maxConcurrency: INFLIGHT });
            return () => within(60_000, infra.close(), 'Infra.close');
          },
          received: () => n,
        }),
      );
    } else {
      measured.push(
        await drain({
          side,
          inflight: INFLIGHT,
          count,
          start: async () => {
            const consumer = await nats.js.consumers.get(STREAM, natsSub);
            const messages = await consumer.consume({
              max_messages: INFLIGHT,
              callback: (m) => {
                m.ack();
                n++;
              },
            });
            return async () => {
              await messages.close();
            };
          },
          received: () => n,
        }),
      );
    }
  }
  for (const r of measured) record({ suite, rep, unitLabel: 'msgs', out }, r);
  // Give the last acks a moment to land, then check that both consumers acked everything.
  await new Promise((r) => setTimeout(r, 500));
  await nats.nc.flush();
  for (const name of [strataSub, natsSub]) {
    const info = await nats.jsm.consumers.info(STREAM, name);
    if (info.num_ack_pending !== 0 || info.num_pending !== 0) {
      console.warn(`${name}: ${info.num_pending} pending, ${info.num_ack_pending} unacked after draining`);
    }
    await nats.jsm.consumers.delete(STREAM, name);
  }
}

async function main() {
  console.log(JSON.stringify({ machine: { ...machine(), suite, reps, seconds, count } }));
  const nats = await natsClients();
  try {
    if (suite === 'receive') {
      for (let rep = 1; rep <= reps; rep++) await receiveRep(nats, rep);
    } else {
      await publishSuite(nats);
    }
  } finally {
    await nats.jsm.streams.delete(STREAM).catch((err) => console.error(`deleting stream ${STREAM}:`, err.message));
    await nats.nc.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
