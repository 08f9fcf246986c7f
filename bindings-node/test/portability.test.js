'use strict';
// Portability: one application module, unchanged, on every provider; only the
// infra config differs. What it observes (attributes, object metadata, dead
// letters, the signed-URL capability, undeclared names) must be the same
// everywhere, except the signed-URL capability, which each provider declares
// and the module checks against what `signedUrl` does.
//
// A provider is one line of PROVIDERS: its name, which provider serves each
// block when it is not that one, the environment it needs, and its account
// and entry options. The config itself is made the same way for all of them
// (configFor).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Infra, StrataError } = require('..');
const { enterTempDir, within, waitFor } = require('./support/helpers');

const env = (name) => process.env[name];
const natsUrl = () => env('STRATA_TEST_NATS_URL') || 'nats://127.0.0.1:4222';

/**
 * Every provider the module runs on, one line each. `pubsub` / `objects`:
 * the provider serving that block (default: `provider`), with `pubsubOptions`
 * / `objectsOptions` added to each entry of the block; `account`: its
 * `providers.<provider>`; `signedUrls`: what the bucket's capability is with
 * this account (the README's table).
 */
const PROVIDERS = [
  { provider: 'memory', needs: [], signedUrls: false },
  {
    provider: 'aws',
    needs: ['STRATA_TEST_LOCALSTACK_ENDPOINT'],
    account: () => ({
      region: 'us-east-1',
      endpoint: env('STRATA_TEST_LOCALSTACK_ENDPOINT'),
      credentials: { access_key_id: 'test', secret_access_key: 'test' },
      provision: true,
    }),
    signedUrls: true,
  },
  {
    provider: 'gcp',
    needs: ['STRATA_TEST_PUBSUB_ENDPOINT', 'STRATA_TEST_GCS_ENDPOINT'],
    account: () => ({
      project: 'strata-portability',
      endpoints: { pubsub: env('STRATA_TEST_PUBSUB_ENDPOINT'), storage: env('STRATA_TEST_GCS_ENDPOINT') },
      provision: true,
    }),
    // Anonymous emulator clients hold no key and name no signing account.
    signedUrls: false,
  },
  // Azure: Service Bus (this repository's emulator) and Blob Storage (Azurite).
  {
    provider: 'azure',
    needs: ['STRATA_TEST_AZURITE_BLOB_ENDPOINT', 'STRATA_TEST_SERVICEBUS_CONNECTION_STRING'],
    account: () => ({
      endpoint: env('STRATA_TEST_AZURITE_BLOB_ENDPOINT'),
      credentials: { connection_string: 'UseDevelopmentEmulator=true' },
      service_bus: { connection_string: env('STRATA_TEST_SERVICEBUS_CONNECTION_STRING') },
      provision: true,
    }),
    // The development account's key signs service SAS URLs.
    signedUrls: true,
  },
  // NATS serves pub/sub only; objects are on the filesystem.
  {
    provider: 'nats',
    objects: 'filesystem',
    needs: [],
    pubsubOptions: () => ({ servers: [natsUrl()], provision: true }),
    objectsOptions: () => ({ root: 'nats-files' }),
    signedUrls: false,
  },
];

/** The one config shape, on `entry`'s providers, with this run's physical names. */
function configFor(entry, run) {
  const { provider, account } = entry;
  const pubsub = { provider: entry.pubsub ?? provider, ...entry.pubsubOptions?.() };
  const objects = { provider: entry.objects ?? provider, ...entry.objectsOptions?.() };
  const name = (logical) => `port-${logical}-${run}`;
  const config = {
    pubsub: {
      events: { ...pubsub, name: name('events'), subscriptions: { reader: { name: name('events-reader') } } },
      orders: {
        ...pubsub,
        name: name('orders'),
        subscriptions: {
          billing: {
            name: name('orders-billing'),
            max_attempts: 2,
            dead_letter_topic: 'orders-dlq',
            min_backoff_ms: 10,
            max_backoff_ms: 50,
          },
        },
      },
      'orders-dlq': { ...pubsub, name: name('orders-dlq'), subscriptions: { audit: { name: name('orders-audit') } } },
    },
    objects: { files: { ...objects, name: name('files') } },
  };
  if (account) config.providers = { [provider]: account() };
  return config;
}

// ---- The application module: written once, knows nothing of providers. ----

