'use strict';

// The object-store conformance scenarios through the binding, on the embedded
// (filesystem) provider.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Readable } = require('node:stream');
const { Infra } = require('..');
const { enterTempDir, within, rejectsWith, throwsWith } = require('./support/helpers');

let infra;
let bucket;

before(async () => {
  enterTempDir('objects');
  infra = await Infra.load();
  bucket = infra.bucket('uploads');
});

after(async () => {
  await within(10_000, infra.close(), 'infra.close()');
});

async function collect(iterable) {
  const out = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

test('an upload round-trips with its content type and metadata', async () => {
  const body = crypto.randomBytes(4096);
  const meta = await bucket.upload('round/trip.bin', body, {
    contentType: 'application/octet-stream',
    metadata: { owner: 'ada', purpose: 'test' },
  });
  assert.equal(meta.key, 'round/trip.bin');
  assert.equal(meta.size, body.length);
  assert.equal(typeof meta.etag, 'string');
  assert.ok(meta.etag.length > 0);
  assert.ok(meta.lastModified instanceof Date);

  const back = await bucket.download('round/trip.bin');
  assert.ok(Buffer.isBuffer(back));
  assert.ok(back.equals(body), 'downloaded bytes equal the uploaded ones');

  const attrs = await bucket.attrs('round/trip.bin');
  assert.equal(attrs.contentType, 'application/octet-stream');
  assert.deepEqual(attrs.metadata, { owner: 'ada', purpose: 'test' });
  assert.equal(attrs.etag, meta.etag);
  assert.equal(await bucket.exists('round/trip.bin'), true);
});

test('strings upload as UTF-8 and ranges read the asked bytes', async () => {
  await bucket.upload('range.txt', '0123456789');
  assert.equal((await bucket.download('range.txt', { start: 2, end: 5 })).toString(), '234');
  assert.equal((await bucket.download('range.txt', { start: 7 })).toString(), '789');
  assert.equal((await bucket.download('range.txt', { start: 8, end: 100 })).toString(), '89', 'end is clamped');
  await rejectsWith('InvalidArgument', bucket.download('range.txt', { start: 10 }), 'a start past the end');
  await rejectsWith('InvalidArgument', bucket.download('range.txt', { start: 5, end: 5 }), 'an empty range');
});

test('a Readable uploads as a stream and downloads as one', async () => {
  const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(16 * 1024, i));
  const meta = await bucket.upload('stream/big.bin', Readable.from(chunks), { contentType: 'application/x-test' });
  const total = chunks.reduce((n, c) => n + c.length, 0);
  assert.equal(meta.size, total);

  const received = [];
  for await (const chunk of bucket.downloadStream('stream/big.bin')) received.push(chunk);
  assert.ok(Buffer.concat(received).equals(Buffer.concat(chunks)), 'streamed bytes equal the uploaded ones');

  const part = [];
  for await (const chunk of bucket.downloadStream('stream/big.bin', { start: 16 * 1024, end: 16 * 1024 + 10 })) {
    part.push(chunk);
  }
  assert.ok(Buffer.concat(part).equals(Buffer.alloc(10, 1)), 'a streamed range');
});

test('a failing upload stream stores nothing and rejects with its error', async () => {
  async function* failing() {
    yield Buffer.from('partial data');
    throw new Error('source broke');
  }
  await assert.rejects(bucket.upload('stream/failed.bin', failing()), /source broke/);
  assert.equal(await bucket.exists('stream/failed.bin'), false, 'no partial object is visible');
});

test('listing follows prefixes and groups by delimiter, in key order', async () => {
  const keys = ['list/a.txt', 'list/b/1.txt', 'list/b/2.txt', 'list/c.txt', 'other/x.txt'];
  for (const key of keys) await bucket.upload(key, key);
  const all = await collect(bucket.list({ prefix: 'list/' }));
  assert.deepEqual(all.map((e) => e.key), ['list/a.txt', 'list/b/1.txt', 'list/b/2.txt', 'list/c.txt']);
  assert.ok(all.every((e) => e.kind === 'object' && e.size === e.key.length));

  const grouped = await collect(bucket.list({ prefix: 'list/', delimiter: '/' }));
  assert.deepEqual(
    grouped.map((e) => [e.kind, e.key]),
    [['object', 'list/a.txt'], ['prefix', 'list/b/'], ['object', 'list/c.txt']],
  );

  const paged = await collect(bucket.list({ prefix: 'list/', pageSize: 1 }));
  assert.equal(paged.length, 4, 'small pages are followed to the end');
});

