'use strict';

const { bridge, call, failCall, rejecting, setDeliverer, wire } = require('./native');
const {
  invalid,
  typeOf,
  checkWellFormed,
  checkOptString,
  checkOptions,
  checkStringMap,
  reasonOf,
  fromNative,
} = require('./errors');

/** The attribute that records how a payload was encoded (hidden from `attributes`). */
const CONTENT_TYPE_ATTRIBUTE = wire.contentTypeAttribute;
// Payload kinds of a `publishBatch` row (`Payload` in src/wire.rs).
const KIND_BYTES = wire.payloadBytes;
const KIND_TEXT = wire.payloadText;
const KIND_JSON = wire.payloadJson;

/** Numbers per message in the native delivery table (see src/wire.rs). */
const STRIDE = wire.deliveryStride;
/** Numbers per message in a `publishBatch` table (see src/wire.rs). */
const PUBLISH_STRIDE = wire.publishStride;
/** A topic keeps its publish buffer between turns up to this size. */
const MAX_KEPT_BYTES = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

// Publishes of one event-loop turn, per topic. Each `publish` only validates
// and appends here; at the end of the turn (a microtask) every topic's queue
// goes to the native side in one `publishBatch` call: a table of
// `[callId, kind, dataBytes, attrsBytes, keyBytes]` per message (PUBLISH_STRIDE
// in src/wire.rs) and one buffer holding the payloads, attribute JSON and
// ordering keys in that order. `Infra.close()` flushes first.

/** Topics with queued publishes. @type {Set<Topic>} */
const queuedTopics = new Set();
let publishFlushScheduled = false;

/** Sends every topic's queued publishes to the native side now. */
function flushPublishes() {
  publishFlushScheduled = false;
  for (const topic of queuedTopics) topic._flush();
  queuedTopics.clear();
}

/** A topic to publish to. Payloads: objects (JSON), strings, Buffers. */
class Topic {
  /** @param {any} native */
  constructor(native, name) {
    this._n = native;
    /** The topic's logical name. */
    this.name = name;
    /** Queued this turn: PUBLISH_STRIDE numbers per message. @type {number[]} */
    this._table = [];
    // This turn's bytes, in buffer order: what is written so far (`_buf` up
    // to `_len`), then strings not yet written (`_pending`, `_pendingBytes`
    // of UTF-8), which are joined and written in one go. A byte payload is
    // copied in when `publish` is called, so the caller may change its
    // buffer at once; `publishBatch` copies what it is given before it
    // returns, so the buffer is reused turn after turn.
    /** @type {Buffer | undefined} */
    this._buf = undefined;
    this._len = 0;
    this._pending = '';
    this._pendingBytes = 0;
    /** Bytes the last turn wrote. */
    this._lastTurn = 0;
  }

  /** Makes room for `extra` more bytes after `_len`. */
  _reserve(extra) {
    const need = this._len + extra;
    const buf = this._buf;
    if (buf !== undefined && buf.length >= need) return;
    // A first buffer is as large as the last turn needed, so a turn like
    // the one before it is written once, without regrowing.
    const size = buf === undefined ? Math.max(16 * 1024, this._lastTurn) : buf.length * 2;
    const grown = Buffer.allocUnsafeSlow(Math.max(need, size));
    if (buf !== undefined && this._len > 0) buf.copy(grown, 0, 0, this._len);
    this._buf = grown;
  }

  /** Writes the pending strings. */
  _writePending() {
    if (this._pendingBytes === 0) return;
    this._reserve(this._pendingBytes);
    this._len += this._buf.write(this._pending, this._len);
    this._pending = '';
    this._pendingBytes = 0;
  }

  /** Copies a byte part in; returns its length. */
  _bytesPart(bytes) {
    if (bytes.length > 0) {
      this._writePending();
      this._reserve(bytes.length);
      this._buf.set(bytes, this._len);
      this._len += bytes.length;
    }
    return bytes.length;
  }