/** Attribute names and values some clouds refuse natively. */
const ATTRIBUTES = {
  plain: 'v',
  'clé.ü': 'Grüße',
  strata: 'a user attribute named like the reserved one',
  'AWS.tag': 'reserved prefix on SNS',
  'with space': 'x',
  '日本': '語',
};
const METADATA = { note: 'Grüße ✓ 日本', plain: 'ascii', spaced: ' Grüße ', 'content-hash': 'sha256-abc' };

async function application(infra) {
  const result = {};

  // Undeclared names fail at once, the same way everywhere.
  for (const [what, call] of [
    ['topic', () => infra.topic('undeclared')],
    ['bucket', () => infra.bucket('undeclared')],
    ['subscription', () => infra.subscribe('events', 'undeclared', () => {})],
  ]) {
    try {
      call();
      result[`undeclared ${what}`] = 'no error';
    } catch (err) {
      result[`undeclared ${what}`] = err instanceof StrataError ? err.code : String(err);
    }
  }

  // Attributes.
  const seen = [];
  infra.subscribe('events', 'reader', (msg) => {
    seen.push(msg);
  });
  const id = await infra.topic('events').publish('hello', { attributes: ATTRIBUTES });
  await waitFor(() => seen.length > 0, 30_000, 'the event');
  result.attributes = seen[0].attributes;
  result['event id is the published id'] = seen[0].id === id;

  // Dead letters.
  const dead = [];
  infra.subscribe('orders', 'billing', () => {
    throw new Error('billing is down');
  });
  infra.subscribe('orders-dlq', 'audit', (msg) => {
    dead.push(msg);
  });
  const orderId = await infra.topic('orders').publish({ order: 7 }, { attributes: { kind: 'order' } });
  await waitFor(() => dead.length > 0, 30_000, 'the dead letter');
  const letter = dead[0];
  result.deadLetter = {
    payload: letter.json(),
    attributes: { ...letter.attributes, 'strata.original_message_id': undefined },
    // Ids are the dead-letter topic's own (memory counts per topic, so only
    // the attribute is compared).
    'original id': letter.attributes['strata.original_message_id'] === orderId,
  };

  // Object metadata.
  const files = infra.bucket('files');
  await files.upload('a.txt', 'body', { metadata: METADATA });
  result.metadata = (await files.attrs('a.txt')).metadata;

  // Signed URLs: ask the capability, and it must match what signedUrl does.
  const claims = files.capabilities().signedUrls;
  let outcome;
  try {
    outcome = typeof (await files.signedUrl('a.txt', { expiresInSeconds: 60 })) === 'string';
  } catch (err) {
    outcome = err.code;
  }
  result.signedUrl = { claims, outcome };
  return result;
}

// ---- The harness. ----

test('one application module gives the same results on memory, AWS (LocalStack), GCP (emulators), Azure (Service Bus emulator, Azurite) and NATS', async () => {
  const dir = enterTempDir('portability');
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const results = {};
  for (const entry of PROVIDERS) {
    for (const name of entry.needs) {
      assert.ok(
        env(name),
        `${name} is not set: run the suite with ./scripts/test.sh, or start the emulators with ` +
          '`localstack/emulators up` and `eval "$(localstack/emulators env)"`',
      );
    }
    const file = path.join(dir, `${entry.provider}.json`);
    fs.writeFileSync(file, JSON.stringify(configFor(entry, run), null, 2));
    const started = Date.now();
    const infra = await within(60_000, Infra.load(file), `loading the ${entry.provider} config`);
    try {
      results[entry.provider] = await within(60_000, application(infra), `the module on ${entry.provider}`);
    } finally {
      await within(30_000, infra.close(), `closing ${entry.provider}`);
    }
    console.log(`portability: ${entry.provider} in ${Date.now() - started} ms`);
  }

  const reference = results.memory;
  assert.deepEqual(reference.attributes, ATTRIBUTES);
  assert.deepEqual(reference.metadata, METADATA);
  assert.deepEqual(reference.deadLetter, {
    payload: { order: 7 },
    attributes: {
      kind: 'order',
      'strata.dead_letter.reason': 'Error: billing is down',
      'strata.dead_letter.subscription': 'orders/billing',
      'strata.original_message_id': undefined,
    },
    'original id': true,
  });
  for (const entry of PROVIDERS) {
    const { signedUrl, ...rest } = results[entry.provider];
    const { signedUrl: _, ...expected } = reference;
    assert.deepEqual(rest, expected, `${entry.provider} differs from memory`);
    assert.deepEqual(
      signedUrl,
      { claims: entry.signedUrls, outcome: entry.signedUrls ? true : 'Unsupported' },
      `${entry.provider}: the signed-URL capability and what signedUrl does`,
    );
  }
});
