'use strict';
// The demo application, run end to end as a user runs it: a fresh working
// directory, no config file, the embedded defaults.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { uniqueConfig } = require('./support/helpers');

const demo = path.join(__dirname, '..', '..', 'examples', 'node', 'upload-pipeline.mjs');

function runDemo(cwd) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.STRATA_CONFIG;
    execFile(process.execPath, [demo], { cwd, env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`demo failed (${err.message}):\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

test('the demo runs on the embedded defaults and gives its account', async () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-demo-'));
  try {
    const first = await runDemo(cwd);
    assert.match(first, /on the embedded defaults/);
    assert.match(first, /1 migration\(s\) applied, 0 already applied/);
    assert.match(first, /uploads stored: 3; events processed: 3; failed attempts retried: 1/);
    assert.match(first, /img\/broken\.png: 512 B, attempts 2/);
    assert.match(first, /cache sizes: img\/cat\.png → 2048/);
    assert.ok(fs.existsSync(path.join(cwd, '.strata', 'main.db')), 'SQLite file under .strata/');

    // A second run finds the migration applied and the same three rows.
    const second = await runDemo(cwd);
    assert.match(second, /0 migration\(s\) applied, 1 already applied/);
    assert.match(second, /database main: 3 row\(s\) in processed_uploads/);
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});

// The same program, unchanged, on self-hosted Redis and PostgreSQL: only the
// config file differs. Uses a fresh PostgreSQL database so runs don't interfere.
const { execFileSync } = require('node:child_process');

function psql(sql) {
  execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-qc', sql], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

test('the same demo runs unchanged on NATS, Redis and PostgreSQL via STRATA_CONFIG', async () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-demo-'));
  const db = `strata_demo_${process.pid}_${Date.now()}`;
  psql(`CREATE DATABASE ${db}`);
  // This run's own stream and consumer names, so a stream left by another
  // run (the machine's NATS server keeps them) cannot change the account.
  const example = path.join(__dirname, '..', '..', 'examples', 'configs', 'self-hosted.json');
  const config = uniqueConfig(example, cwd);
  const parsed = JSON.parse(fs.readFileSync(config, 'utf8'));
  parsed.objects.uploads.root = path.join(cwd, 'uploads');
  fs.writeFileSync(config, JSON.stringify(parsed, null, 2));
  try {
    const out = await new Promise((resolve, reject) => {
      const env = {
        ...process.env,
        STRATA_CONFIG: config,
        STRATA_NATS_URL: process.env.STRATA_TEST_NATS_URL ?? 'nats://127.0.0.1:4222',
        STRATA_REDIS_URL: process.env.STRATA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
        STRATA_POSTGRES_URL: `postgres://postgres@127.0.0.1:5432/${db}`,
      };
      execFile(process.execPath, [demo], { cwd, env, timeout: 30_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`demo failed (${err.message}):\n${stdout}\n${stderr}`));
        else resolve(stdout);
      });
    });
    assert.match(out, /with config .*self-hosted\.json/);
    assert.match(out, /1 migration\(s\) applied, 0 already applied/);
    assert.match(out, /uploads stored: 3; events processed: 3; failed attempts retried: 1/);
    assert.match(out, /database main: 3 row\(s\) in processed_uploads/);
  } finally {
    psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});

// The same program on each cloud's services (emulators on 127.0.0.1), from the
// example configs with this run's own resource names, so repeated runs start
// from empty queues and buckets. One codebase, swapped by config: the demo's
// account is the same on every provider.

function runDemoWithConfig(config, cwd) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, STRATA_CONFIG: config };
    execFile(process.execPath, [demo], { cwd, env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`demo failed with ${path.basename(config)} (${err.message}):\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The account the demo ends with, without the timing line. */
function accountOf(out) {
  const start = out.indexOf('Account:');
  const end = out.indexOf('\ndone in');
  assert.ok(start >= 0 && end > start, `no account in:\n${out}`);
  return out.slice(start, end);
}

function requireEnv(name, start) {
  assert.ok(
    process.env[name],
    `${name} is not set: run the suite with ./scripts/test.sh, or start the emulator with ` +
      `\`localstack/emulators up ${start}\` and \`eval "$(localstack/emulators env)"\``,
  );
}

test('one codebase, swapped by config: the same account on the embedded defaults, AWS (LocalStack), GCP (emulators) and Azure (Azurite)', async () => {
  requireEnv('STRATA_TEST_LOCALSTACK_ENDPOINT', 'localstack');
  requireEnv('STRATA_TEST_PUBSUB_ENDPOINT', 'pubsub');
  requireEnv('STRATA_TEST_GCS_ENDPOINT', 'gcs');
  requireEnv('STRATA_TEST_AZURITE_BLOB_ENDPOINT', 'azurite');
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-demo-'));
  const examples = path.join(__dirname, '..', '..', 'examples', 'configs');
  try {
    const local = await runDemo(cwd);
    for (const [file, cloud] of [
      ['aws-localstack.json', 'AWS'],
      ['gcp-emulators.json', 'GCP'],
      // Objects on Blob Storage, pub/sub in memory; azure-emulators.json (below) has Service Bus.
      ['azure-azurite.json', 'Azure'],
    ]) {
      const out = await runDemoWithConfig(uniqueConfig(path.join(examples, file), cwd), cwd);
      assert.match(out, new RegExp(`with config .*${file.replace('.', '\\.')}`), cloud);
      assert.match(out, /1 migration\(s\) applied, 0 already applied/, cloud);
      assert.match(out, /uploads stored: 3; events processed: 3; failed attempts retried: 1/, cloud);
      assert.match(out, /img\/broken\.png: 512 B, attempts 2/, cloud);
      assert.equal(accountOf(out), accountOf(local), `the account on ${cloud}`);
    }
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});

// The same program with every block on Azure's side: Service Bus (this
// repository's emulator) for pub/sub, Azurite for objects, and the Redis and
// PostgreSQL that Azure Cache and Azure Database are. Only the config differs.
test('the same demo runs unchanged on Service Bus, Azurite, Redis and PostgreSQL (azure-emulators.json)', async () => {
  requireEnv('STRATA_TEST_SERVICEBUS_CONNECTION_STRING', 'servicebus');
  requireEnv('STRATA_TEST_AZURITE_BLOB_ENDPOINT', 'azurite');
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-demo-'));
  const db = `strata_demo_az_${process.pid}_${Date.now()}`;
  psql(`CREATE DATABASE ${db}`);
  const example = path.join(__dirname, '..', '..', 'examples', 'configs', 'azure-emulators.json');
  try {
    const local = await runDemo(cwd);
    const config = uniqueConfig(example, cwd);
    const out = await new Promise((resolve, reject) => {
      const env = {
        ...process.env,
        STRATA_CONFIG: config,
        STRATA_REDIS_URL: process.env.STRATA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
        STRATA_POSTGRES_URL: `postgres://postgres@127.0.0.1:5432/${db}`,
      };
      execFile(process.execPath, [demo], { cwd, env, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`demo failed (${err.message}):\n${stdout}\n${stderr}`));
        else resolve(stdout);
      });
    });
    assert.match(out, /with config .*azure-emulators\.json/);
    assert.match(out, /1 migration\(s\) applied, 0 already applied/);
    assert.match(out, /uploads stored: 3; events processed: 3; failed attempts retried: 1/);
    assert.match(out, /img\/broken\.png: 512 B, attempts 2/);
    assert.equal(accountOf(out), accountOf(local), 'the account on Azure');
  } finally {
    psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});
