'use strict';

// Every cache operation through the binding, on the embedded (memory) provider.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Infra } = require('..');
const { enterTempDir, within, rejectsWith, writeConfig } = require('./support/helpers');

let infra;
let cache;

before(async () => {
  enterTempDir('cache');
  infra = await Infra.load();
  cache = infra.cache('sessions');
});

after(async () => {
  await within(10_000, infra.close(), 'infra.close()');
});

test('strings and bytes: get, set, setIfAbsent, replace, misses are null', async () => {
  assert.equal(await cache.get('s:missing'), null);
  assert.equal(await cache.getBytes('s:missing'), null);
  await cache.set('s:1', 'alice');
  assert.equal(await cache.get('s:1'), 'alice');
  assert.equal(await cache.setIfAbsent('s:1', 'bob'), false);
  assert.equal(await cache.setIfAbsent('s:2', 'bob'), true);
  assert.equal(await cache.get('s:2'), 'bob');
  assert.equal(await cache.replace('s:2', 'carol'), true);
  assert.equal(await cache.replace('s:3', 'dave'), false);
  assert.equal(await cache.get('s:3'), null);
  await cache.set('b:1', Buffer.from([0xff, 0x00, 0x7f]));
  assert.deepEqual([...(await cache.getBytes('b:1'))], [0xff, 0x00, 0x7f]);
  await rejectsWith('InvalidArgument', cache.get('b:1'), 'get of bytes that are not UTF-8');
});

test('getMany, setMany and delete', async () => {
  await cache.setMany({ 'm:1': 'one', 'm:2': 'two' });
  await cache.setMany([['m:3', 'three']]);
  await cache.setMany(new Map([['m:4', 'four']]));
  assert.deepEqual(await cache.getMany(['m:1', 'm:2', 'm:missing', 'm:3', 'm:4']), ['one', 'two', null, 'three', 'four']);
  assert.equal(await cache.delete(['m:1', 'm:2', 'm:missing']), 2);
  assert.equal(await cache.delete('m:3'), 1);
  assert.deepEqual(await cache.getMany('m:1'), [null]);
});

test('integers and floats: get, set, incr, decr', async () => {
  assert.equal(await cache.getInt('n:visits'), null);
  assert.equal(await cache.incr('n:visits'), 1);
  assert.equal(await cache.incr('n:visits', 41), 42);
  assert.equal(await cache.decr('n:visits', 2), 40);
  assert.equal(await cache.decr('n:visits'), 39);
  assert.equal(await cache.getInt('n:visits'), 39);
  assert.equal(await cache.get('n:visits'), '39', 'integers are stored as decimal text');
  await cache.setInt('n:big', 10n);
  assert.equal(await cache.incr('n:big', 5n), 15);
  await cache.setInt('n:max', Number.MAX_SAFE_INTEGER);
  const beyond = await cache.incr('n:max', 10);
  assert.equal(typeof beyond, 'bigint', 'integers beyond 2^53 − 1 come back as bigint');
  assert.equal(beyond, BigInt(Number.MAX_SAFE_INTEGER) + 10n);
  await cache.setFloat('f:ratio', 1.5);
  assert.equal(await cache.getFloat('f:ratio'), 1.5);
  assert.equal(await cache.incrFloat('f:ratio', 0.25), 1.75);
  assert.equal(await cache.getFloat('f:missing'), null);
  await cache.set('n:text', 'not a number');
  await rejectsWith('InvalidArgument', cache.incr('n:text'), 'incr of text');
  await rejectsWith('InvalidArgument', cache.incr('n:x', 1.5), 'incr by a fraction');
});

test('the Int bound is ±(2^53 − 1), as the typings say, for numbers and bigints alike', async () => {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  await cache.setInt('n:edge', max);
  assert.equal(await cache.getInt('n:edge'), Number.MAX_SAFE_INTEGER);
  await cache.setInt('n:edge', -max);
  assert.equal(await cache.getInt('n:edge'), -Number.MAX_SAFE_INTEGER);
  for (const value of [max + 1n, -(max + 1n), 2 ** 53, -(2 ** 53)]) {
    const err = await rejectsWith('InvalidArgument', cache.setInt('n:edge', value), `setInt(${value})`);
    assert.match(err.message, /2\^53 − 1|integer/, err.message);
  }
  const bigErr = await rejectsWith('InvalidArgument', cache.setInt('n:edge', max + 1n), '2^53n');
  assert.match(bigErr.message, /±\(2\^53 − 1\)/, 'the message states the bound the typings state');
  const typings = require('node:fs').readFileSync(require.resolve('../index.d.ts'), 'utf8');
  assert.doesNotMatch(typings, /within ±2\^53\b/, 'the typings state the same bound');
  assert.match(typings, /within ±\(2\^53 − 1\)/);
  // A result of 2^53 is beyond the safe range: a bigint.
  await cache.setInt('n:edge', max);
  assert.equal(await cache.incr('n:edge'), max + 1n);
});

