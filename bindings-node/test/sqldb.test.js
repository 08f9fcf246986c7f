'use strict';

// The database conformance scenarios through the binding, on the embedded
// (SQLite) provider.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Infra } = require('..');
const { enterTempDir, within, rejectsWith } = require('./support/helpers');

let infra;
let db;
let dir;

before(async () => {
  dir = enterTempDir('sqldb');
  infra = await Infra.load();
  db = infra.database('main');
});

after(async () => {
  await within(10_000, infra.close(), 'infra.close()');
});

test('values round-trip with their JS types', async () => {
  await db.execute(`CREATE TABLE typed (
    id INTEGER PRIMARY KEY,
    flag BOOLEAN, n INTEGER, big INTEGER, f REAL, t TEXT, b BLOB,
    doc JSON, at TIMESTAMPTZ, price NUMERIC, absent TEXT)`);
  const at = new Date('2024-05-06T07:08:09.123Z');
  const affected = await db.execute(
    'INSERT INTO typed (flag, n, big, f, t, b, doc, at, price, absent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
    [true, 42, 9007199254740993n, 1.25, 'héllo', Buffer.from([1, 2, 3]), { a: [1, 'x'] }, at, '12.50', null],
  );
  assert.equal(affected, 1);
  const [row] = await db.query('SELECT flag, n, big, f, t, b, doc, at, price, absent FROM typed');
  assert.equal(row.flag, true);
  assert.equal(row.n, 42);
  assert.equal(row.big, 9007199254740993n, 'integers beyond 2^53 are bigints');
  assert.equal(row.f, 1.25);
  assert.equal(row.t, 'héllo');
  assert.ok(Buffer.isBuffer(row.b));
  assert.deepEqual([...row.b], [1, 2, 3]);
  assert.deepEqual(row.doc, { a: [1, 'x'] });
  assert.ok(row.at instanceof Date);
  assert.equal(row.at.toISOString(), at.toISOString());
  // Numerics come back as exact decimal text (SQLite's NUMERIC affinity has
  // already normalized the bound text to 12.5).
  assert.equal(row.price, '12.5');
  assert.equal(row.absent, null);
  assert.deepEqual(Object.keys(row), ['flag', 'n', 'big', 'f', 't', 'b', 'doc', 'at', 'price', 'absent']);
});

test('many rows keep every value in its place', async () => {
  // Rows cross as one table of numbers plus one joined text; texts of every
  // width (emoji are two UTF-16 units), NULLs, false, Buffers and bigints
  // interleave so that an offset off by one anywhere shows.
  await db.execute('CREATE TABLE mixed (id INTEGER PRIMARY KEY, t TEXT, flag BOOLEAN, b BLOB, big INTEGER, at TIMESTAMPTZ)');
  const texts = ['', 'a', 'héllo', '😀 emoji 😀', null, 'x'.repeat(100)];
  const expected = [];
  for (let i = 1; i <= 200; i++) {
    const row = {
      id: i,
      t: texts[i % texts.length],
      flag: i % 2 === 0,
      b: i % 5 === 0 ? null : Buffer.from([i & 255, 7]),
      big: i % 7 === 0 ? 2n ** 60n + BigInt(i) : -i,
      at: new Date(1_700_000_000_000 + i),
    };
    expected.push(row);
    await db.execute('INSERT INTO mixed (id, t, flag, b, big, at) VALUES ($1, $2, $3, $4, $5, $6)',
      [row.id, row.t, row.flag, row.b, row.big, row.at]);
  }
  const rows = await db.query('SELECT id, t, flag, b, big, at FROM mixed ORDER BY id');
  assert.equal(rows.length, expected.length);
  let wrong = 0;
  let first;
  for (let i = 0; i < rows.length; i++) {
    try {
      assert.deepEqual(rows[i], expected[i]);
    } catch (err) {
      wrong++;
      first ??= err.message;
    }
  }
  assert.equal(wrong, 0, `${wrong} of ${rows.length} rows differ; the first: ${first}`);
});

