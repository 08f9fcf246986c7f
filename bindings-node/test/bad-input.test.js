'use strict';

// Bad input from JS: wrong argument types, missing handlers, bodies that are
// not bytes, bad configs, handlers that throw, reject or never settle, and
// calls after close. Each gives a clear StrataError (never a crash) and no
// message is lost.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Readable } = require('node:stream');
const { Infra, StrataError, ERROR_CODES } = require('..');
const { sync } = require('../lib/native');
const { enterTempDir, within, waitFor, rejectsWith, throwsWith, writeConfig } = require('./support/helpers');

let infra;

before(async () => {
  enterTempDir('bad-input');
  infra = await Infra.load();
});

after(async () => {
  await within(10_000, infra.close(), 'infra.close()');
});

test('numbers where strings go are InvalidArgument: thrown by sync calls, rejected by async ones', async () => {
  throwsWith('InvalidArgument', () => infra.topic(42), 'topic(42)');
  throwsWith('InvalidArgument', () => infra.bucket(null), 'bucket(null)');
  throwsWith('InvalidArgument', () => infra.cache({}), 'cache({})');
  throwsWith('InvalidArgument', () => infra.database(undefined), 'database(undefined)');
  await rejectsWith('InvalidArgument', Infra.load(42), 'Infra.load(42)');
  const cache = infra.cache('bad');
  await rejectsWith('InvalidArgument', cache.get(42), 'cache.get(42)');
  await rejectsWith('InvalidArgument', cache.incr('k', 'one'), 'cache.incr by a string');
  await rejectsWith('InvalidArgument', cache.getMany([1, 2]), 'cache.getMany of numbers');
  await rejectsWith('InvalidArgument', cache.pushBack('k', [1]), 'cache.pushBack of a number');
  const bucket = infra.bucket('bad');
  await rejectsWith('InvalidArgument', bucket.download(7), 'bucket.download(7)');
  await rejectsWith('InvalidArgument', bucket.download('k', { start: -1 }), 'a negative range start');
  await rejectsWith('InvalidArgument', infra.database('main').query(7), 'db.query(7)');
  await rejectsWith('InvalidArgument', infra.database('main').query('SELECT $1', [Symbol('x')]), 'a symbol parameter');
  await rejectsWith('InvalidArgument', infra.topic('bad').publish({}, { attributes: { n: 1 } }), 'a number attribute');
  await rejectsWith('InvalidArgument', infra.topic('bad').publish({}, { orderingKey: 5 }), 'a number ordering key');
});

test('the native layer itself answers wrong types with InvalidArgument, not a crash', () => {
  const cache = infra.cache('bad');
  throwsWith('InvalidArgument', () => sync(() => cache._n.get(1, 42)), 'native get(1, 42)');
  throwsWith('InvalidArgument', () => sync(() => cache._n.getMany(1, 'not an array')), 'native getMany(1, string)');
  throwsWith('InvalidArgument', () => sync(() => infra._n.topic(undefined)), 'native topic(undefined)');
});

test('subscribe without a handler, or with bad options, throws InvalidArgument', () => {
  throwsWith('InvalidArgument', () => infra.subscribe('t', 's'), 'no handler');
  throwsWith('InvalidArgument', () => infra.subscribe('t', 's', 'handler'), 'a string handler');
  throwsWith('InvalidArgument', () => infra.subscribe('t', 42, () => {}), 'a number subscription name');
  throwsWith('InvalidArgument', () => infra.subscribe('t', 's', () => {}, { maxConcurrency: 0 }), 'maxConcurrency 0');
  throwsWith('InvalidArgument', () => infra.subscribe('t', 's', () => {}, { maxAttempts: 3 }), 'maxAttempts without a dead-letter topic');
  throwsWith('InvalidArgument', () => infra.subscribe('t', 's', () => {}, { handlerTimeoutMs: 'soon' }), 'a string timeout');
  throwsWith('InvalidArgument', () => infra.subscribe('t', 's', () => {}, 'options'), 'string options');
});

