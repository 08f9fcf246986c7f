/// <reference types="node" />
// @strata/runtime: portable pub/sub, object storage, cache and SQL for Node.js.

import type { Readable } from 'node:stream';

/** The stable error codes (the Rust core's `ErrorCode` strings). */
export type ErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'PreconditionFailed'
  | 'InvalidArgument'
  | 'Unavailable'
  | 'PermissionDenied'
  | 'ResourceExhausted'
  | 'Unsupported'
  | 'Timeout'
  | 'Closed'
  | 'InvalidConfig'
  | 'Conflict'
  | 'Internal';

/** Every code `StrataError.code` can take. */
export declare const ERROR_CODES: readonly ErrorCode[];

/**
 * Every failure of a Strata call. Wrong argument types are `InvalidArgument`
 * (thrown by synchronous methods, a rejection of asynchronous ones), and so
 * are strings that are not well-formed Unicode (a lone surrogate, `'\uD800'`)
 * and SQL text holding a NUL byte; calls after `Infra.close()` are `Closed`.
 */
export declare class StrataError extends Error {
  constructor(code: ErrorCode, message: string, cause?: unknown);
  readonly name: 'StrataError';
  /** The portable classification of the failure. */
  readonly code: ErrorCode;
  /** Whether retrying the same call later may succeed (`Unavailable`, `Timeout`). */
  readonly retryable: boolean;
}

/** A JSON-encodable value (what a topic's typed payload must be). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** How a message is published. */
export interface PublishOptions {
  /**
   * String attributes carried with the message: any name and value, on every
   * provider. On SNS/SQS, names SNS refuses (anything but letters, digits,
   * `_`, `-`, `.`; `AWS.`/`Amazon.` prefixes; `strata`) and values SQS
   * refuses travel inside the reserved `strata` attribute's JSON (field `a`);
   * other clients see the rest as ordinary message attributes.
   */
  attributes?: Record<string, string>;
  /** Messages with the same key are delivered in order where the provider supports it. */
  orderingKey?: string;
}

/** A topic to publish to. `T` is the type of its JSON payloads. */
export declare class Topic<T = unknown> {
  private constructor();
  /** The topic's logical name. */
  readonly name: string;
  /**
   * Publishes one message and resolves with the id the provider assigned.
   * Values are JSON-encoded (content type `application/json`), strings are
   * sent as UTF-8 text, Buffers as they are. Publishes are batched.
   */
  publish(payload: T | Buffer | Uint8Array | string, options?: PublishOptions): Promise<string>;
}

/** A delivered message. */
export declare class Message<T = unknown> {
  private constructor();
  /** The id the provider assigned at publish. */
  readonly id: string;
  /** The payload bytes. */
  readonly data: Buffer;
  /** The attributes it was published with. */
  readonly attributes: Record<string, string>;
  /** The ordering key it was published with, if any. */
  readonly orderingKey: string | undefined;
  /** When the provider accepted it. */
  readonly publishTime: Date;
  /** 1 on first delivery, 2 on the first redelivery, and so on. */
  readonly deliveryAttempt: number;
  /** `application/json`, `text/plain; charset=utf-8`, or undefined for raw bytes. */
  readonly contentType: string | undefined;
  /** The payload parsed as JSON. Throws on invalid JSON (which retries the message). */
  json(): T;
  /** The payload as UTF-8 text. */
  text(): string;
}

/**
 * A message handler: returning (or resolving) acks; throwing or rejecting
 * retries. After `maxAttempts` failures the message is published to the
 * dead-letter topic with a new id, its payload, attributes and ordering key,
 * and three attributes more: `strata.dead_letter.reason` (the error's
 * `name: message`, never its stack), `strata.dead_letter.subscription` and
 * `strata.original_message_id`. The same on every provider, unless the infra
 * config sets `"dead_letter_mode": "native"` (see the README).
 */
export type Handler<T = unknown> = (message: Message<T>) => void | Promise<void>;

