// The Strata demo: an upload pipeline that uses all four building blocks.
//
// Files are stored in a bucket and an event per file is published; a subscriber
// reads each file back, caches its size and records it in the database. One file
// fails on its first attempt and is retried. The program ends with an account of
// what happened.
//
// With no config file it runs on the embedded defaults (memory pub/sub, objects
// under .strata/, memory cache, SQLite). Point STRATA_CONFIG at another config
// file to run the same program, unchanged, on other providers.

import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Infra } from '../../bindings-node/index.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const UPLOADS = [
  { key: 'img/cat.png', contentType: 'image/png', size: 2048 },
  { key: 'img/dog.jpg', contentType: 'image/jpeg', size: 4096 },
  { key: 'img/broken.png', contentType: 'image/png', size: 512 },
];
const FLAKY_KEY = 'img/broken.png'; // its first processing attempt fails

const started = process.hrtime.bigint();
const infra = await Infra.load();
const log = (line) => console.log(`  ${line}`);
console.log(
  process.env.STRATA_CONFIG
    ? `Strata demo (Node) with config ${process.env.STRATA_CONFIG}`
    : 'Strata demo (Node) on the embedded defaults (no config file)',
);

const uploads = infra.bucket('uploads');
const sizes = infra.cache('sizes');
const db = infra.database('main');
const migration = await db.migrate(path.join(here, '..', 'migrations'));
log(`database main: ${migration.applied.length} migration(s) applied, ${migration.alreadyApplied} already applied`);

// The subscriber: read the file back, cache its size, record it. Throwing = retry.
const processed = [];
let failures = 0;
let allDone;
const done = new Promise((resolve) => (allDone = resolve));
infra.subscribe(
  'uploads',
  'thumbnailer',
  async (msg) => {
    const { key } = msg.json();
    if (key === FLAKY_KEY && msg.deliveryAttempt === 1) {
      failures += 1;
      log(`✗ ${key}: simulated failure on attempt 1, will be retried`);
      throw new Error('simulated thumbnailer crash');
    }
    const body = await uploads.download(key);
    await sizes.setInt(key, body.length);
    await db.execute(
      `INSERT INTO processed_uploads (upload_key, size_bytes, attempts, processed_at)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (upload_key) DO UPDATE SET size_bytes = $2, attempts = $3, processed_at = $4`,
      [key, body.length, msg.deliveryAttempt, msg.publishTime.toISOString()],
    );
    processed.push({ key, size: body.length, attempt: msg.deliveryAttempt });
    log(`✓ ${key}: ${body.length} B processed on attempt ${msg.deliveryAttempt}`);
    if (processed.length === UPLOADS.length) allDone();
  },
  { maxConcurrency: 4, minBackoffMs: 100, maxBackoffMs: 1000 },
);

// Store each file, then announce it.
const topic = infra.topic('uploads');
for (const { key, contentType, size } of UPLOADS) {
  const attrs = await uploads.upload(key, Buffer.alloc(size, 'x'), { contentType });
  await topic.publish({ key }, { attributes: { kind: 'upload' } });
  log(`↑ stored ${key} (${attrs.size} B, ${attrs.contentType}) and published its event`);
}

const timeout = setTimeout(() => {
  console.error('demo failed: timed out waiting for the subscriber');
  process.exit(1);
}, 10_000);
await done;
clearTimeout(timeout);

const cached = await sizes.getInt('img/cat.png');
const rows = await db.query(
  'SELECT upload_key, size_bytes, attempts FROM processed_uploads ORDER BY upload_key',
);
await infra.close();

const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log('Account:');
log(`uploads stored: ${UPLOADS.length}; events processed: ${processed.length}; failed attempts retried: ${failures}`);
log(`cache sizes: img/cat.png → ${cached}`);
log(`database main: ${rows.length} row(s) in processed_uploads`);
for (const row of rows) log(`  ${row.upload_key}: ${row.size_bytes} B, attempts ${row.attempts}`);
console.log(`done in ${seconds.toFixed(2)} s; closed cleanly`);

