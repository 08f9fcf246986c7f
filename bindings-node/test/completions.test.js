'use strict';

// Answers of many calls cross in one wake-up: numbers and `undefined` in a
// table, strings joined into one text and cut apart by length in JS. Each call
// must still get exactly its own value.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Infra } = require('..');
const { enterTempDir, within } = require('./support/helpers');

let infra;

before(async () => {
  enterTempDir('completions');
  infra = await Infra.load();
});

after(async () => {
  await within(10_000, infra.close(), 'infra.close()');
});

test('string answers in one wake-up, empty and non-ASCII ones included, each resolve to their own text', async () => {
  const cache = infra.cache('texts');
  const texts = ['a', 'ünï🚀 €', '', 'plain', '日本語テキスト', '🚀🚀', '', 'z'.repeat(5000)];
  await within(5_000, Promise.all(texts.map((t, i) => cache.set(`k${i}`, t))), 'sets');
  for (let round = 0; round < 20; round++) {
    const got = await within(5_000, Promise.all(texts.map((_, i) => cache.get(`k${i}`))), 'gets');
    assert.deepEqual(got, texts);
  }
  assert.equal(await cache.get('k2'), '', 'an empty string alone in its wake-up');
});

test('numbers, misses and strings mixed in one wake-up keep their own answers', async () => {
  const cache = infra.cache('mixed');
  await cache.set('s', 'text');
  await cache.setInt('n', 41);
  const calls = [];
  for (let i = 0; i < 200; i++) {
    if (i % 3 === 0) calls.push(cache.get('s'));
    else if (i % 3 === 1) calls.push(cache.incr('n', 0));
    else calls.push(cache.get(`missing-${i}`));
  }
  const got = await within(5_000, Promise.all(calls), 'mixed calls');
  got.forEach((value, i) => {
    if (i % 3 === 0) assert.equal(value, 'text');
    else if (i % 3 === 1) assert.equal(value, 41);
    else assert.equal(value, null);
  });
});