/** How a subscription runs. The infra config, where it sets a knob, wins. */
export interface SubscribeOptions {
  /** Handlers running at once (default 32). */
  maxConcurrency?: number;
  /** First retry delay in milliseconds (default 1000). */
  minBackoffMs?: number;
  /** Longest retry delay in milliseconds (default 60000). */
  maxBackoffMs?: number;
  /** Deliveries before a failing message is dead-lettered; needs `deadLetterTopic`. */
  maxAttempts?: number;
  /** Logical name of the topic that receives dead-lettered messages; needs `maxAttempts`. */
  deadLetterTopic?: string;
  /**
   * A handler running longer than this fails and its message is retried
   * (default 10 minutes). The lease is extended while it runs.
   */
  handlerTimeoutMs?: number;
}

/** What is known about a stored object. */
export interface ObjectAttrs {
  key: string;
  /** Size in bytes. */
  size: number;
  /** Opaque version tag; use it with `ifMatch`. */
  etag: string;
  contentType: string | undefined;
  lastModified: Date;
  /**
   * User metadata given at upload, returned as stored on every provider (on
   * S3, values with non-ASCII text travel as RFC 2047 encoded-words, which
   * other S3 clients see as such; an ASCII value with control characters or
   * surrounding spaces is `InvalidArgument` there, as S3 would change it).
   */
  metadata: Record<string, string>;
}

/** One entry of a listing: an object, or (with a delimiter) a common prefix. */
export type ListEntry = ({ kind: 'object' } & ObjectAttrs) | { kind: 'prefix'; key: string };

/** How an object is uploaded. */
export interface UploadOptions {
  contentType?: string;
  metadata?: Record<string, string>;
  /** Fail with `PreconditionFailed` if an object already has the key. */
  ifNotExists?: boolean;
  /** Fail with `PreconditionFailed` unless the current object's etag is this. */
  ifMatch?: string;
}

/** A byte range: `start` inclusive, `end` exclusive (default: to the end). */
export interface RangeOptions {
  start?: number;
  end?: number;
}

/** How a bucket is listed. */
export interface ListOptions {
  /** Only keys starting with this. */
  prefix?: string;
  /** Group keys by the part after the prefix up to this (usually `/`). */
  delimiter?: string;
  /** Entries fetched per provider request. */
  pageSize?: number;
}

/** A signed URL request. */
export interface SignedUrlOptions {
  /** `GET` to download (default), `PUT` to upload. */
  method?: 'GET' | 'PUT';
  /** How long the URL works (default 3600, at most 7 days). */
  expiresInSeconds?: number;
  /** For uploads: the content type the uploader must send. */
  contentType?: string;
}

/** What a bucket's provider can do (`bucket.capabilities()`). */
export interface BucketCapabilities {
  /** `ifNotExists` and `ifMatch` are atomic. */
  readonly conditionalPut: boolean;
  /** Range downloads read only the range. */
  readonly rangeReads: boolean;
  /**
   * `signedUrl` works. AWS: credentials that can sign (any but anonymous).
   * GCP: a service-account key, or `providers.gcp.signing_service_account`
   * (IAM signBlob), or Application Default Credentials on Google Cloud.
   * Memory and filesystem: never.
   */
  readonly signedUrls: boolean;
  /** `publicUrl` works. */
  readonly publicUrls: boolean;
  /** The largest object accepted, if bounded. */
  readonly maxObjectBytes?: number;
}

/** An upload body: bytes, text, or a stream of chunks. */
export type UploadBody = Buffer | Uint8Array | string | Readable | AsyncIterable<Uint8Array | string>;

