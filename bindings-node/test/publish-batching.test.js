'use strict';

// Publishes are queued per event-loop turn and cross to the native side in one
// call per topic: many publishes in one turn must each resolve with their own
// id and each arrive once, and a publish issued just before `close()` must
// settle (never hang, never be silently dropped).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Infra, StrataError } = require('..');
const { enterTempDir, within, waitFor, rejectsWith } = require('./support/helpers');

let infra;

before(async () => {
  enterTempDir('publish-batching');
  infra = await Infra.load();
});

after(async () => {
  await within(10_000, infra.close(), 'infra.close()');
});

/** Counts the native `publishBatch` calls of `topic`. */
function countBatches(topic) {
  const native = topic._n;
  const original = native.publishBatch;
  const counter = { calls: 0, messages: 0 };
  native.publishBatch = (table, bytes) => {
    counter.calls += 1;
    counter.messages += table.length / 5;
    return original.call(native, table, bytes);
  };
  return counter;
}

test('thousands of publishes in one turn cross in one native call, each resolving and arriving once', async () => {
  const total = 3000;
  const seen = new Map();
  infra.subscribe('turn-batch', 'count', (msg) => {
    seen.set(msg.id, (seen.get(msg.id) ?? 0) + 1);
    const n = Number(msg.attributes.n);
    const expected = payload(n);
    if (Buffer.isBuffer(expected)) assert.deepEqual([...msg.data], [...expected]);
    else if (typeof expected === 'string') assert.equal(msg.text(), expected);
    else assert.deepEqual(msg.json(), expected);
    if (n % 7 === 0) assert.equal(msg.orderingKey, `clé-${n % 3}`);
  }, { maxConcurrency: 256 });
  const topic = infra.topic('turn-batch');
  const batches = countBatches(topic);

  // Strings (some multi-byte), JSON values and Buffers, mixed in one turn.
  function payload(n) {
    if (n % 3 === 0) return `texte ${n} — ünïcødé 🚀`;
    if (n % 3 === 1) return { n, tags: ['a', 'b'] };
    return Buffer.from([n & 0xff, 0, 255, (n >> 8) & 0xff]);
  }
  const publishes = [];
  for (let n = 0; n < total; n++) {
    const options = { attributes: { n: String(n) } };
    if (n % 7 === 0) options.orderingKey = `clé-${n % 3}`;
    publishes.push(topic.publish(payload(n), options));
  }
  assert.equal(batches.calls, 0, 'nothing crosses before the turn ends');
  const ids = await within(10_000, Promise.all(publishes), `${total} publishes`);
  assert.equal(batches.calls, 1, 'one native call for the whole turn');
  assert.equal(batches.messages, total);
  assert.equal(new Set(ids).size, total, 'every publish has its own id');

  await waitFor(() => seen.size === total, 10_000, `${total} deliveries`);
  for (const id of ids) assert.equal(seen.get(id), 1, `message ${id} arrived once`);
});

test('publishes of separate turns cross separately and keep their ordering key order', async () => {
  const order = [];
  infra.subscribe('turn-order', 'record', (msg) => {
    order.push(msg.json());
  });
  const topic = infra.topic('turn-order');
  const batches = countBatches(topic);
  const first = [];
  for (let i = 0; i < 100; i++) first.push(topic.publish(i, { orderingKey: 'k' }));
  await new Promise((resolve) => setImmediate(resolve));
  const second = [];
  for (let i = 100; i < 200; i++) second.push(topic.publish(i, { orderingKey: 'k' }));
  await within(5_000, Promise.all([...first, ...second]), '200 publishes');
  assert.equal(batches.calls, 2, 'one native call per turn');
  await waitFor(() => order.length === 200, 5_000, '200 deliveries');
  assert.deepEqual(order, [...Array(200).keys()], 'publish order kept within the key');
});

test('a publish issued just before close() settles: published, or rejected with Closed', async () => {
  const local = await Infra.load();
  const got = [];
  local.subscribe('before-close', 'record', (msg) => {
    got.push(msg.id);
  });
  const topic = local.topic('before-close');
  const publishes = [];
  for (let i = 0; i < 50; i++) publishes.push(topic.publish({ i }));
  const closing = local.close();
  const settled = await within(10_000, Promise.allSettled(publishes), 'publishes issued before close');
  await within(10_000, closing, 'close()');
  for (const outcome of settled) {
    if (outcome.status === 'fulfilled') {
      assert.equal(typeof outcome.value, 'string');
    } else {
      assert.ok(outcome.reason instanceof StrataError, String(outcome.reason));
      assert.equal(outcome.reason.code, 'Closed');
    }
  }
  // close() hands the queued publishes over and waits for them first.
  assert.equal(settled.filter((o) => o.status === 'fulfilled').length, 50, 'none was dropped');
  await rejectsWith('Closed', () => topic.publish('late'), 'publish after close');
});
