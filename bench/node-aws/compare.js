'use strict';

// Strata through Node vs the official AWS SDK for JavaScript v3 on the same
// LocalStack, in one process:
//
//   node --expose-gc compare.js --suite=publish|small|large [--reps=3]
//        [--seconds=2] [--out=results.jsonl]
//
// Suites (each side used as its documentation shows):
//   publish  one 256-byte message per call, 64 calls in flight, to an SNS
//            topic with one SQS subscription: Strata `topic.publish` (which
//            batches into PublishBatch) vs the SDK's `PublishCommand`.
//   small    4 KiB objects, 64 in flight: Strata `bucket.upload/download` vs
//            the SDK's `PutObjectCommand` / `GetObjectCommand` +
//            `transformToByteArray()` (bench/node-servers/lib/objects.js).
//   large    one 64 MiB object at a time, uploaded and downloaded, in MiB/s.
//
// Each repetition measures every pair for both sides, alternating which side
// goes first. One JSON object per measurement goes to --out; report.js turns
// them into tables.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { binding, machine, flags, within } = require('../node/common');
const { runSuite, failAfter, check } = require('../node-servers/lib/run-suite');
const { objectSuite } = require('../node-servers/lib/objects');

const opts = flags();
const suite = opts.suite ?? 'publish';
const reps = Number(opts.reps ?? 3);
const seconds = Number(opts.seconds ?? 2);
const out = opts.out;

const ENDPOINT = process.env.STRATA_TEST_LOCALSTACK_ENDPOINT;
const REGION = 'us-east-1';
const RUN = `${process.pid}-${Date.now().toString(36)}`;
const TOPIC = `strata-bench-${RUN}`;
const QUEUE = `strata-bench-${RUN}-sink`;
const BUCKET = `strata-bench-${RUN}`;
const MESSAGE = JSON.stringify({ kind: 'bench', pad: 'x'.repeat(220) });

if (!ENDPOINT) {
  console.error('compare.js: STRATA_TEST_LOCALSTACK_ENDPOINT is not set; run it through run.sh');
  process.exit(1);
}

failAfter(20, `compare.js --suite=${suite}`);

const sdkConfig = {
  region: REGION,
  endpoint: ENDPOINT,
  forcePathStyle: true,
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
};

/** The infra config Strata loads: the same topic, queue and bucket names. */
function writeInfraConfig() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-aws-'));
  const config = {
    providers: {
      aws: {
        region: REGION,
        endpoint: ENDPOINT,
        credentials: { access_key_id: 'test', secret_access_key: 'test' },
        provision: true,
      },
    },
    pubsub: {
      bench: { provider: 'aws', name: TOPIC, subscriptions: { sink: { name: QUEUE } } },
    },
    objects: { bench: { provider: 'aws', name: BUCKET } },
  };
  const file = path.join(dir, 'infra.config.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  process.chdir(dir);
  delete process.env.STRATA_CONFIG;
  return file;
}

/** Subscribing provisions the topic's queue; the subscriber only drains it (closed by `infra.close()`). */
async function publishSides(infra) {
  const sns = require('@aws-sdk/client-sns');
  const sqs = require('@aws-sdk/client-sqs');
  const snsClient = new sns.SNSClient(sdkConfig);
  const sqsClient = new sqs.SQSClient(sdkConfig);
  const topic = infra.topic('bench');
  let drained = 0;
  infra.subscribe('bench', 'sink', () => {
    drained++;
  }, { maxConcurrency: 64 });
  // The topic Strata provisioned, found by name: the SDK publishes to the same one.
  const { TopicArn } = await snsClient.send(new sns.CreateTopicCommand({ Name: TOPIC }));
  check(typeof TopicArn === 'string', 'the SDK sees the topic');
  const first = await topic.publish({ hello: 'strata' });
  check(typeof first === 'string' && first.length > 0, 'Strata publish returns an id');
  const viaSdk = await snsClient.send(new sns.PublishCommand({ TopicArn, Message: MESSAGE }));
  check(typeof viaSdk.MessageId === 'string', 'SDK publish returns an id');
  return {
    ops: {
      publish: {
        strata: () => topic.publish(MESSAGE),
        'aws-sdk': () => snsClient.send(new sns.PublishCommand({ TopicArn, Message: MESSAGE })),
      },
    },
    inflights: [64],
    async close() {
      snsClient.destroy();
      sqsClient.destroy();
      console.log(`subscriber drained ${drained} messages`);
    },
  };
}

async function objectSides(infra, large) {
  const s3 = require('@aws-sdk/client-s3');
  const client = new s3.S3Client(sdkConfig);
  const sides = await objectSuite({
    large,
    bucket: infra.bucket('bench'),
    other: {
      side: 'aws-sdk',
      put: (key, body) => client.send(new s3.PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body })),
      get: async (key) => {
        const r = await client.send(new s3.GetObjectCommand({ Bucket: BUCKET, Key: key }));
        return Buffer.from(await r.Body.transformToByteArray());
      },
    },
  });
  return {
    ...sides,
    async close() {
      client.destroy();
    },
  };
}

async function main() {
  const config = writeInfraConfig();
  const cleanup = () => fs.rmSync(path.dirname(config), { recursive: true, force: true });
  process.on('exit', cleanup);
  const { Infra } = binding();
  const infra = await within(60_000, Infra.load(config), 'Infra.load');
  const sides =
    suite === 'publish'
      ? await publishSides(infra)
      : await objectSides(infra, suite === 'large');
  const info = { ...machine(), suite, reps, seconds };
  console.log(JSON.stringify({ machine: info }));
  await runSuite({ suite, reps, seconds, out, ...sides, unitLabel: sides.unitLabel ?? 'ops' });
  await sides.close();
  await within(60_000, infra.close(), 'Infra.close');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