test('query returns plain objects, queryOne the first, execute the rows affected', async () => {
  await db.execute('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
  for (const name of ['ada', 'grace', 'linus']) {
    assert.equal(await db.execute('INSERT INTO people (name) VALUES ($1)', [name]), 1);
  }
  const rows = await db.query('SELECT id, name FROM people ORDER BY id');
  assert.deepEqual(rows, [{ id: 1, name: 'ada' }, { id: 2, name: 'grace' }, { id: 3, name: 'linus' }]);
  assert.deepEqual(await db.queryOne('SELECT name FROM people WHERE id = $1', [2]), { name: 'grace' });
  assert.equal(await db.queryOne('SELECT name FROM people WHERE id = $1', [99]), undefined);
  assert.deepEqual(await db.query('SELECT name FROM people WHERE id > $1', [99]), []);
  assert.equal(await db.execute('UPDATE people SET name = name || $1', ['!']), 3);
  // Parameters are bound, never interpolated.
  const injected = "x'); DROP TABLE people; --";
  await db.execute('INSERT INTO people (name) VALUES ($1)', [injected]);
  assert.equal((await db.queryOne('SELECT count(*) AS n FROM people')).n, 4);
});

test('a transaction commits when its callback resolves', async () => {
  await db.execute('CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)');
  await db.execute('INSERT INTO accounts (id, balance) VALUES (1, 100), (2, 0)');
  const moved = await db.transaction(async (tx) => {
    const a = await tx.execute('UPDATE accounts SET balance = balance - $1 WHERE id = 1', [30]);
    const b = await tx.execute('UPDATE accounts SET balance = balance + $1 WHERE id = 2', [30]);
    const inside = await tx.queryOne('SELECT balance FROM accounts WHERE id = 2');
    assert.equal(inside.balance, 30, 'a transaction sees its own writes');
    return a + b;
  });
  assert.equal(moved, 2);
  assert.deepEqual(await db.query('SELECT balance FROM accounts ORDER BY id'), [{ balance: 70 }, { balance: 30 }]);
});

test('a transaction rolls back when its callback throws, and rethrows', async () => {
  await assert.rejects(
    db.transaction(async (tx) => {
      await tx.execute('UPDATE accounts SET balance = 0');
      throw new Error('changed my mind');
    }),
    /changed my mind/,
  );
  assert.deepEqual(await db.query('SELECT balance FROM accounts ORDER BY id'), [{ balance: 70 }, { balance: 30 }]);
  await rejectsWith('InvalidArgument', db.transaction('not a function'), 'transaction without a function');
});

test('a transaction handle used after it ended fails with Closed', async () => {
  let leaked;
  await db.transaction(async (tx) => {
    leaked = tx;
  });
  await rejectsWith('Closed', leaked.query('SELECT 1'), 'a query on an ended transaction');
});

test('SQL errors keep a portable code', async () => {
  await rejectsWith('InvalidArgument', db.query('SELEKT nonsense'), 'a syntax error');
  await db.execute('CREATE TABLE uniq (k TEXT PRIMARY KEY)');
  await db.execute('INSERT INTO uniq (k) VALUES ($1)', ['a']);
  const err = await db.execute('INSERT INTO uniq (k) VALUES ($1)', ['a']).catch((e) => e);
  assert.ok(['Conflict', 'AlreadyExists'].includes(err.code), `a duplicate key is ${err.code}: ${err.message}`);
});

test('a NUL byte in SQL text is InvalidArgument at once, and the database keeps working', { timeout: 20_000 }, async () => {
  // SQLite used to spin on it forever, losing the pooled connection.
  const err = await within(5_000, rejectsWith('InvalidArgument', db.query('SELECT 1\0'), 'a trailing NUL'), 'query with a NUL');
  assert.match(err.message, /NUL/);
  await within(5_000, rejectsWith('InvalidArgument', db.execute('SELECT\0 1'), 'a NUL inside'), 'execute with a NUL');
  await within(5_000, rejectsWith('InvalidArgument', db.queryOne('\0'), 'only a NUL'), 'queryOne with a NUL');
  await within(
    5_000,
    rejectsWith('InvalidArgument', db.transaction((tx) => tx.query('SELECT 2\0')), 'a NUL in a transaction'),
    'a transaction statement with a NUL',
  );
  // A NUL in a bound value is data, not SQL text.
  assert.deepEqual(await within(5_000, db.query('SELECT $1 AS v', ['a\0b']), 'a NUL parameter'), [{ v: 'a\0b' }]);
  assert.deepEqual(await within(5_000, db.query('SELECT 1 AS one'), 'a query afterwards'), [{ one: 1 }]);
});

test('migrations apply in name order, once', async () => {
  const migrations = path.join(dir, 'migrations');
  fs.mkdirSync(migrations);
  fs.writeFileSync(path.join(migrations, '0001_create.sql'), 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);');
  fs.writeFileSync(path.join(migrations, '0002_seed.sql'), "INSERT INTO notes (body) VALUES ('first');");
  const first = await db.migrate(migrations);
  assert.deepEqual(first, { applied: ['0001_create.sql', '0002_seed.sql'], alreadyApplied: 0 });
  const again = await db.migrate(migrations);
  assert.deepEqual(again, { applied: [], alreadyApplied: 2 });
  assert.deepEqual(await db.query('SELECT body FROM notes'), [{ body: 'first' }]);

  fs.writeFileSync(path.join(migrations, '0003_bad.sql'), 'CREATE TABLE broken (;');
  await assert.rejects(db.migrate(migrations), (err) => err.code === 'InvalidArgument' && /0003_bad\.sql/.test(err.message));
  await rejectsWith('NotFound', db.migrate(path.join(dir, 'no-such-folder')), 'a missing folder');
});
