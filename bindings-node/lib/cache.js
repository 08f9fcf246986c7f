'use strict';

const { call, rejecting, wire } = require('./native');
const { invalid, typeOf, checkWellFormed, checkString, checkOptions, checkNumber } = require('./errors');

// TTL codes (src/wire.rs).
const TTL_KEEP = wire.ttlKeep;
const TTL_PERSIST = wire.ttlPersist;

/** `{ ttl }` of a write → the native TTL code (undefined: the keyspace default). */
function ttlOf(options) {
  if (options === undefined) return undefined;
  const { ttl } = checkOptions(options, 'cache write options');
  if (ttl === undefined || ttl === null) return undefined;
  if (ttl === 'keep') return TTL_KEEP;
  if (ttl === 'persist') return TTL_PERSIST;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw invalid(`ttl must be a positive number of milliseconds, "keep" or "persist", got ${typeof ttl === 'number' ? ttl : typeOf(ttl)}`);
  }
  return ttl;
}

/**
 * An integer argument as a JS number: a safe integer, or a bigint in the same
 * range, |n| ≤ 2^53 − 1 (`Number.MAX_SAFE_INTEGER`).
 */
function intOf(value, what) {
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw invalid(
        `${what} is beyond ±(2^53 − 1) (Number.MAX_SAFE_INTEGER), which this binding cannot pass exactly`,
      );
    }
    return Number(value);
  }
  return checkNumber(value, what, { integer: true });
}

/** A list of well-formed strings from one string or an array of them. */
function stringsOf(values, what) {
  const list = typeof values === 'string' ? [values] : values;
  if (!Array.isArray(list)) throw invalid(`${what} must be a string or an array of strings, got ${typeOf(values)}`);
  for (const v of list) {
    if (typeof v !== 'string') throw invalid(`${what} must hold strings, got ${typeOf(v)}`);
    checkWellFormed(v, `one of the ${what}`);
  }
  return list;
}

/** Keys from one key or an array of keys. */
function keysOf(keys) {
  return stringsOf(keys, 'keys');
}

function ttlState(raw) {
  if (raw[0] === 'expires') return { state: 'expires', ms: raw[1] };
  return { state: raw[0] };
}

/**
 * A cache keyspace. Every key gets the keyspace's prefix; a miss is `null`
 * (or 0, or empty), never an error.
 */
class Cache {
  constructor(native, name) {
    this._n = native;
    /** The keyspace's logical name. */
    this.name = name;
  }