test('listing many objects returns every one exactly once', async () => {
  const count = 600;
  await Promise.all(Array.from({ length: count }, (_, i) => bucket.upload(`many/${String(i).padStart(4, '0')}`, 'x')));
  const listed = await collect(bucket.list({ prefix: 'many/' }));
  assert.equal(listed.length, count);
  assert.equal(new Set(listed.map((e) => e.key)).size, count);
});

test('missing objects are NotFound; delete is idempotent', async () => {
  await rejectsWith('NotFound', bucket.download('missing/nothing'), 'download');
  await rejectsWith('NotFound', bucket.attrs('missing/nothing'), 'attrs');
  await rejectsWith('NotFound', bucket.copy('missing/nothing', 'missing/copy'), 'copy from a missing source');
  assert.equal(await bucket.exists('missing/nothing'), false);
  await bucket.delete('missing/nothing');
  await bucket.upload('gone.txt', 'bye');
  await bucket.delete('gone.txt');
  assert.equal(await bucket.exists('gone.txt'), false);
  const stream = bucket.downloadStream('missing/nothing');
  await rejectsWith('NotFound', collect(stream), 'a streamed download');
});

test('preconditions: ifNotExists and ifMatch', async () => {
  const first = await bucket.upload('pre/doc.txt', 'v1', { ifNotExists: true });
  await rejectsWith('PreconditionFailed', bucket.upload('pre/doc.txt', 'v2', { ifNotExists: true }), 'ifNotExists on an existing key');
  const second = await bucket.upload('pre/doc.txt', 'v2', { ifMatch: first.etag });
  assert.notEqual(second.etag, first.etag);
  await rejectsWith('PreconditionFailed', bucket.upload('pre/doc.txt', 'v3', { ifMatch: first.etag }), 'ifMatch with a stale etag');
  assert.equal((await bucket.download('pre/doc.txt')).toString(), 'v2');
});

test('copy duplicates content and metadata', async () => {
  await bucket.upload('copy/src.txt', 'copied', { contentType: 'text/plain', metadata: { m: '1' } });
  const copy = await bucket.copy('copy/src.txt', 'copy/dst.txt');
  assert.equal(copy.key, 'copy/dst.txt');
  assert.equal((await bucket.download('copy/dst.txt')).toString(), 'copied');
  assert.deepEqual((await bucket.attrs('copy/dst.txt')).metadata, { m: '1' });
  await rejectsWith('PreconditionFailed', bucket.copy('copy/src.txt', 'copy/dst.txt', { ifNotExists: true }), 'copy onto an existing key');
});

test('invalid keys are InvalidArgument', async () => {
  await rejectsWith('InvalidArgument', bucket.upload('../escape', 'x'), 'a ../ key');
  await rejectsWith('InvalidArgument', bucket.upload('', 'x'), 'an empty key');
});

test('URLs: the filesystem provider has public URLs but no signed ones', async () => {
  const caps = bucket.capabilities();
  assert.equal(caps.signedUrls, false, 'the capability says so before any call');
  assert.equal(caps.publicUrls, true);
  assert.ok(Object.isFrozen(caps));
  assert.equal(bucket.capabilities(), caps, 'asked once');
  const url = bucket.publicUrl('img/cat.png');
  assert.equal(typeof url, 'string');
  assert.match(url, /img\/cat\.png/);
  await rejectsWith('Unsupported', bucket.signedUrl('img/cat.png', { method: 'GET', expiresInSeconds: 60 }), 'signedUrl');
  await rejectsWith('InvalidArgument', bucket.signedUrl('img/cat.png', { method: 'POST' }), 'an unknown method');
  throwsWith('InvalidArgument', () => bucket.publicUrl(42), 'publicUrl(42)');
});

test('typed-array views upload exactly their own bytes, whole and streamed (no copy on the JS thread)', async () => {
  const backing = crypto.randomBytes(10_000);
  // A plain Uint8Array over the middle of a larger ArrayBuffer: offset and length matter.
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 1000, 5000);
  await bucket.upload('views/whole.bin', view);
  assert.deepEqual(await bucket.download('views/whole.bin'), Buffer.from(backing.subarray(1000, 6000)));

  const chunks = [view.subarray(0, 100), backing.subarray(6000, 7000), new Uint8Array(0), 'tail'];
  await bucket.upload('views/streamed.bin', Readable.from(chunks));
  const expected = Buffer.concat([backing.subarray(1000, 1100), backing.subarray(6000, 7000), Buffer.from('tail')]);
  assert.deepEqual(await bucket.download('views/streamed.bin'), expected);
});
