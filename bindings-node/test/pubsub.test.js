'use strict';

// The pub/sub conformance scenarios through the binding, on the embedded
// (memory) provider: every message sent is counted on arrival.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Infra, Message } = require('..');
const { enterTempDir, within, waitFor, rejectsWith, writeConfig } = require('./support/helpers');

let infra;

before(async () => {
  enterTempDir('pubsub');
  infra = await Infra.load();
});

after(async () => {
  await within(10_000, infra.close(), 'infra.close()');
});

test('published objects, strings and Buffers arrive with their attributes and ordering key', async () => {
  const got = [];
  infra.subscribe('greetings', 'record', (msg) => {
    got.push(msg);
  });
  const topic = infra.topic('greetings');
  const ids = await within(5_000, Promise.all([
    topic.publish({ hello: 'world', n: 1 }, { attributes: { kind: 'object' }, orderingKey: 'k1' }),
    topic.publish('plain text', { attributes: { kind: 'text' } }),
    topic.publish(Buffer.from([0, 1, 2, 255])),
  ]), 'three publishes');
  assert.equal(new Set(ids).size, 3, 'each publish gets its own id');
  await waitFor(() => got.length === 3, 5_000, 'three deliveries');
  const byId = new Map(got.map((m) => [m.id, m]));
  const [objId, textId, bytesId] = ids;

  const obj = byId.get(objId);
  assert.ok(obj instanceof Message);
  assert.deepEqual(obj.json(), { hello: 'world', n: 1 });
  assert.deepEqual(obj.attributes, { kind: 'object' }, 'the content-type attribute is hidden');
  assert.equal(obj.contentType, 'application/json');
  assert.equal(obj.orderingKey, 'k1');
  assert.equal(obj.deliveryAttempt, 1);
  assert.ok(obj.publishTime instanceof Date);
  assert.ok(Math.abs(obj.publishTime.getTime() - Date.now()) < 60_000, 'publish time is about now');

  const text = byId.get(textId);
  assert.equal(text.text(), 'plain text');
  assert.equal(text.contentType, 'text/plain; charset=utf-8');
  assert.equal(text.orderingKey, undefined);

  const bytes = byId.get(bytesId);
  assert.ok(Buffer.isBuffer(bytes.data));
  assert.deepEqual([...bytes.data], [0, 1, 2, 255]);
  assert.deepEqual(bytes.attributes, {});
  assert.equal(bytes.contentType, undefined);
});

test('every subscription receives every message, each exactly once when handlers succeed', async () => {
  const count = 2_000;
  const seen = { a: new Map(), b: new Map() };
  for (const name of ['a', 'b']) {
    infra.subscribe('fanout', name, async (msg) => {
      const n = msg.json().n;
      seen[name].set(n, (seen[name].get(n) ?? 0) + 1);
    }, { maxConcurrency: 64 });
  }
  const topic = infra.topic('fanout');
  const publishes = [];
  for (let n = 0; n < count; n++) publishes.push(topic.publish({ n }));
  await within(10_000, Promise.all(publishes), `${count} publishes`);
  await waitFor(() => seen.a.size === count && seen.b.size === count, 10_000, 'every message in both');
  for (const name of ['a', 'b']) {
    const duplicates = [...seen[name].values()].filter((c) => c !== 1).length;
    assert.equal(duplicates, 0, `subscription ${name} got duplicates`);
  }
});

test('messages with one ordering key are handled in publish order', async () => {
  const order = [];
  infra.subscribe('ordered', 'in-order', async (msg) => {
    // Yield so that an out-of-order delivery would have a chance to overtake.
    await new Promise((resolve) => setImmediate(resolve));
    order.push(msg.json());
  }, { maxConcurrency: 16 });
  const topic = infra.topic('ordered');
  const sent = Array.from({ length: 50 }, (_, i) => i);
  await within(5_000, Promise.all(sent.map((i) => topic.publish(i, { orderingKey: 'same' }))), 'publishes');
  await waitFor(() => order.length === sent.length, 5_000, 'every ordered message');
  assert.deepEqual(order, sent);
});

