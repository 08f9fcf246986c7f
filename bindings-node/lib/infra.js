'use strict';

const { bridge, call, sync, rejecting, hold, release } = require('./native');
const { StrataError, invalid, typeOf, checkString, checkOptString, checkOptions, checkNumber } = require('./errors');
const { Topic, addHandler, removeHandler, flushPublishes } = require('./pubsub');
const { Bucket } = require('./objects');
const { Cache } = require('./cache');
const { Database } = require('./sqldb');

function subscribeOptions(options) {
  const opts = checkOptions(options, 'subscribe options');
  const num = (name, extra) => checkNumber(opts[name], name, { optional: true, ...extra });
  const out = {
    maxConcurrency: num('maxConcurrency', { integer: true, min: 1 }),
    minBackoffMs: num('minBackoffMs', { min: 0 }),
    maxBackoffMs: num('maxBackoffMs', { min: 0 }),
    maxAttempts: num('maxAttempts', { integer: true, min: 1 }),
    deadLetterTopic: opts.deadLetterTopic ?? undefined,
    handlerTimeoutMs: num('handlerTimeoutMs', { min: 1 }),
  };
  checkOptString(out.deadLetterTopic, 'deadLetterTopic');
  return out;
}

/**
 * The live providers of one application, built from the infra config.
 * Handles are cached per name: `infra.topic("orders")` twice is one topic.
 */
class Infra {
  /** @param {any} native */
  constructor(native) {
    this._n = native;
    this._topics = new Map();
    this._buckets = new Map();
    this._caches = new Map();
    this._databases = new Map();
    /** @type {number[]} */
    this._subscriptions = [];
    this._closing = undefined;
  }

  /**
   * Loads the config at `path`, else `STRATA_CONFIG`, else `./infra.config.json`,
   * else runs on the embedded defaults.
   * @param {string} [path]
   * @returns {Promise<Infra>}
   */
  static load(path) {
    return rejecting(() => {
      checkOptString(path, 'path');
      return call((id) => bridge.load(id, path ?? undefined), (native) => new Infra(native));
    });
  }

  _checkOpen() {
    if (this._closing !== undefined) throw new StrataError('Closed', 'this Infra has been closed');
  }

  /** The topic with this logical name. */
  topic(name) {
    checkString(name, 'topic name');
    this._checkOpen();
    let topic = this._topics.get(name);
    if (topic === undefined) {
      topic = new Topic(sync(() => this._n.topic(name)), name);
      this._topics.set(name, topic);
    }
    return topic;
  }

  /**
   * Runs `handler` for every message of `subscription` on `topic` until
   * `close()`. A handler that throws or rejects has its message retried with
   * backoff (and dead-lettered after `maxAttempts` when `deadLetterTopic` is set).
   * A running subscription keeps the process alive.
   */
  subscribe(topic, subscription, handler, options) {
    checkString(topic, 'topic name');
    checkString(subscription, 'subscription name');
    if (typeof handler !== 'function') {
      throw invalid(`subscribe needs a handler function, got ${typeOf(handler)}`);
    }
    // Reading the options runs the caller's code (a getter, a Proxy trap):
    // what it throws is an InvalidArgument here, as in every async method.
    const opts = sync(() => subscribeOptions(options));
    this._checkOpen();
    const id = addHandler(handler);
    try {
      sync(() => this._n.subscribe(topic, subscription, id, opts));
    } catch (err) {
      removeHandler(id);
      throw err;
    }
    this._subscriptions.push(id);
    hold();
  }

  /** The bucket with this logical name. */
  bucket(name) {
    checkString(name, 'bucket name');
    this._checkOpen();
    let bucket = this._buckets.get(name);
    if (bucket === undefined) {
      bucket = new Bucket(sync(() => this._n.bucket(name)), name);
      this._buckets.set(name, bucket);
    }
    return bucket;
  }

  /** The cache keyspace with this logical name. */
  cache(name) {
    checkString(name, 'cache name');
    this._checkOpen();
    let cache = this._caches.get(name);
    if (cache === undefined) {
      cache = new Cache(sync(() => this._n.cache(name)), name);
      this._caches.set(name, cache);
    }
    return cache;
  }

  /** The database with this logical name (opened on first use). */
  database(name) {
    checkString(name, 'database name');
    this._checkOpen();
    let db = this._databases.get(name);
    if (db === undefined) {
      const native = this._n;
      db = new Database(() => call((id) => native.database(id, name)), name);
      this._databases.set(name, db);
    }
    return db;
  }

  /**
   * Stops receiving, waits for in-flight handlers, flushes queued publishes and
   * closes pools. Later calls fail with `Closed`. Calling it again is harmless.
   * @returns {Promise<void>}
   */
  close() {
    if (this._closing === undefined) {
      // Publishes queued this turn go out first; the native close then waits
      // for them to reach their topics, so none is lost.
      flushPublishes();
      const native = this._n;
      this._closing = call((id) => native.close(id)).finally(() => {
        for (const id of this._subscriptions) removeHandler(id);
        release(this._subscriptions.length);
        this._subscriptions = [];
      });
    }
    return this._closing;
  }
}

module.exports = { Infra };
