'use strict';

// The pub/sub conformance scenarios through the binding, on the embedded
// (memory) provider: every message sent is counted on arrival.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Infra, Message } = require('..');
const { enterTempDir, within, waitFor } = require('./support/helpers');

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