test('bodies that are not bytes are InvalidArgument, and nothing is stored', async () => {
  const bucket = infra.bucket('bad');
  await rejectsWith('InvalidArgument', bucket.upload('k', 12345), 'a number body');
  await rejectsWith('InvalidArgument', bucket.upload('k', { not: 'bytes' }), 'an object body');
  await rejectsWith('InvalidArgument', bucket.upload('k', undefined), 'no body');
  await rejectsWith('InvalidArgument', bucket.upload('k', Readable.from([Buffer.from('ok'), 42], { objectMode: true })), 'a stream yielding a number');
  assert.equal(await bucket.exists('k'), false);
  await rejectsWith('InvalidArgument', infra.topic('bad').publish(undefined), 'an undefined payload');
  await rejectsWith('InvalidArgument', infra.topic('bad').publish(() => 1), 'a function payload');
  await rejectsWith('InvalidArgument', infra.cache('bad').set('k', 42), 'a number cache value');
});

test('strings with lone surrogates are InvalidArgument wherever a string crosses into Rust', async () => {
  // The native string conversion would turn each lone surrogate into U+FFFD,
  // so 'a\uD800' and 'a\uDBFF' would be one key.
  const lone = ['a\uD800', 'a\uDBFF', '\uDC00b', 'x\uDFFFy'];
  const cache = infra.cache('surrogates');
  const bucket = infra.bucket('surrogates');
  const db = infra.database('main');
  const topic = infra.topic('surrogates');
  for (const s of lone) {
    const what = JSON.stringify(s);
    await rejectsWith('InvalidArgument', cache.set(s, 'v'), `cache.set key ${what}`);
    await rejectsWith('InvalidArgument', cache.get(s), `cache.get key ${what}`);
    await rejectsWith('InvalidArgument', cache.set('k', s), `cache.set value ${what}`);
    await rejectsWith('InvalidArgument', cache.getMany(['ok', s]), `cache.getMany key ${what}`);
    await rejectsWith('InvalidArgument', cache.setMany({ [s]: 'v' }), `cache.setMany key ${what}`);
    await rejectsWith('InvalidArgument', cache.delete([s]), `cache.delete key ${what}`);
    await rejectsWith('InvalidArgument', bucket.upload(s, 'body'), `bucket.upload key ${what}`);
    await rejectsWith('InvalidArgument', bucket.upload('k', s), `a string upload body ${what}`);
    await rejectsWith('InvalidArgument', bucket.upload('k', Readable.from(['ok', s])), `a string stream chunk ${what}`);
    await rejectsWith('InvalidArgument', bucket.download(s), `bucket.download key ${what}`);
    await rejectsWith('InvalidArgument', bucket.upload('k', 'body', { metadata: { m: s } }), `metadata value ${what}`);
    await rejectsWith('InvalidArgument', bucket.upload('k', 'body', { metadata: { [s]: 'v' } }), `metadata name ${what}`);
    throwsWith('InvalidArgument', () => bucket.list({ prefix: s }), `list prefix ${what}`);
    await rejectsWith('InvalidArgument', topic.publish('m', { attributes: { a: s } }), `attribute value ${what}`);
    await rejectsWith('InvalidArgument', topic.publish('m', { attributes: { [s]: 'v' } }), `attribute name ${what}`);
    await rejectsWith('InvalidArgument', topic.publish('m', { orderingKey: s }), `ordering key ${what}`);
    await rejectsWith('InvalidArgument', topic.publish(s), `a string payload ${what}`);
    await rejectsWith('InvalidArgument', db.query('SELECT $1 AS v', [s]), `SQL string parameter ${what}`);
    await rejectsWith('InvalidArgument', db.query('SELECT $1 AS v', [[s]]), `SQL array element ${what}`);
    await rejectsWith('InvalidArgument', db.query(`SELECT '${s}' AS v`), `SQL text ${what}`);
    throwsWith('InvalidArgument', () => infra.bucket(s), `bucket name ${what}`);
    throwsWith('InvalidArgument', () => infra.cache(s), `cache name ${what}`);
    throwsWith('InvalidArgument', () => infra.topic(s), `topic name ${what}`);
    throwsWith('InvalidArgument', () => infra.database(s), `database name ${what}`);
    throwsWith('InvalidArgument', () => infra.subscribe('t', s, () => {}), `subscription name ${what}`);
  }
  assert.equal(await bucket.exists('k'), false, 'no refused upload stored anything');

  // Nothing was written under the U+FFFD spelling both would have become.
  assert.equal(await cache.get('a\uFFFD'), null);
  await assert.rejects(cache.set('a\uD800', 'first'), { code: 'InvalidArgument' });
  await assert.rejects(cache.get('a\uDBFF'), { code: 'InvalidArgument' });
  assert.equal(await cache.get('a\uFFFD'), null, "'a\\uD800' and 'a\\uDBFF' no longer land on one key");

  // Well-formed text, surrogate pairs included, still goes through unchanged.
  await cache.set('emoji-\uD83D\uDE00', 'v\uD83D\uDE00');
  assert.equal(await cache.get('emoji-\uD83D\uDE00'), 'v\uD83D\uDE00');
  await bucket.upload('emoji-\uD83D\uDE00', 'x', { metadata: { m: '\uD83D\uDE00' } });
  assert.deepEqual((await bucket.attrs('emoji-\uD83D\uDE00')).metadata, { m: '\uD83D\uDE00' });
  assert.deepEqual(await db.query('SELECT $1 AS v', ['\uD83D\uDE00']), [{ v: '\uD83D\uDE00' }]);
});