  /** Appends a string part; returns its UTF-8 length. */
  _text(text) {
    const len = Buffer.byteLength(text, 'utf8');
    if (len > 0) {
      this._pending += text;
      this._pendingBytes += len;
    }
    return len;
  }

  /** Hands this turn's publishes to the native side. */
  _flush() {
    const table = this._table;
    this._table = [];
    if (table.length === 0) return;
    this._writePending();
    const buf = this._len === 0 ? EMPTY : this._buf.subarray(0, this._len);
    this._lastTurn = this._len;
    this._len = 0;
    // A turn far larger than usual does not keep its memory.
    if (this._buf !== undefined && this._buf.length > MAX_KEPT_BYTES) this._buf = undefined;
    const n = this._n;
    try {
      n.publishBatch(new Float64Array(table), buf);
    } catch (err) {
      // Only a bug gets here (the inputs were validated): fail these publishes
      // rather than leave them pending.
      const error = fromNative(err);
      for (let i = 0; i < table.length; i += PUBLISH_STRIDE) failCall(table[i], error);
    }
  }

  /**
   * Publishes one message; resolves with the id the provider assigned.
   * @param {unknown} payload
   * @param {{ attributes?: Record<string, string>, orderingKey?: string }} [options]
   * @returns {Promise<string>}
   */
  publish(payload, options) {
    return rejecting(() => {
      let text;
      let bytes;
      let kind;
      if (typeof payload === 'string') {
        checkWellFormed(payload, 'a message payload');
        text = payload;
        kind = KIND_TEXT;
      } else if (payload instanceof Uint8Array) {
        // Copied in by `_bytesPart` below, now: the message is what the
        // payload holds when `publish` is called.
        bytes = payload;
        kind = KIND_BYTES;
      } else if (payload === undefined || typeof payload === 'function' || typeof payload === 'symbol') {
        throw invalid(`a message payload must be a JSON value, a string or a Buffer, got ${typeOf(payload)}`);
      } else {
        text = JSON.stringify(payload);
        kind = KIND_JSON;
      }
      let attributes;
      let orderingKey;
      if (options !== undefined) {
        const opts = checkOptions(options, 'publish options');
        attributes = checkStringMap(opts.attributes, 'attributes');
        checkOptString(opts.orderingKey, 'orderingKey');
        orderingKey = opts.orderingKey;
      }
      return call((id) => {
        const table = this._table;
        const dataLen = text !== undefined ? this._text(text) : this._bytesPart(bytes);
        const attrsLen = attributes !== undefined ? this._text(JSON.stringify(attributes)) : 0;
        const keyLen = orderingKey !== undefined ? this._text(orderingKey) : -1;
        table.push(id, kind, dataLen, attrsLen, keyLen);
        if (table.length === 5) queuedTopics.add(this);
        if (!publishFlushScheduled) {
          publishFlushScheduled = true;
          queueMicrotask(flushPublishes);
        }
      });
    });
  }
}

/** A delivered message. Fields are decoded from the shared batch on first use. */
class Message {
  constructor(bytes, meta, i) {
    this._b = bytes;
    this._o = meta[i + 4];
    this._idLen = meta[i + 5];
    this._keyLen = meta[i + 6];
    this._attrsLen = meta[i + 7];
    this._dataLen = meta[i + 8];
    this._pt = meta[i + 3];
    /** 1 on first delivery, 2 on the first redelivery, and so on. */
    this.deliveryAttempt = meta[i + 2];
    this._id = undefined;
    this._attrs = undefined;
    this._data = undefined;
  }

  /** The id the provider assigned at publish. */
  get id() {
    if (this._id === undefined) this._id = this._b.toString('utf8', this._o, this._o + this._idLen);
    return this._id;
  }

