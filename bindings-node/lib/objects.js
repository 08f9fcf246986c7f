'use strict';

const { Readable } = require('node:stream');
const { call, sync, rejecting } = require('./native');
const {
  StrataError,
  invalid,
  typeOf,
  checkWellFormed,
  checkString,
  checkOptString,
  checkOptions,
  checkNumber,
  checkOptBool,
  checkStringMap,
} = require('./errors');

/** Entries fetched per native call while listing. */
const LIST_BATCH = 256;

/** `[key, size, etag, contentType, lastModifiedMs, [k, v, …]]` → ObjectAttrs. */
function attrsOf(raw) {
  const flat = raw[5];
  const metadata = {};
  for (let i = 0; i < flat.length; i += 2) metadata[flat[i]] = flat[i + 1];
  return {
    key: raw[0],
    size: raw[1],
    etag: raw[2],
    contentType: raw[3] === null ? undefined : raw[3],
    lastModified: new Date(raw[4]),
    metadata,
  };
}

function putOptions(options) {
  const opts = checkOptions(options, 'upload options');
  checkOptString(opts.contentType, 'contentType');
  checkStringMap(opts.metadata, 'metadata');
  checkOptBool(opts.ifNotExists, 'ifNotExists');
  checkOptString(opts.ifMatch, 'ifMatch');
  if (opts.ifNotExists && opts.ifMatch != null) throw invalid('ifNotExists and ifMatch cannot both be set');
  return {
    contentType: opts.contentType ?? undefined,
    metadata: opts.metadata ?? undefined,
    ifNotExists: opts.ifNotExists ?? undefined,
    ifMatch: opts.ifMatch ?? undefined,
  };
}

/** `{ start, end }` → `[start, end]` for the native calls (both undefined for the whole object). */
function rangeOf(options) {
  const opts = checkOptions(options, 'download options');
  const start = checkNumber(opts.start, 'start', { optional: true, integer: true, min: 0 });
  const end = checkNumber(opts.end, 'end', { optional: true, integer: true, min: 0 });
  if (start === undefined && end !== undefined) return [0, end];
  return [start, end];
}

function isStream(body) {
  return body !== null && typeof body === 'object' &&
    (typeof body.pipe === 'function' || typeof body[Symbol.asyncIterator] === 'function');
}

/**
 * A Buffer view of `bytes` (no copy). Uploads hand Buffers to the native side
 * without copying them, so a Buffer must not change until its upload settles.
 */
