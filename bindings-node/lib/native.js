'use strict';

// The JS end of the completion queue.
//
// Every asynchronous native call gets an integer id; its promise's resolve and
// reject wait in arrays indexed by that id. The native side answers through one
// shared queue and wakes this thread once for everything queued (`onWake`), so
// with many calls in flight one wake-up settles many promises. Deliveries of
// subscriptions arrive in the same wake-ups and are handed to `deliver`.

const path = require('node:path');
const fs = require('node:fs');
const { StrataError, fromNative } = require('./errors');

/**
 * The addon for this platform: the file `STRATA_NATIVE_PATH` names; else
 * `strata.<platform>.node` beside the package (a local build, or a package
 * packed with its binary); else the per-platform package a release publishes
 * (`@strata/runtime-<platform>`, an optional dependency of this one, which npm
 * installs only on the platform it is for).
 */
function addonPath() {
  if (process.env.STRATA_NATIVE_PATH) return path.resolve(process.env.STRATA_NATIVE_PATH);
  const root = path.join(__dirname, '..');
  const base = `${process.platform}-${process.arch}`;
  const platforms = process.platform === 'linux'
    ? [`${base}-gnu`, `${base}-musl`]
    : process.platform === 'win32' ? [`${base}-msvc`] : [base];
  for (const platform of platforms) {
    const full = path.join(root, `strata.${platform}.node`);
    if (fs.existsSync(full)) return full;
  }
  for (const platform of platforms) {
    try {
      return require.resolve(`@strata/runtime-${platform}`);
    } catch {
      // not installed: try the next one
    }
  }
  throw new StrataError(
    'Internal',
    `the Strata native addon is not built for ${process.platform}-${process.arch}: ` +
      `looked for ${platforms.map((p) => `strata.${p}.node`).join(', ')} in ${root} ` +
      `and for the packages ${platforms.map((p) => `@strata/runtime-${p}`).join(', ')} ` +
      '(in a checkout, run `npm run build` in bindings-node)',
  );
}

const addon = require(addonPath());

/**
 * The numbers and names both halves agree on (strides, codes, the content-type
 * attribute), defined once in src/wire.rs and read here once.
 */
const wire = Object.freeze(addon.wireConstants());

// Pending calls, by id. Ids are reused only after their answer was handled.
/** @type {Array<((value: any) => void) | undefined>} */
const resolvers = [];
/** @type {Array<((err: any) => void) | undefined>} */
const rejecters = [];
/** @type {Array<((value: any) => any) | undefined>} */
const mappers = [];
/** @type {number[]} */
const freeIds = [];
let nextId = 0;

// The wake-up never keeps the process alive by itself; this timer does, and it
// is ref'd exactly while a call is pending or a subscription is running.
const keepAlive = setInterval(() => {}, 0x7fffffff);
keepAlive.unref();
let holds = 0;

/** Keeps the process alive until the matching `release`. */
function hold() {
  if (holds++ === 0) keepAlive.ref();
}

/** Ends one `hold`. */
function release(n = 1) {
  holds -= n;
  if (holds <= 0) {
    holds = 0;
    keepAlive.unref();
  }
}

/** @type {(meta: Float64Array, bytes: Buffer) => void} */
let deliver = () => {};

/** Sets where subscription deliveries go. */
function setDeliverer(fn) {
  deliver = fn;
}

// Completion kinds (the second number of each row; `Kind` in src/wire.rs).
const KIND_UNDEFINED = wire.completionUndefined;
const KIND_NUMBER = wire.completionNumber;
const KIND_ERROR = wire.completionError;
const KIND_TEXT = wire.completionText;

/**
 * One wake-up: `done` holds three numbers per answered call (id, kind, and
 * the value when it is a number or the length of its text); `values` the
 * values that are neither numbers nor strings, and errors, in order; `texts`
 * the string results, joined.
 */
function onWake(done, values, texts, meta, bytes) {
  if (done !== null && done !== undefined) {
    const count = done.length;
    let next = 0;
    let at = 0;
    for (let i = 0; i < count; i += 3) {
      const id = done[i];
      const kind = done[i + 1];
      let value;
      if (kind === KIND_UNDEFINED) {
        value = undefined;
      } else if (kind === KIND_NUMBER) {
        value = done[i + 2];
      } else if (kind === KIND_TEXT) {
        const end = at + done[i + 2];
        // `texts` is null when every text of this wake-up is empty.
        value = end === at ? '' : texts.slice(at, end);
        at = end;
      } else {
        value = values[next++];
      }
      const resolve = resolvers[id];
      if (resolve === undefined) continue;
      const reject = rejecters[id];
      const map = mappers[id];
      resolvers[id] = undefined;
      rejecters[id] = undefined;
      mappers[id] = undefined;
      freeIds.push(id);
      if (kind === KIND_ERROR) {
        reject(new StrataError(value[0], value[1]));
      } else if (map === undefined) {
        resolve(value);
      } else {
        try {
          resolve(map(value));
        } catch (err) {
          reject(err);
        }
      }
    }
    release(count / 3);
  }
  if (meta !== null && meta !== undefined) {
    try {
      deliver(meta, bytes);
    } catch (err) {
      // `deliver` guards each handler; reaching here is a bug of this module.
      process.emitWarning(`Strata: delivering messages failed: ${err && err.stack}`);
    }
  }
}

const bridge = new addon.Bridge(onWake);

/**
 * Starts an asynchronous native call: `start(id)` submits it, and the promise
 * settles with its answer, passed through `map` when given. A synchronous
 * throw from `start` (a wrong argument type) rejects the promise.
 * @template T
 * @param {(id: number) => void} start
 * @param {(value: any) => T} [map]
 * @returns {Promise<T>}
 */
function call(start, map) {
  const id = freeIds.length > 0 ? freeIds.pop() : nextId++;
  const promise = new Promise((resolve, reject) => {
    resolvers[id] = resolve;
    rejecters[id] = reject;
  });
  mappers[id] = map;
  try {
    start(id);
  } catch (err) {
    const reject = rejecters[id];
    resolvers[id] = undefined;
    rejecters[id] = undefined;
    mappers[id] = undefined;
    freeIds.push(id);
    reject(fromNative(err));
    return promise;
  }
  hold();
  return promise;
}

/**
 * Rejects pending call `id` with `err` from the JS side (when its native
 * request could not be made after `call` had returned).
 * @param {number} id
 * @param {Error} err
 */
function failCall(id, err) {
  const reject = rejecters[id];
  if (reject === undefined) return;
  resolvers[id] = undefined;
  rejecters[id] = undefined;
  mappers[id] = undefined;
  freeIds.push(id);
  release();
  reject(err);
}

/**
 * Runs a synchronous native call, turning what it throws into a StrataError.
 * @template T
 * @param {() => T} fn
 * @returns {T}
 */
function sync(fn) {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * Runs `fn` (validation then a `call`) and turns a synchronous throw into a
 * rejected promise, so async methods never throw.
 * @template T
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
function rejecting(fn) {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(fromNative(err));
  }
}

module.exports = { addon, wire, bridge, call, failCall, sync, rejecting, hold, release, setDeliverer };