/** A bucket of objects. */
export declare class Bucket {
  private constructor();
  /** The bucket's logical name. */
  readonly name: string;
  /**
   * Stores `body` under `key`; a failed stream stores nothing. Buffers are sent
   * without copying: do not modify one until the upload settles.
   */
  upload(key: string, body: UploadBody, options?: UploadOptions): Promise<ObjectAttrs>;
  /** Downloads the object (or a range) into a Buffer; `NotFound` when missing. */
  download(key: string, range?: RangeOptions): Promise<Buffer>;
  /** Streams the object (or a range); errors such as `NotFound` are emitted. */
  downloadStream(key: string, range?: RangeOptions): Readable;
  /** The object's attributes; `NotFound` when missing. */
  attrs(key: string): Promise<ObjectAttrs>;
  exists(key: string): Promise<boolean>;
  /** Deletes the object; deleting a missing one succeeds. */
  delete(key: string): Promise<void>;
  /** Copies within the bucket; the precondition applies to `to`. */
  copy(from: string, to: string, options?: Pick<UploadOptions, 'ifNotExists' | 'ifMatch'>): Promise<ObjectAttrs>;
  /** Every entry in key order, fetched page by page. */
  list(options?: ListOptions): AsyncIterable<ListEntry>;
  /** What the provider can do; ask before calling what it may lack. */
  capabilities(): BucketCapabilities;
  /**
   * A URL that lets its holder download or upload `key` until it expires.
   * Rejects with `Unsupported` where `capabilities().signedUrls` is false:
   * on memory and filesystem buckets, on AWS with anonymous credentials,
   * and on GCP without a service-account key, `signing_service_account` or
   * Application Default Credentials on Google Cloud.
   */
  signedUrl(key: string, options?: SignedUrlOptions): Promise<string>;
  /** The object's public URL; `Unsupported` where the provider has none. */
  publicUrl(key: string): string;
}

/** The TTL of a write: milliseconds, keep the key's TTL, or never expire. */
export interface CacheWriteOptions {
  ttl?: number | 'keep' | 'persist';
}

/** The TTL state of a key. */
export type KeyTtl = { state: 'missing' } | { state: 'persistent' } | { state: 'expires'; ms: number };

/** An integer argument: a safe integer, or a bigint within ±2^53. */
export type Int = number | bigint;

/** A cache keyspace. A miss is `null` (or 0, or empty), never an error. */
export declare class Cache {
  private constructor();
  /** The keyspace's logical name. */
  readonly name: string;
  get(key: string): Promise<string | null>;
  getBytes(key: string): Promise<Buffer | null>;
  set(key: string, value: string | Buffer | Uint8Array, options?: CacheWriteOptions): Promise<void>;
  /** Resolves whether it wrote (the key was absent). */
  setIfAbsent(key: string, value: string | Buffer | Uint8Array, options?: CacheWriteOptions): Promise<boolean>;
  /** Resolves whether it wrote (the key existed). */
  replace(key: string, value: string | Buffer | Uint8Array, options?: CacheWriteOptions): Promise<boolean>;
  getMany(keys: string | readonly string[]): Promise<Array<string | null>>;
  setMany(
    entries: Record<string, string> | Map<string, string> | ReadonlyArray<readonly [string, string]>,
    options?: CacheWriteOptions,
  ): Promise<void>;
  /** Resolves how many of the keys existed. */
  delete(keys: string | readonly string[]): Promise<number>;
  /** Integers beyond ±2^53 come back as bigint. */
  getInt(key: string): Promise<number | bigint | null>;
  setInt(key: string, value: Int, options?: CacheWriteOptions): Promise<void>;
  /** Adds `by` (default 1); a missing key counts as 0. Resolves the new value. */
  incr(key: string, by?: Int, options?: CacheWriteOptions): Promise<number | bigint>;
  decr(key: string, by?: Int, options?: CacheWriteOptions): Promise<number | bigint>;
  getFloat(key: string): Promise<number | null>;
  setFloat(key: string, value: number, options?: CacheWriteOptions): Promise<void>;
  incrFloat(key: string, by: number, options?: CacheWriteOptions): Promise<number>;
  /** Resolves the new length. */
  pushBack(key: string, values: string | readonly string[], options?: CacheWriteOptions): Promise<number>;
  /** Like LPUSH: the last value ends up first. Resolves the new length. */
  pushFront(key: string, values: string | readonly string[], options?: CacheWriteOptions): Promise<number>;
  popFront(key: string): Promise<string | null>;
  popBack(key: string): Promise<string | null>;
  /** Items `start..=stop`; negative indexes count from the end (default: all). */
  listRange(key: string, start?: number, stop?: number): Promise<string[]>;
  listLen(key: string): Promise<number>;
  /** Resolves how many members were new. */
  setAdd(key: string, members: string | readonly string[], options?: CacheWriteOptions): Promise<number>;
  /** Resolves how many members were present. */
  setRemove(key: string, members: string | readonly string[]): Promise<number>;
  setMembers(key: string): Promise<string[]>;
  setContains(key: string, member: string): Promise<boolean>;
  setLen(key: string): Promise<number>;
  ttl(key: string): Promise<KeyTtl>;
  /** Resolves whether the key exists. */
  expire(key: string, ms: number): Promise<boolean>;
  /** Resolves whether the key exists. */
  persist(key: string): Promise<boolean>;
}