test('an invalid config path or file is InvalidConfig naming the problem', async () => {
  const missing = await rejectsWith('InvalidConfig', Infra.load('/no/such/dir/infra.config.json'), 'a missing file');
  assert.match(missing.message, /no\/such\/dir\/infra\.config\.json/);
  const file = writeConfig('bad.json', { pubsub: { orders: { provider: 'carrier-pigeon' } } });
  const bad = await rejectsWith('InvalidConfig', Infra.load(file), 'an unknown provider');
  assert.match(bad.message, /pubsub\.orders\.provider/);
  assert.match(bad.message, /memory/, 'the message lists the providers this build has');
});

test('every StrataError code is one of the stable codes', async () => {
  const err = await infra.bucket('bad').attrs('missing').catch((e) => e);
  assert.ok(err instanceof StrataError);
  assert.ok(err instanceof Error);
  assert.ok(ERROR_CODES.includes(err.code));
  assert.equal(err.name, 'StrataError');
  assert.equal(err.retryable, false);
});

test('a handler that throws synchronously (even a non-Error) is retried, nothing lost', async () => {
  const seen = new Map();
  infra.subscribe('sync-throw', 'w', (msg) => {
    const n = msg.json();
    const attempt = (seen.get(n) ?? 0) + 1;
    seen.set(n, attempt);
    if (attempt === 1) throw n % 2 === 0 ? 'a string, not an Error' : undefined;
  }, { minBackoffMs: 5, maxBackoffMs: 10 });
  const topic = infra.topic('sync-throw');
  await Promise.all(Array.from({ length: 20 }, (_, n) => topic.publish(n)));
  await waitFor(() => seen.size === 20 && [...seen.values()].every((a) => a === 2), 5_000, 'every message twice');
});

test('a handler that rejects (even with a non-Error) is retried, nothing lost', async () => {
  const seen = new Map();
  infra.subscribe('reject', 'w', async (msg) => {
    const n = msg.json();
    const attempt = (seen.get(n) ?? 0) + 1;
    seen.set(n, attempt);
    if (attempt === 1) throw { weird: n };
  }, { minBackoffMs: 5, maxBackoffMs: 10 });
  const topic = infra.topic('reject');
  await Promise.all(Array.from({ length: 20 }, (_, n) => topic.publish(n)));
  await waitFor(() => seen.size === 20 && [...seen.values()].every((a) => a === 2), 5_000, 'every message twice');
});