test('a handler that throws has its message retried until it succeeds', async () => {
  const attempts = [];
  infra.subscribe('retry-throw', 'worker', (msg) => {
    attempts.push(msg.deliveryAttempt);
    if (msg.deliveryAttempt < 3) throw new Error(`failing attempt ${msg.deliveryAttempt}`);
  }, { minBackoffMs: 10, maxBackoffMs: 20 });
  await infra.topic('retry-throw').publish({ job: 1 });
  await waitFor(() => attempts.length === 3, 5_000, 'three attempts');
  // Give a wrongly repeated delivery the time to show up.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(attempts, [1, 2, 3]);
});

test('a handler that rejects has its message retried until it succeeds', async () => {
  const attempts = [];
  infra.subscribe('retry-reject', 'worker', async (msg) => {
    attempts.push(msg.deliveryAttempt);
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (msg.deliveryAttempt < 2) throw new Error('not yet');
  }, { minBackoffMs: 10, maxBackoffMs: 20 });
  await infra.topic('retry-reject').publish('job');
  await waitFor(() => attempts.length === 2, 5_000, 'two attempts');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(attempts, [1, 2]);
});

test('a message failing maxAttempts times goes to the dead-letter topic', async () => {
  const attempts = [];
  const dead = [];
  infra.subscribe('dl-source', 'inspect-dead', () => {}, {});
  infra.subscribe('dl-dead', 'collect', (msg) => {
    dead.push(msg);
  });
  infra.subscribe('dl-source', 'worker', () => {
    attempts.push(1);
    throw new Error('always fails');
  }, { maxAttempts: 3, deadLetterTopic: 'dl-dead', minBackoffMs: 5, maxBackoffMs: 10 });
  const id = await infra.topic('dl-source').publish({ poison: true }, { attributes: { trace: 't-1' } });
  await waitFor(() => dead.length === 1, 5_000, 'the dead letter');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(attempts.length, 3, 'handled exactly maxAttempts times');
  assert.equal(dead.length, 1, 'dead-lettered once');
  const letter = dead[0];
  assert.deepEqual(letter.json(), { poison: true });
  assert.equal(letter.attributes.trace, 't-1');
  assert.equal(letter.attributes['strata.original_message_id'], id);
  assert.match(letter.attributes['strata.dead_letter.reason'], /always fails/);
});

test('a dead letter says why in name and message, never with the stack or file paths', async () => {
  const dead = [];
  infra.subscribe('dl-reason-dead', 'collect', (msg) => {
    dead.push(msg);
  });
  infra.subscribe('dl-reason', 'worker', () => {
    throw new Error('boom at step 2');
  }, { maxAttempts: 1, deadLetterTopic: 'dl-reason-dead', minBackoffMs: 5, maxBackoffMs: 10 });
  infra.subscribe('dl-reason-typed', 'worker', async () => {
    throw new TypeError('not a number');
  }, { maxAttempts: 1, deadLetterTopic: 'dl-reason-dead', minBackoffMs: 5, maxBackoffMs: 10 });
  await infra.topic('dl-reason').publish('poison');
  await infra.topic('dl-reason-typed').publish('poison too');
  await waitFor(() => dead.length === 2, 5_000, 'two dead letters');
  const reasons = dead.map((m) => m.attributes['strata.dead_letter.reason']).sort();
  assert.deepEqual(reasons, ['Error: boom at step 2', 'TypeError: not a number']);
  for (const reason of reasons) {
    assert.doesNotMatch(reason, /\n|^\s*at |:\d+:\d+|\.m?js\b|node:|pubsub\.test/m, 'no stack frame or file path');
  }
});

test('a published Buffer is copied: changing it after publish does not change the message', async () => {
  const got = [];
  infra.subscribe('copied', 'record', (msg) => {
    got.push(msg);
  });
  const topic = infra.topic('copied');
  const buffer = Buffer.from('before');
  const view = new Uint8Array([1, 2, 3]);
  const sent = Promise.all([topic.publish(buffer), topic.publish(view)]);
  // The same turn: the batch has not been assembled yet.
  buffer.write('AFTER!');
  view[0] = 9;
  await within(5_000, sent, 'two publishes');
  await waitFor(() => got.length === 2, 5_000, 'two deliveries');
  const payloads = got.map((m) => [...m.data].join(',')).sort();
  assert.deepEqual(payloads, [[...Buffer.from('before')].join(','), '1,2,3'].sort());
});