/**
 * A SQL parameter. Numbers bind as integers when they are integers, else as
 * floats; bigints as integers; Buffers as bytes; Dates as timestamps; arrays
 * as arrays; other objects as JSON documents.
 */
export type SqlParam =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | Uint8Array
  | Date
  | readonly SqlParam[]
  | { [key: string]: unknown };

/**
 * A result row: one property per column. Integers beyond ±2^53 are bigints,
 * blobs Buffers, timestamps Dates, JSON columns parsed values.
 */
export type Row = Record<string, unknown>;

/** Statements with `$1, $2, …` placeholders; values are always bound. */
export interface Queryable {
  query<R extends object = Row>(sql: string, params?: readonly SqlParam[]): Promise<R[]>;
  queryOne<R extends object = Row>(sql: string, params?: readonly SqlParam[]): Promise<R | undefined>;
  /** Resolves the number of rows affected. */
  execute(sql: string, params?: readonly SqlParam[]): Promise<number>;
}

/** An open transaction, handed to `Database.transaction`'s callback. */
export declare class Transaction implements Queryable {
  private constructor();
  query<R extends object = Row>(sql: string, params?: readonly SqlParam[]): Promise<R[]>;
  queryOne<R extends object = Row>(sql: string, params?: readonly SqlParam[]): Promise<R | undefined>;
  execute(sql: string, params?: readonly SqlParam[]): Promise<number>;
}

/** What `migrate` did. */
export interface MigrationReport {
  /** Files applied by this run, in order. */
  applied: string[];
  /** Files found already applied. */
  alreadyApplied: number;
}

/** A SQL database with a connection pool (opened on first use). */
export declare class Database implements Queryable {
  private constructor();
  /** The database's logical name. */
  readonly name: string;
  query<R extends object = Row>(sql: string, params?: readonly SqlParam[]): Promise<R[]>;
  queryOne<R extends object = Row>(sql: string, params?: readonly SqlParam[]): Promise<R | undefined>;
  execute(sql: string, params?: readonly SqlParam[]): Promise<number>;
  /** Commits when `fn` resolves, rolls back (and rethrows) when it throws or rejects. */
  transaction<R>(fn: (tx: Transaction) => Promise<R>): Promise<R>;
  /** Applies the pending `.sql` files of `dir` in name order, recording each. */
  migrate(dir: string): Promise<MigrationReport>;
}

/** The live providers of one application, built from the infra config. */
export declare class Infra {
  private constructor();
  /**
   * Loads the config at `path`, else `STRATA_CONFIG`, else `./infra.config.json`,
   * else runs on the embedded defaults (memory pub/sub and cache, objects under
   * `.strata/`, SQLite).
   */
  static load(path?: string): Promise<Infra>;
  /** The topic with this logical name. */
  topic<T = unknown>(name: string): Topic<T>;
  /**
   * Runs `handler` for every message until `close()`; throwing or rejecting
   * retries the message. A running subscription keeps the process alive.
   */
  subscribe<T = unknown>(topic: string, subscription: string, handler: Handler<T>, options?: SubscribeOptions): void;
  bucket(name: string): Bucket;
  cache(name: string): Cache;
  database(name: string): Database;
  /** Drains subscriptions, flushes publishes, closes pools; later calls fail with `Closed`. */
  close(): Promise<void>;
}