test('a handler that never settles keeps its lease, then times out and the message is retried', async () => {
  // A one-second lease: without lease extension the message would come back
  // after about a second while the first handler still runs.
  const file = writeConfig('lease.json', {
    pubsub: { jobs: { provider: 'memory', subscriptions: { slow: { lease_seconds: 1, min_backoff_ms: 10, max_backoff_ms: 20 } } } },
  });
  const leased = await Infra.load(file);
  try {
    const deliveries = [];
    leased.subscribe('jobs', 'slow', (msg) => {
      deliveries.push({ attempt: msg.deliveryAttempt, at: Date.now() });
      if (msg.deliveryAttempt === 1) return new Promise(() => {}); // never settles
      return undefined;
    }, { handlerTimeoutMs: 2_500 });
    await leased.topic('jobs').publish({ job: 'slow' });
    await waitFor(() => deliveries.length === 2, 8_000, 'the redelivery after the timeout');
    const gap = deliveries[1].at - deliveries[0].at;
    assert.deepEqual(deliveries.map((d) => d.attempt), [1, 2]);
    assert.ok(gap >= 2_300, `redelivered after ${gap} ms: the lease was not extended until the handler timed out`);
    assert.ok(gap < 6_000, `redelivered only after ${gap} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(deliveries.length, 2, 'acked after the second attempt');
  } finally {
    await within(10_000, leased.close(), 'close');
  }
});

test('after close, every call fails with Closed', async () => {
  const closing = await Infra.load();
  const topic = closing.topic('t');
  const cache = closing.cache('c');
  const bucket = closing.bucket('b');
  const db = closing.database('d');
  await db.execute('CREATE TABLE IF NOT EXISTS x (a INTEGER)');
  await closing.close();
  await closing.close(); // twice is harmless
  throwsWith('Closed', () => closing.topic('t'), 'topic()');
  throwsWith('Closed', () => closing.cache('c'), 'cache()');
  throwsWith('Closed', () => closing.bucket('b'), 'bucket()');
  throwsWith('Closed', () => closing.database('d'), 'database()');
  throwsWith('Closed', () => closing.subscribe('t', 's', () => {}), 'subscribe()');
  await rejectsWith('Closed', topic.publish('late'), 'publish');
  await rejectsWith('Closed', cache.get('k'), 'cache.get');
  await rejectsWith('Closed', cache.set('k', 'v'), 'cache.set');
  await rejectsWith('Closed', bucket.upload('k', 'v'), 'bucket.upload');
  await rejectsWith('Closed', bucket.download('k'), 'bucket.download');
  throwsWith('Closed', () => bucket.publicUrl('k'), 'bucket.publicUrl');
  await rejectsWith('Closed', db.query('SELECT 1'), 'db.query');
  await rejectsWith('Closed', db.transaction(async () => {}), 'db.transaction');
});

test('close drains in-flight handlers before it resolves', async () => {
  const draining = await Infra.load();
  let finished = 0;
  let started = 0;
  draining.subscribe('drain', 'slow', async () => {
    started++;
    await new Promise((resolve) => setTimeout(resolve, 200));
    finished++;
  }, { maxConcurrency: 8 });
  const topic = draining.topic('drain');
  await Promise.all(Array.from({ length: 5 }, (_, i) => topic.publish(i)));
  await waitFor(() => started === 5, 5_000, 'handlers to start');
  await within(10_000, draining.close(), 'close');
  assert.equal(finished, 5, 'close waited for every running handler');
});

test('hostile option objects (a throwing getter, a revoked Proxy) are InvalidArgument, sync or async', async () => {
  const boom = new Error('getter boom');
  const throwing = () => ({ get start() { throw boom; }, get prefix() { throw boom; }, get maxAttempts() { throw boom; } });
  const revoked = () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  };
  const bucket = infra.bucket('hostile');
  for (const [kind, make] of [['a throwing getter', throwing], ['a revoked Proxy', revoked]]) {
    const err = throwsWith('InvalidArgument', () => bucket.list(make()), `list(${kind})`);
    if (kind === 'a throwing getter') assert.equal(err.cause, boom, 'the getter\'s error is the cause');
    throwsWith('InvalidArgument', () => bucket.downloadStream('k', make()), `downloadStream(${kind})`);
    throwsWith('InvalidArgument', () => infra.subscribe('t', 's', () => {}, make()), `subscribe(${kind})`);
    // The async methods already rejected so; the two kinds must agree.
    await rejectsWith('InvalidArgument', () => bucket.download('k', make()), `download(${kind})`);
  }
});
