'use strict';
// Two Node processes on the self-hosted demo config (NATS JetStream) share one
// subscription's work: every message is handled once, by one of them, and both
// take part. The config is the demo's, with this run's own stream and consumer.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Infra } = require('..');
const { uniqueConfig, within } = require('./support/helpers');

const worker = path.join(__dirname, 'support', 'shared-worker.js');

/** Starts a worker; `lines` collects what it prints, `ready` settles on its `ready` line. */
function startWorker(env) {
  const child = spawn(process.execPath, [worker, 'uploads', 'thumbnailer'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const handled = [];
  let stderr = '';
  let buffered = '';
  let onReady;
  const ready = new Promise((resolve) => { onReady = resolve; });
  child.stdout.on('data', (chunk) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line === 'ready') onReady();
      else if (line.startsWith('done ')) handled.push(line.slice(5));
    }
  });
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, handled, ready, exited, stderr: () => stderr };
}

test('two Node processes on the self-hosted config share one subscription, each message handled once', async (t) => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-shared-'));
  const config = uniqueConfig(path.join(__dirname, '..', '..', 'examples', 'configs', 'self-hosted.json'), cwd);
  const parsed = JSON.parse(fs.readFileSync(config, 'utf8'));
  parsed.objects.uploads.root = path.join(cwd, 'uploads');
  fs.writeFileSync(config, JSON.stringify(parsed));
  // The config's `$env` values, for the workers and for this process's publisher
  // (each test file runs in its own process). Cache and database are unused here.
  Object.assign(process.env, {
    STRATA_NATS_URL: process.env.STRATA_TEST_NATS_URL ?? 'nats://127.0.0.1:4222',
    STRATA_REDIS_URL: process.env.STRATA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    STRATA_POSTGRES_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  const env = { ...process.env, STRATA_CONFIG: config };
  const workers = [startWorker(env), startWorker(env)];
  const total = 400;
  try {
    await within(30_000, Promise.all(workers.map((w) => w.ready)), 'both workers subscribed');
    const infra = await Infra.load(config);
    const uploads = infra.topic('uploads');
    await Promise.all(Array.from({ length: total }, (_, i) => uploads.publish(`m${i}`)));
    await infra.close();

    const deadline = Date.now() + 30_000;
    while (workers.reduce((n, w) => n + w.handled.length, 0) < total && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const all = workers.flatMap((w) => w.handled);
    const counts = workers.map((w) => w.handled.length);
    assert.equal(new Set(all).size, total, `every message handled (per worker: ${counts})`);
    assert.equal(all.length, total, `no message handled twice (per worker: ${counts})`);
    for (const [i, n] of counts.entries()) assert.ok(n > 0, `worker ${i} took part (per worker: ${counts})`);
    t.diagnostic(`${total} messages, handled per worker: ${counts.join(' + ')}`);
  } finally {
    for (const w of workers) w.child.stdin.end();
    const codes = await Promise.all(workers.map((w) => w.exited));
    fs.rmSync(cwd, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0], `workers exit cleanly: ${workers.map((w) => w.stderr()).join('\n')}`);
  }
});