function asBuffer(bytes) {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A bucket of objects. */
class Bucket {
  constructor(native, name) {
    this._n = native;
    /** The bucket's logical name. */
    this.name = name;
  }

  /**
   * Stores `body` under `key`. A Readable (or any async iterable of chunks)
   * is streamed; if it fails, nothing is stored and the promise rejects.
   */
  upload(key, body, options) {
    return rejecting(() => {
      checkString(key, 'key');
      const opts = putOptions(options);
      if (typeof body === 'string') {
        checkWellFormed(body, 'an upload body');
        body = Buffer.from(body);
      }
      if (body instanceof Uint8Array) {
        const bytes = asBuffer(body);
        const n = this._n;
        return call((id) => n.upload(id, key, bytes, opts), attrsOf);
      }
      if (isStream(body)) return this._uploadStream(key, body, opts);
      throw invalid(`an upload body must be a Buffer, a string or a Readable, got ${typeOf(body)}`);
    });
  }

  async _uploadStream(key, body, opts) {
    const upload = sync(() => this._n.startUpload(key, opts));
    try {
      for await (const chunk of body) {
        let bytes = chunk;
        if (typeof chunk === 'string') {
          checkWellFormed(chunk, 'an upload stream chunk');
          bytes = Buffer.from(chunk);
        }
        if (!(bytes instanceof Uint8Array)) {
          throw invalid(`an upload stream must yield Buffers or strings, got ${typeOf(chunk)}`);
        }
        if (bytes.length > 0) {
          const buffer = asBuffer(bytes);
          await call((id) => upload.write(id, buffer));
        }
      }
    } catch (err) {
      upload.abort(err instanceof Error ? err.message : String(err));
      // The native upload fails too; its answer adds nothing to `err`.
      await call((id) => upload.finish(id)).catch(() => {});
      throw err;
    }
    return call((id) => upload.finish(id), attrsOf);
  }

  /** Downloads the object, or `{ start, end }` (end exclusive), into a Buffer. */
  download(key, options) {
    return rejecting(() => {
      checkString(key, 'key');
      const [start, end] = rangeOf(options);
      const n = this._n;
      return call((id) => n.download(id, key, start, end));
    });
  }

  /** Streams the object (or a range) as a Readable; errors (NotFound, …) are emitted. */
  downloadStream(key, options) {
    checkString(key, 'key');
    const [start, end] = rangeOf(options);
    const bucket = this._n;
    let download;
    return new Readable({
      construct(callback) {
        call((id) => bucket.openDownload(id, key, start, end)).then(
          ([handle]) => {
            download = handle;
            callback();
          },
          (err) => callback(err),
        );
      },
      read() {
        call((id) => download.read(id)).then(
          (chunk) => this.push(chunk),
          (err) => this.destroy(err),
        );
      },
      destroy(err, callback) {
        if (download !== undefined) download.cancel();
        callback(err);
      },
    });
  }

  /** The object's attributes; NotFound when missing. */
  attrs(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.attrs(id, key), attrsOf);
    });
  }

  /** Whether an object exists under `key`. */
  exists(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.exists(id, key));
    });
  }

  /** Deletes the object; deleting a missing one succeeds. */
  delete(key) {
    return rejecting(() => {
      checkString(key, 'key');
      const n = this._n;
      return call((id) => n.delete(id, key));
    });
  }

  /** Copies `from` to `to` within the bucket; the precondition applies to `to`. */
  copy(from, to, options) {
    return rejecting(() => {
      checkString(from, 'from');
      checkString(to, 'to');
      const opts = checkOptions(options, 'copy options');
      checkOptBool(opts.ifNotExists, 'ifNotExists');
      checkOptString(opts.ifMatch, 'ifMatch');
      const n = this._n;
      return call((id) => n.copy(id, from, to, opts.ifNotExists ?? undefined, opts.ifMatch ?? undefined), attrsOf);
    });
  }

  /** Every object (and, with a delimiter, every common prefix) in key order. */
  list(options) {
    const opts = checkOptions(options, 'list options');
    checkOptString(opts.prefix, 'prefix');
    checkOptString(opts.delimiter, 'delimiter');
    const pageSize = checkNumber(opts.pageSize, 'pageSize', { optional: true, integer: true, min: 1 });
    const bucket = this._n;
    return {
      [Symbol.asyncIterator]: async function* entries() {
        const listing = sync(() => bucket.list(opts.prefix ?? undefined, opts.delimiter ?? undefined, pageSize));
        for (;;) {
          const batch = await call((id) => listing.next(id, LIST_BATCH));
          if (batch.length === 0) return;
          for (const [kind, value] of batch) {
            yield kind === 0 ? { kind: 'object', ...attrsOf(value) } : { kind: 'prefix', key: value };
          }
        }
      },
    };
  }

  /** A URL that lets its holder download (`GET`) or upload (`PUT`) `key` until it expires. */
  signedUrl(key, options) {
    return rejecting(() => {
      checkString(key, 'key');
      const opts = checkOptions(options, 'signed URL options');
      const method = opts.method ?? 'GET';
      if (method !== 'GET' && method !== 'PUT') throw invalid(`method must be "GET" or "PUT", got ${String(method)}`);
      const ttl = checkNumber(opts.expiresInSeconds ?? 3600, 'expiresInSeconds', { min: 1 });
      checkOptString(opts.contentType, 'contentType');
      const n = this._n;
      return call((id) => n.signedUrl(id, key, method === 'PUT', ttl, opts.contentType ?? undefined));
    });
  }

  /**
   * What the bucket's provider can do, e.g. `capabilities().signedUrls`:
   * ask before calling what a provider may lack (`Unsupported` otherwise).
   */
  capabilities() {
    if (this._caps === undefined) {
      const raw = sync(() => this._n.capabilities());
      this._caps = Object.freeze({
        conditionalPut: raw.conditionalPut,
        rangeReads: raw.rangeReads,
        signedUrls: raw.signedUrls,
        publicUrls: raw.publicUrls,
        maxObjectBytes: raw.maxObjectBytes ?? undefined,
      });
    }
    return this._caps;
  }

  /** The object's public URL (Unsupported where the provider has none). */
  publicUrl(key) {
    checkString(key, 'key');
    return sync(() => this._n.publicUrl(key));
  }
}

module.exports = { Bucket, StrataError };
