'use strict';

// The process exits by itself once no call is pending and no subscription
// runs: the native wake-up never holds the event loop open on its own.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

/** Runs `source` in a fresh node process in a temp folder; fails if it does not exit in time. */
function run(source) {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-node-exit-'));
  const result = spawnSync(process.execPath, ['-e', source], {
    cwd,
    env: { ...process.env, STRATA_ROOT: ROOT },
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(result.error, undefined, `the process did not exit by itself: ${result.error}`);
  return result;
}

test('a script that never calls close exits once its calls are done', () => {
  const result = run(`
    const { Infra } = require(process.env.STRATA_ROOT);
    Infra.load().then(async (infra) => {
      const cache = infra.cache('c');
      await Promise.all(Array.from({ length: 100 }, (_, i) => cache.set('k' + i, 'v')));
      console.log('values', (await cache.getMany(['k0', 'k99'])).join(','));
      await infra.topic('t').publish({ unsubscribed: true });
    });
  `);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /values v,v/);
});

test('pending calls keep the process alive until they are answered', () => {
  const result = run(`
    const { Infra } = require(process.env.STRATA_ROOT);
    Infra.load().then((infra) => {
      // Nothing but this pending call holds the event loop.
      infra.database('main').query('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT count(*) AS n FROM c')
        .then((rows) => console.log('rows', rows[0].n));
    });
  `);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /rows 200000/);
});

test('a running subscription keeps the process alive until close', () => {
  const result = run(`
    const { Infra } = require(process.env.STRATA_ROOT);
    Infra.load().then(async (infra) => {
      let got = 0;
      infra.subscribe('t', 's', () => {
        got++;
        if (got === 3) setTimeout(() => infra.close().then(() => console.log('closed after', got)), 50);
      });
      const topic = infra.topic('t');
      // Published later, from a timer that does not hold the loop itself.
      setTimeout(() => { for (let i = 0; i < 3; i++) topic.publish(i); }, 300).unref();
    });
  `);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /closed after 3/);
});