test('lists: push, pop, range, length', async () => {
  assert.equal(await cache.pushBack('l:q', ['a', 'b']), 2);
  assert.equal(await cache.pushBack('l:q', 'c'), 3);
  assert.equal(await cache.pushFront('l:q', ['y', 'z']), 5);
  assert.deepEqual(await cache.listRange('l:q'), ['z', 'y', 'a', 'b', 'c']);
  assert.deepEqual(await cache.listRange('l:q', 1, 2), ['y', 'a']);
  assert.deepEqual(await cache.listRange('l:q', -2, -1), ['b', 'c']);
  assert.equal(await cache.popFront('l:q'), 'z');
  assert.equal(await cache.popBack('l:q'), 'c');
  assert.equal(await cache.listLen('l:q'), 3);
  assert.equal(await cache.popFront('l:empty'), null);
  assert.equal(await cache.listLen('l:empty'), 0);
  assert.deepEqual(await cache.listRange('l:empty'), []);
  await rejectsWith('InvalidArgument', cache.pushBack('s:1', 'x'), 'a list op on a string key');
});

test('sets: add, remove, members, contains, length', async () => {
  assert.equal(await cache.setAdd('set:tags', ['red', 'green', 'red']), 2);
  assert.equal(await cache.setAdd('set:tags', 'blue'), 1);
  assert.deepEqual((await cache.setMembers('set:tags')).sort(), ['blue', 'green', 'red']);
  assert.equal(await cache.setContains('set:tags', 'green'), true);
  assert.equal(await cache.setContains('set:tags', 'pink'), false);
  assert.equal(await cache.setRemove('set:tags', ['green', 'pink']), 1);
  assert.equal(await cache.setLen('set:tags'), 2);
  assert.equal(await cache.setLen('set:none'), 0);
  assert.deepEqual(await cache.setMembers('set:none'), []);
});

test('TTLs: write TTLs, ttl, expire, persist, keep', async () => {
  assert.deepEqual(await cache.ttl('t:missing'), { state: 'missing' });
  await cache.set('t:1', 'x');
  assert.deepEqual(await cache.ttl('t:1'), { state: 'persistent' });
  await cache.set('t:2', 'x', { ttl: 60_000 });
  const t2 = await cache.ttl('t:2');
  assert.equal(t2.state, 'expires');
  assert.ok(t2.ms > 50_000 && t2.ms <= 60_000, `ttl ${t2.ms}`);
  await cache.set('t:2', 'y', { ttl: 'keep' });
  assert.equal((await cache.ttl('t:2')).state, 'expires', 'keep leaves the TTL');
  await cache.set('t:2', 'z', { ttl: 'persist' });
  assert.deepEqual(await cache.ttl('t:2'), { state: 'persistent' });
  assert.equal(await cache.expire('t:1', 30), true);
  assert.equal(await cache.expire('t:missing', 30), false);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(await cache.get('t:1'), null, 'an expired key is a miss');
  await cache.set('t:3', 'x', { ttl: 60_000 });
  assert.equal(await cache.persist('t:3'), true);
  assert.deepEqual(await cache.ttl('t:3'), { state: 'persistent' });
  await rejectsWith('InvalidArgument', cache.set('t:4', 'x', { ttl: 0 }), 'a zero TTL');
  await rejectsWith('InvalidArgument', cache.set('t:4', 'x', { ttl: 'forever' }), 'an unknown TTL');
});

test('keyspaces are separated by their prefix', async () => {
  const other = infra.cache('other');
  await cache.set('shared', 'from sessions');
  await other.set('shared', 'from other');
  assert.equal(await cache.get('shared'), 'from sessions');
  assert.equal(await other.get('shared'), 'from other');
});

test('a keyspace default TTL from the config applies to writes', async () => {
  const file = writeConfig('cache-ttl.json', {
    caches: { short: { provider: 'memory', default_ttl_ms: 50_000 } },
  });
  const configured = await Infra.load(file);
  try {
    const short = configured.cache('short');
    await short.set('k', 'v');
    const ttl = await short.ttl('k');
    assert.equal(ttl.state, 'expires');
    assert.ok(ttl.ms <= 50_000 && ttl.ms > 40_000);
    await short.set('k2', 'v', { ttl: 'persist' });
    assert.deepEqual(await short.ttl('k2'), { state: 'persistent' });
  } finally {
    await configured.close();
  }
});

test('many concurrent calls each get their own answer', async () => {
  const n = 5_000;
  await Promise.all(Array.from({ length: n }, (_, i) => cache.set(`c:${i}`, String(i))));
  const values = await Promise.all(Array.from({ length: n }, (_, i) => cache.get(`c:${i}`)));
  const wrong = values.filter((v, i) => v !== String(i)).length;
  assert.equal(wrong, 0);
});