  /** The ordering key it was published with, if any. */
  get orderingKey() {
    if (this._keyLen < 0) return undefined;
    const start = this._o + this._idLen;
    return this._b.toString('utf8', start, start + this._keyLen);
  }

  get _attrsStart() {
    return this._o + this._idLen + Math.max(this._keyLen, 0);
  }

  get _dataStart() {
    return this._attrsStart + this._attrsLen;
  }

  /** @returns {Record<string, string>} every attribute, Strata's own included */
  _allAttributes() {
    if (this._attrsLen === 0) return {};
    const start = this._attrsStart;
    return JSON.parse(this._b.toString('utf8', start, start + this._attrsLen));
  }

  /** The attributes it was published with. */
  get attributes() {
    if (this._attrs === undefined) {
      const all = this._allAttributes();
      delete all[CONTENT_TYPE_ATTRIBUTE];
      this._attrs = all;
    }
    return this._attrs;
  }

  /** How the publisher encoded the payload: `application/json`, `text/plain; …`, or undefined for raw bytes. */
  get contentType() {
    if (this._attrsLen === 0) return undefined;
    return this._allAttributes()[CONTENT_TYPE_ATTRIBUTE];
  }

  /** The payload bytes. */
  get data() {
    if (this._data === undefined) {
      const start = this._dataStart;
      this._data = this._b.subarray(start, start + this._dataLen);
    }
    return this._data;
  }

  /** The payload as UTF-8 text. */
  text() {
    const start = this._dataStart;
    return this._b.toString('utf8', start, start + this._dataLen);
  }

  /** The payload parsed as JSON (throws on invalid JSON, which retries the message). */
  json() {
    return JSON.parse(this.text());
  }

  /** When the provider accepted it. */
  get publishTime() {
    return new Date(this._pt);
  }

  toJSON() {
    return {
      id: this.id,
      attributes: this.attributes,
      orderingKey: this.orderingKey,
      publishTime: this.publishTime,
      deliveryAttempt: this.deliveryAttempt,
      data: this.text(),
    };
  }
}

// Subscriptions of this process, by id. A subscription's handler runs for each
// of its deliveries; outcomes are collected and sent back in one native call.
/** @type {Array<((msg: Message) => unknown) | undefined>} */
const handlers = [];
let nextSubscription = 0;
/** @type {number[]} */
let acked = [];
/** @type {number[]} */
let failed = [];
/** @type {string[]} */
let reasons = [];
let flushScheduled = false;

function flush() {
  flushScheduled = false;
  const ok = Float64Array.from(acked);
  const bad = Float64Array.from(failed);
  const why = reasons;
  acked = [];
  failed = [];
  reasons = [];
  bridge.settle(ok, bad, why);
}

function scheduleFlush() {
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

function ack(token) {
  acked.push(token);
  scheduleFlush();
}

function fail(token, err) {
  failed.push(token);
  reasons.push(reasonOf(err));
  scheduleFlush();
}

function deliver(meta, bytes) {
  for (let i = 0; i < meta.length; i += STRIDE) {
    const token = meta[i + 1];
    const handler = handlers[meta[i]];
    if (handler === undefined) {
      fail(token, new Error('the subscription is gone'));
      continue;
    }
    let result;
    try {
      result = handler(new Message(bytes, meta, i));
    } catch (err) {
      fail(token, err);
      continue;
    }
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      result.then(
        () => ack(token),
        (err) => fail(token, err),
      );
    } else {
      ack(token);
    }
  }
}

setDeliverer(deliver);

/** Registers a handler; returns its subscription id. */
function addHandler(handler) {
  const id = nextSubscription++;
  handlers[id] = handler;
  return id;
}

/** Forgets a handler (its deliveries, if any still come, are retried). */
function removeHandler(id) {
  handlers[id] = undefined;
}

module.exports = { Topic, Message, addHandler, removeHandler, flushPublishes, CONTENT_TYPE_ATTRIBUTE };
