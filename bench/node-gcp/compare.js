'use strict';

// Strata through Node vs Google's Node clients (@google-cloud/pubsub 5.3,
// @google-cloud/storage 7.22, the newest that run on Node 20) on the same
// emulators, in one process:
//
//   node --expose-gc compare.js --suite=publish|receive|small [--reps=3]
//        [--seconds=2] [--count=20000] [--out=results.jsonl]
//
// Suites (each client used as its documentation shows, both batching):
//   publish  one 256-byte message per call, 64 calls in flight: Strata
//            `topic.publish` vs `topic.publishMessage({ data })`.
//   receive  `count` messages waiting in a subscription, received and acked
//            as fast as the client goes: Strata `infra.subscribe` vs
//            `subscription.on('message', m => m.ack())`; each side has its
//            own subscription on one topic, so both get every message.
//   small    4 KiB objects, 64 in flight: Strata `bucket.upload/download` vs
//            `file.save(buffer, { resumable: false })` / `file.download()`
//            (bench/node-servers/lib/objects.js).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { binding, machine, flags, within } = require('../node/common');
const { drain } = require('../node-servers/lib/drain');
const { objectSuite } = require('../node-servers/lib/objects');
const { runSuite, record, failAfter, check } = require('../node-servers/lib/run-suite');

const opts = flags();
const suite = opts.suite ?? 'publish';
const reps = Number(opts.reps ?? 3);
const seconds = Number(opts.seconds ?? 2);
const count = Number(opts.count ?? 20_000);
const out = opts.out;

const PUBSUB = process.env.PUBSUB_EMULATOR_HOST;
const GCS = process.env.STRATA_TEST_GCS_ENDPOINT;
const PROJECT = 'strata-bench';
const RUN = `${process.pid}-${Date.now().toString(36)}`;
const TOPIC = `strata-bench-${RUN}`;
const BUCKET = `strata-bench-${RUN}`;
const MESSAGE = JSON.stringify({ kind: 'bench', pad: 'x'.repeat(220) });

// With STORAGE_EMULATOR_HOST set, @google-cloud/storage 7 builds download URLs
// that fake-gcs-server answers with 404; the endpoint is passed explicitly instead.
delete process.env.STORAGE_EMULATOR_HOST;

if (!PUBSUB || !GCS) {
  console.error('compare.js: PUBSUB_EMULATOR_HOST and STRATA_TEST_GCS_ENDPOINT must be set; run it through run.sh');
  process.exit(1);
}

failAfter(20, `compare.js --suite=${suite}`);

/** The infra config Strata loads: the same topic and bucket the Google clients use. */
function writeInfraConfig(subscriptions) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-gcp-'));
  const config = {
    providers: {
      gcp: {
        project: PROJECT,
        endpoints: { pubsub: `http://${PUBSUB}`, storage: GCS },
        credentials: { anonymous: true },
        provision: true,
      },
    },
    pubsub: { bench: { provider: 'gcp', name: TOPIC, subscriptions } },
    objects: { bench: { provider: 'gcp', name: BUCKET } },
  };
  const file = path.join(dir, 'infra.config.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  process.chdir(dir);
  delete process.env.STRATA_CONFIG;
  return file;
}

function googlePubSub() {
  const { PubSub } = require('@google-cloud/pubsub');
  return new PubSub({ projectId: PROJECT, apiEndpoint: PUBSUB, emulatorMode: true });
}

async function publishSides(infra) {
  const pubsub = googlePubSub();
  const topic = infra.topic('bench');
  check(typeof (await topic.publish({ hello: 'strata' })) === 'string', 'Strata publish returns an id');
  const googleTopic = pubsub.topic(TOPIC);
  const data = Buffer.from(MESSAGE);
  check(typeof (await googleTopic.publishMessage({ data })) === 'string', 'Google publish returns an id');
  return {
    ops: {
      publish: {
        strata: () => topic.publish(MESSAGE),
        google: () => googleTopic.publishMessage({ data }),
      },
    },
    async close() {
      await pubsub.close();
    },
  };
}

async function objectSides(infra) {
  const { Storage } = require('@google-cloud/storage');
  const storage = new Storage({ apiEndpoint: GCS, projectId: PROJECT });
  const googleBucket = storage.bucket(BUCKET);
  const sides = await objectSuite({
    large: false,
    bucket: infra.bucket('bench'),
    other: {
      side: 'google',
      put: (key, body) => googleBucket.file(key).save(body, { resumable: false }),
      get: async (key) => (await googleBucket.file(key).download())[0],
    },
  });
  return { ...sides, async close() {} };
}

/** One repetition of the receive suite: fresh subscriptions, `count` messages, both sides drain. */
async function receiveRep(rep) {
  const config = writeInfraConfig({ strata: { name: `${TOPIC}-strata-${rep}`, max_concurrency: 64 } });
  const { Infra } = binding();
  const infra = await within(60_000, Infra.load(config), 'Infra.load');
  const pubsub = googlePubSub();
  const googleSub = `${TOPIC}-google-${rep}`;
  await pubsub.topic(TOPIC).createSubscription(googleSub);
  const topic = infra.topic('bench');
  const publishes = [];
  for (let i = 0; i < count; i++) publishes.push(topic.publish(MESSAGE));
  await Promise.all(publishes);

  const measured = [];
  let order = ['strata', 'google'];
  if (rep % 2 === 0) order = order.reverse();
  for (const side of order) {
    if (side === 'strata') {
      let n = 0;
      measured.push(
        await drain({
          side: 'strata',
          inflight: 64,
          count,
          start: async () => {
            infra.subscribe('bench', 'strata', () => {
              n++;
            }, { maxConcurrency: 64 });
            return () => within(60_000, infra.close(), 'Infra.close');
          },
          received: () => n,
        }),
      );
    } else {
      let n = 0;
      measured.push(
        await drain({
          side: 'google',
          inflight: 64,
          count,
          start: async () => {
            const sub = pubsub.subscription(googleSub, { flowControl: { maxMessages: 64 } });
            sub.on('message', (m) => {
              m.ack();
              n++;
            });
            sub.on('error', (err) => console.error('google subscription error', err));
            return () => sub.close();
          },
          received: () => n,
        }),
      );
    }
  }
  for (const r of measured) record({ suite, rep, unitLabel: 'msgs', out }, r);
  // Left attached, drained subscriptions would keep every later publish to the
  // topic in the emulator's heap (it grew to 2 GiB and a busy core over a few runs).
  await Promise.all(
    [googleSub, `${TOPIC}-strata-${rep}`].map((name) => pubsub.subscription(name).delete()),
  );
  await pubsub.close();
}

async function main() {
  console.log(JSON.stringify({ machine: { ...machine(), suite, reps, seconds, count } }));
  if (suite === 'receive') {
    for (let rep = 1; rep <= reps; rep++) await receiveRep(rep);
    return;
  }
  const config = writeInfraConfig({});
  const { Infra } = binding();
  const infra = await within(60_000, Infra.load(config), 'Infra.load');
  const sides = suite === 'publish' ? await publishSides(infra) : await objectSides(infra);
  await runSuite({ inflights: [64], unitLabel: 'msgs', ...sides, suite, reps, seconds, out });
  await sides.close();
  await within(60_000, infra.close(), 'Infra.close');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