  /** The string under `key`, or null. */
  get(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.get(id, key));
    });
  }

  /** The bytes under `key`, or null. */
  getBytes(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.getBytes(id, key));
    });
  }

  _set(key, value, condition, options) {
    return rejecting(() => {
      checkString(key, 'key');
      let text;
      let bytes;
      if (typeof value === 'string') {
        checkWellFormed(value, 'a cache value');
        text = value;
      }
      else if (value instanceof Uint8Array) bytes = value;
      else throw invalid(`a cache value must be a string or a Buffer, got ${typeOf(value)}`);
      const ttl = ttlOf(options);
      const n = this._n;
      return call((id) => n.set(id, key, text, bytes, condition, ttl));
    });
  }

  /** Writes a string or Buffer, replacing any value. */
  set(key, value, options) {
    return this._set(key, value, 0, options);
  }

  /** Writes only if the key is absent; resolves whether it wrote. */
  setIfAbsent(key, value, options) {
    return this._set(key, value, 1, options);
  }

  /** Writes only if the key exists; resolves whether it wrote. */
  replace(key, value, options) {
    return this._set(key, value, 2, options);
  }

  /** Strings (or null) for each key, in order. */
  getMany(keys) {
    return rejecting(() => {
      const list = keysOf(keys);
      const n = this._n;
      return call((id) => n.getMany(id, list));
    });
  }

  /** Writes many strings (not atomically across keys). */
  setMany(entries, options) {
    return rejecting(() => {
      const pairs = entries instanceof Map || Array.isArray(entries)
        ? [...entries]
        : entries !== null && typeof entries === 'object' ? Object.entries(entries) : undefined;
      if (pairs === undefined) throw invalid(`setMany needs an object, a Map or [key, value] pairs, got ${typeOf(entries)}`);
      const flat = [];
      for (const pair of pairs) {
        if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
          throw invalid('setMany entries must be string keys with string values');
        }
        checkWellFormed(pair[0], 'a setMany key');
        checkWellFormed(pair[1], 'a setMany value');
        flat.push(pair[0], pair[1]);
      }
      const ttl = ttlOf(options);
      const n = this._n;
      return call((id) => n.setMany(id, flat, ttl));
    });
  }

  /** Deletes keys of any type; resolves how many existed. */
  delete(keys) {
    return rejecting(() => {
      const list = keysOf(keys);
      const n = this._n;
      return call((id) => n.delete(id, list));
    });
  }

  /** The integer under `key`, or null. */
  getInt(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.getInt(id, key));
    });
  }

  /** Writes an integer. */
  setInt(key, value, options) {
    return rejecting(() => {
      checkString(key, 'key');
      const v = intOf(value, 'value');
      const ttl = ttlOf(options);
      const n = this._n;
      return call((id) => n.setInt(id, key, v, ttl));
    });
  }

  /** Adds `by` (default 1) to an integer (missing counts as 0); resolves the new value. */
  incr(key, by = 1, options) {
    return rejecting(() => {
      checkString(key, 'key');
      const delta = intOf(by, 'by');
      const ttl = ttlOf(options);
      const n = this._n;
      return call((id) => n.incr(id, key, delta, ttl));
    });
  }

  /** Subtracts `by` (default 1); resolves the new value. */
  decr(key, by = 1, options) {
    return rejecting(() => this.incr(key, -intOf(by, 'by'), options));
  }

  /** The float under `key`, or null. */
  getFloat(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.getFloat(id, key));
    });
  }

  /** Writes a float. */
  setFloat(key, value, options) {
    return rejecting(() => {
      checkString(key, 'key');
      checkNumber(value, 'value');
      const ttl = ttlOf(options);
      const n = this._n;
      return call((id) => n.setFloat(id, key, value, ttl));
    });
  }

  /** Adds `by` to a float (missing counts as 0); resolves the new value. */
  incrFloat(key, by, options) {
    return rejecting(() => {
      checkString(key, 'key');
      checkNumber(by, 'by');
      const ttl = ttlOf(options);
      const n = this._n;
      return call((id) => n.incrFloat(id, key, by, ttl));
    });
  }

  _push(key, values, front, options) {
    return rejecting(() => {
      checkString(key, 'key');
      const list = stringsOf(values, 'values');
      const ttl = ttlOf(options);
      const n = this._n;
      return call((id) => n.push(id, key, list, front, ttl));
    });
  }

  /** Appends at the tail; resolves the new length. */
  pushBack(key, values, options) {
    return this._push(key, values, false, options);
  }

  /** Prepends at the head (like LPUSH: the last value ends up first); resolves the new length. */
  pushFront(key, values, options) {
    return this._push(key, values, true, options);
  }

  _pop(key, front) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.pop(id, key, front));
    });
  }

  /** Removes and returns the head, or null. */
  popFront(key) {
    return this._pop(key, true);
  }

  /** Removes and returns the tail, or null. */
  popBack(key) {
    return this._pop(key, false);
  }

  /** Items `start..=stop` (negative counts from the end; default the whole list). */
  listRange(key, start = 0, stop = -1) {
    return rejecting(() => {
      checkString(key, 'key');
      const from = checkNumber(start, 'start', { integer: true });
      const to = checkNumber(stop, 'stop', { integer: true });
      const n = this._n;
      return call((id) => n.listRange(id, key, from, to));
    });
  }

  /** The list's length (0 when missing). */
  listLen(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.listLen(id, key));
    });
  }

  /** Adds members; resolves how many were new. */
  setAdd(key, members, options) {
    return rejecting(() => {
      checkString(key, 'key');
      const list = stringsOf(members, 'members');
      const ttl = ttlOf(options);
      const n = this._n;
      return call((id) => n.setAdd(id, key, list, ttl));
    });
  }

  /** Removes members; resolves how many were present. */
  setRemove(key, members) {
    return rejecting(() => {
      checkString(key, 'key');
      const list = stringsOf(members, 'members');
      const n = this._n;
      return call((id) => n.setRemove(id, key, list));
    });
  }

  /** All members, in no particular order. */
  setMembers(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.setMembers(id, key));
    });
  }

  /** Whether `member` is in the set. */
  setContains(key, member) {
    return rejecting(() => {
      checkString(key, 'key');
      checkString(member, 'member');
      const n = this._n;
      return call((id) => n.setContains(id, key, member));
    });
  }

  /** The set's size (0 when missing). */
  setLen(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.setLen(id, key));
    });
  }

  /** `{ state: "missing" | "persistent" }` or `{ state: "expires", ms }`. */
  ttl(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.ttl(id, key), ttlState);
    });
  }

  /** Makes an existing key expire `ms` from now; resolves whether it exists. */
  expire(key, ms) {
    return rejecting(() => {
      checkString(key, 'key');
      checkNumber(ms, 'ms', { min: Number.MIN_VALUE });
      const n = this._n;
      return call((id) => n.expire(id, key, ms));
    });
  }

  /** Removes any expiry from an existing key; resolves whether it exists. */
  persist(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.persist(id, key));
    });
  }
}

module.exports = { Cache };
