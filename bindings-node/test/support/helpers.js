'use strict';

// Shared by the binding's tests: every wait is bounded so a bug fails instead
// of hanging, and every test file runs in its own temporary folder (the
// embedded defaults write under ./.strata).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');
const { StrataError } = require('../..');

/** Moves this test process into a fresh temporary folder; returns it. */
function enterTempDir(label) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `strata-node-${label}-`));
  process.chdir(dir);
  return dir;
}

/** Rejects if `promise` takes longer than `ms`. */
async function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns truthy, failing after `ms`. */
async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Asserts that `fnOrPromise` throws or rejects a StrataError with `code`. */
async function rejectsWith(code, fnOrPromise, what) {
  let err;
  try {
    await (typeof fnOrPromise === 'function' ? fnOrPromise() : fnOrPromise);
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: expected a ${code} StrataError, but it succeeded`);
  assert.ok(err instanceof StrataError, `${what}: expected a StrataError, got ${err && err.stack}`);
  assert.equal(err.code, code, `${what}: wrong code (${err.message})`);
  return err;
}

/** Asserts that the synchronous `fn` throws a StrataError with `code`. */
function throwsWith(code, fn, what) {
  let err;
  let result;
  try {
    result = fn();
  } catch (e) {
    err = e;
  }
  assert.ok(!(result instanceof Promise), `${what}: returned a promise instead of throwing`);
  assert.ok(err, `${what}: expected a ${code} StrataError to be thrown`);
  assert.ok(err instanceof StrataError, `${what}: expected a StrataError, got ${err && err.stack}`);
  assert.equal(err.code, code, `${what}: wrong code (${err.message})`);
  return err;
}

/** Writes a JSON config file into the current folder; returns its path. */
function writeConfig(name, config) {
  const file = path.resolve(name);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/**
 * A copy of the example config `file` in `cwd`, with this run's own resource
 * names (repeated runs start from empty queues and buckets) and its SQLite
 * file in `cwd`. Returns the copy's path.
 */
function uniqueConfig(file, cwd) {
  const config = JSON.parse(fs.readFileSync(file, 'utf8'));
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  for (const topic of Object.values(config.pubsub ?? {})) {
    if (topic.name) topic.name = `${topic.name}-${suffix}`;
    for (const sub of Object.values(topic.subscriptions ?? {})) {
      if (sub.name) sub.name = `${sub.name}-${suffix}`;
    }
  }
  for (const bucket of Object.values(config.objects ?? {})) {
    if (bucket.name) bucket.name = `${bucket.name}-${suffix}`;
  }
  for (const db of Object.values(config.databases ?? {})) {
    if (db.provider === 'sqlite') db.path = path.join(cwd, `${path.basename(file, '.json')}.db`);
  }
  delete config.$schema;
  const out = path.join(cwd, path.basename(file));
  fs.writeFileSync(out, JSON.stringify(config, null, 2));
  return out;
}

module.exports = { enterTempDir, within, waitFor, rejectsWith, throwsWith, writeConfig, uniqueConfig };