test('reserved strata.* attributes are refused at publish; a dead letter\'s history may be republished', async () => {
  const topic = infra.topic('reserved');
  for (const name of ['strata.content_type', 'strata.anything']) {
    const err = await rejectsWith('InvalidArgument', topic.publish('x', { attributes: { [name]: 'v' } }), name);
    assert.match(err.message, new RegExp(name.replace('.', '\\.')));
  }
  // Redriving a dead letter: republish it as it came, history included.
  const redriven = [];
  infra.subscribe('redrive-dead', 'fix', async (msg) => {
    await infra.topic('redrive-target').publish(msg.data, { attributes: msg.attributes });
  });
  infra.subscribe('redrive-target', 'record', (msg) => {
    redriven.push(msg);
  });
  infra.subscribe('redrive-source', 'worker', () => {
    throw new Error('fails once');
  }, { maxAttempts: 1, deadLetterTopic: 'redrive-dead', minBackoffMs: 5, maxBackoffMs: 10 });
  await infra.topic('redrive-source').publish({ job: 7 }, { attributes: { trace: 't-7' } });
  await waitFor(() => redriven.length === 1, 5_000, 'the redriven message');
  const [again] = redriven;
  assert.deepEqual(again.json(), { job: 7 });
  assert.equal(again.attributes.trace, 't-7');
  assert.match(again.attributes['strata.dead_letter.reason'], /fails once/);
  assert.ok(again.attributes['strata.original_message_id']);
});

test('a dead letter keeps the content type its publisher could not set itself', async () => {
  const dead = [];
  infra.subscribe('typed-dead', 'collect', (msg) => {
    dead.push(msg);
  });
  infra.subscribe('typed-source', 'worker', () => {
    throw new Error('no');
  }, { maxAttempts: 1, deadLetterTopic: 'typed-dead', minBackoffMs: 5, maxBackoffMs: 10 });
  await infra.topic('typed-source').publish({ a: 1 });
  await waitFor(() => dead.length === 1, 5_000, 'the dead letter');
  assert.equal(dead[0].contentType, 'application/json');
  assert.deepEqual(dead[0].json(), { a: 1 });
});

test('maxAttempts may come from code while the config names the dead-letter topic', async () => {
  // The embedded defaults have no config: both in code, or neither.
  assert.throws(() => infra.subscribe('half', 'w', () => {}, { maxAttempts: 3 }), (err) => err.code === 'InvalidArgument' && /dead-letter topic/.test(err.message));
  assert.throws(() => infra.subscribe('half', 'w', () => {}, { deadLetterTopic: 'half-dead' }), (err) => err.code === 'InvalidArgument' && /max_attempts/.test(err.message));

  const fast = { min_backoff_ms: 1, max_backoff_ms: 5 };
  const file = writeConfig('dead-letter-knobs.json', {
    pubsub: {
      jobs: {
        provider: 'memory',
        subscriptions: {
          named: { dead_letter_topic: 'jobs-dlq', ...fast },
          tuned: { dead_letter_topic: 'jobs-dlq', max_attempts: 2, ...fast },
        },
      },
      'jobs-dlq': { provider: 'memory', subscriptions: { audit: {} } },
    },
  });
  const configured = await Infra.load(file);
  try {
    const runs = { named: 0, tuned: 0 };
    const dead = [];
    configured.subscribe('jobs-dlq', 'audit', (msg) => {
      dead.push(msg);
    });
    // The config names the topic, code the count.
    configured.subscribe('jobs', 'named', () => {
      runs.named++;
      throw new Error('no');
    }, { maxAttempts: 3 });
    // Both set the count: the config's wins.
    configured.subscribe('jobs', 'tuned', () => {
      runs.tuned++;
      throw new Error('no');
    }, { maxAttempts: 10 });
    await configured.topic('jobs').publish('poison');
    await waitFor(() => dead.length === 2, 5_000, 'two dead letters');
    assert.deepEqual(runs, { named: 3, tuned: 2 });
  } finally {
    await within(10_000, configured.close(), 'close');
  }
});
