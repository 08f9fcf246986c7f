'use strict';

// Strata through Node vs Microsoft's @azure/service-bus 7.9 on the same
// Service Bus emulator (this repository's), in one process:
//
//   node --expose-gc compare.js --suite=publish|receive [--reps=3]
//        [--seconds=2] [--count=20000] [--out=results.jsonl]
//
// BENCH_SERVICEBUS_CONNECTION_STRING names the broker (run.sh starts a
// private one with config.json's entities).
//
// Suites (each client used as its documentation shows):
//   publish  one 256-byte message per call, 64 calls in flight, each awaited
//            until the broker accepted it: Strata `topic.publish` vs
//            `sender.sendMessages(message)`.
//   receive  `count` messages waiting on a subscription, received in
//            PeekLock and completed as fast as the client goes with at most
//            64 in hand: Strata `infra.subscribe` (max concurrency 64) vs
//            `receiver.subscribe` (maxConcurrentCalls 64, autoComplete).
//            Each repetition has its own topic with one subscription per
//            side, so both get every message.

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
const count = Number(opts.count ?? 20_000);
const out = opts.out;

const CONNECTION = process.env.BENCH_SERVICEBUS_CONNECTION_STRING;
const PAYLOAD = Buffer.alloc(256, 'x');
const INFLIGHT = 64;

failAfter(20, `compare.js --suite=${suite}`);

/** The infra config Strata loads: topic `topic` (from config.json) with `subscriptions`. */
function writeInfraConfig(topic, subscriptions = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-servicebus-'));
  const config = {
    providers: { azure: { service_bus: { connection_string: CONNECTION } } },
    pubsub: { bench: { provider: 'azure', name: topic, subscriptions } },
  };
  const file = path.join(dir, 'infra.config.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  process.chdir(dir);
  delete process.env.STRATA_CONFIG;
  return file;
}

async function publishSuite(sdk) {
  const { Infra } = binding();
  const infra = await within(60_000, Infra.load(writeInfraConfig('bench-publish')), 'Infra.load');
  const topic = infra.topic('bench');
  const sender = sdk.createSender('bench-publish');
  check(typeof (await topic.publish(PAYLOAD)) === 'string', 'Strata publish returns an id');
  await sender.sendMessages({ body: PAYLOAD });
  await runSuite({
    suite,
    ops: {
      publish: {
        strata: () => topic.publish(PAYLOAD),
        'azure-sdk': () => sender.sendMessages({ body: PAYLOAD }),
      },
    },
    inflights: [INFLIGHT],
    reps,
    seconds,
    out,
    unitLabel: 'msgs',
  });
  await sender.close();
  await within(60_000, infra.close(), 'Infra.close');
}

/** One repetition of the receive suite: `count` messages on a fresh topic, both sides drain. */
async function receiveRep(sdk, rep) {
  const topicName = `bench-receive-${rep}`;
  const { Infra } = binding();
  const infra = await within(
    60_000,
    Infra.load(writeInfraConfig(topicName, { strata: { name: 'strata', max_concurrency: INFLIGHT } })),
    'Infra.load',
  );
  const topic = infra.topic('bench');
  for (let i = 0; i < count; i += 64) {
    const chunk = [];
    for (let j = i; j < Math.min(count, i + 64); j++) chunk.push(topic.publish(PAYLOAD));
    await Promise.all(chunk);
  }

  const measured = [];
  let order = ['strata', 'azure-sdk'];
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
            const receiver = sdk.createReceiver(topicName, 'sdk', { receiveMode: 'peekLock' });
            const subscription = receiver.subscribe(
              {
                processMessage: async () => {
                  n++;
                },
                processError: async (args) => {
                  console.error(`azure-sdk receiver: ${args.error.message}`);
                },
              },
              { maxConcurrentCalls: INFLIGHT, autoCompleteMessages: true },
            );
            return async () => {
              await subscription.close();
              await receiver.close();
            };
          },
          received: () => n,
        }),
      );
    }
  }
  for (const r of measured) record({ suite, rep, unitLabel: 'msgs', out }, r);
  // Both subscriptions should be empty: every message completed.
  await new Promise((r) => setTimeout(r, 500));
  for (const name of ['strata', 'sdk']) {
    const peeker = sdk.createReceiver(topicName, name);
    const left = await peeker.peekMessages(1);
    if (left.length !== 0) console.warn(`${topicName}/${name}: messages left after draining`);
    await peeker.close();
  }
}

async function main() {
  check(CONNECTION, 'BENCH_SERVICEBUS_CONNECTION_STRING is set (run.sh sets it)');
  console.log(JSON.stringify({ machine: { ...machine(), suite, reps, seconds, count } }));
  const { ServiceBusClient } = require('@azure/service-bus');
  const sdk = new ServiceBusClient(CONNECTION);
  try {
    if (suite === 'receive') {
      for (let rep = 1; rep <= reps; rep++) await receiveRep(sdk, rep);
    } else {
      await publishSuite(sdk);
    }
  } finally {
    await sdk.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
