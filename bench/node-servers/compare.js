'use strict';

// Strata through Node vs ioredis / pg on the same servers, in one process:
//
//   node --expose-gc compare.js --suite=cache|select|rows [--reps=3]
//        [--inflight=1,64] [--seconds=2] [--out=results.jsonl] [--sides=strata,ioredis]
//
// Suites:
//   cache   GET and SET of a 100-byte value over 1,000 keys:
//           Strata `cache.get/set` vs ioredis `get/set` (one connection each).
//   select  point SELECT by primary key with a $1 parameter:
//           Strata `db.query` vs pg `Pool.query` (pools of 10 each).
//   rows    one query answering all 10,000 rows of bench_items.
//
// Each repetition measures every (operation, in-flight) pair for both sides,
// alternating which side goes first, so both see the same machine load.
// One JSON object per measurement goes to --out (appended); report.js turns
// them into tables (median of the repetitions).

const fs = require('node:fs');
const { binding, machine, flags, within } = require('../node/common');
const { measure } = require('./lib/drive');
const { failAfter, check } = require('./lib/run-suite');
const { KEY_PREFIX, POOL_SIZE, writeInfraConfig, pgPoolOptions, ioredisOptions } = require('./lib/setup');

const opts = flags();
const suite = opts.suite ?? 'cache';
const reps = Number(opts.reps ?? 3);
const inflights = (opts.inflight ?? '1,64').split(',').map(Number);
const seconds = Number(opts.seconds ?? 2);
const out = opts.out;

const KEYS = 1000;
const VALUE = 'v'.repeat(100);
const ROWS = 10_000;
const POINT_SQL = 'SELECT id, name, price, qty, created_at FROM bench_items WHERE id = $1';
const ALL_SQL = 'SELECT id, name, price, qty, created_at FROM bench_items';

failAfter(20, `compare.js --suite=${suite}`);

/** Key i (without the prefix, for Strata) and with it (for ioredis), precomputed. */
const shortKeys = Array.from({ length: KEYS }, (_, i) => `k:${i}`);
const fullKeys = shortKeys.map((k) => KEY_PREFIX + k);
const pointId = (i) => ((i * 7919) % ROWS) + 1;

async function cacheSides(infra) {
  const Redis = require('ioredis');
  const redis = new Redis(ioredisOptions());
  const cache = infra.cache('bench');
  // Preload every key, then check both sides read the same value.
  const p = redis.pipeline();
  for (const k of fullKeys) p.set(k, VALUE);
  await p.exec();
  check((await cache.get(shortKeys[7])) === VALUE, 'strata reads the preloaded value');
  check((await redis.get(fullKeys[7])) === VALUE, 'ioredis reads the preloaded value');
  return {
    ops: {
      get: {
        strata: (i) => cache.get(shortKeys[i % KEYS]),
        ioredis: (i) => redis.get(fullKeys[i % KEYS]),
      },
      set: {
        strata: (i) => cache.set(shortKeys[i % KEYS], VALUE),
        ioredis: (i) => redis.set(fullKeys[i % KEYS], VALUE),
      },
    },
    units: { get: 1, set: 1 },
    async close() {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${KEY_PREFIX}*`, 'COUNT', 1000);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
      redis.disconnect();
    },
  };
}

async function sqlSides(infra) {
  const { Pool } = require('pg');
  const pool = new Pool(pgPoolOptions());
  const db = infra.database('bench');
  const a = await db.query(POINT_SQL, [42]);
  const b = (await pool.query(POINT_SQL, [42])).rows;
  check(a.length === 1 && b.length === 1, 'one row each for id 42');
  check(a[0].id === 42 && b[0].id === 42 && a[0].name === b[0].name, 'the same row on both sides');
  check(a[0].created_at instanceof Date && b[0].created_at instanceof Date, 'timestamps as Dates on both sides');
  check(a[0].price === b[0].price && a[0].qty === b[0].qty, 'the same numbers on both sides');
  const ops =
    suite === 'select'
      ? {
          'select-pk': {
            strata: (i) => db.query(POINT_SQL, [pointId(i)]),
            pg: (i) => pool.query(POINT_SQL, [pointId(i)]),
          },
        }
      : {
          'rows-10k': {
            strata: async () => check((await db.query(ALL_SQL)).length === ROWS, 'strata 10,000 rows'),
            pg: async () => check((await pool.query(ALL_SQL)).rows.length === ROWS, 'pg 10,000 rows'),
          },
        };
  return {
    ops,
    units: { 'select-pk': 1, 'rows-10k': ROWS },
    async close() {
      await pool.end();
    },
  };
}

async function main() {
  const config = writeInfraConfig(suite === 'cache' ? { cache: true } : { database: true });
  const cleanup = () => fs.rmSync(require('node:path').dirname(config), { recursive: true, force: true });
  process.on('exit', cleanup);
  const { Infra } = binding();
  const infra = await within(30_000, Infra.load(config), 'Infra.load');
  const sides = suite === 'cache' ? await cacheSides(infra) : await sqlSides(infra);
  const wanted = opts.sides ? new Set(opts.sides.split(',')) : undefined;
  const info = { ...machine(), suite, poolSize: POOL_SIZE, reps, seconds };
  console.log(JSON.stringify({ machine: info }));

  for (let rep = 1; rep <= reps; rep++) {
    for (const inflight of inflights) {
      for (const [name, bySide] of Object.entries(sides.ops)) {
        let names = Object.keys(bySide).filter((s) => !wanted || wanted.has(s));
        if (rep % 2 === 0) names = names.reverse();
        for (const side of names) {
          const r = await within(
            10 * 60_000,
            measure({
              side,
              name,
              op: bySide[side],
              inflight,
              seconds,
              unitsPerOp: sides.units[name],
              minOps: name === 'rows-10k' ? Math.max(20, inflight * 2) : 1000,
            }),
            `${side} ${name} x${inflight}`,
          );
          r.rep = rep;
          r.load1 = require('node:os').loadavg()[0];
          const line = JSON.stringify(r);
          console.log(
            `rep ${rep} ${side.padEnd(7)} ${name.padEnd(9)} x${String(inflight).padEnd(3)} ` +
              `${Math.round(r.unitsPerSec).toString().padStart(9)} ${r.unitsPerOp > 1 ? 'rows' : 'ops'}/s  ` +
              `p50 ${r.medianUs.toFixed(0).padStart(6)} µs  p99 ${r.p99Us.toFixed(0).padStart(6)} µs  ` +
              `node-thread ${r.threadCpuUsPerOp.toFixed(2).padStart(8)} µs/op  process ${r.processCpuUsPerOp.toFixed(2).padStart(8)} µs/op  ` +
              `machine busy ${(r.machineBusy * 100).toFixed(0)}%`,
          );
          if (out) fs.appendFileSync(out, `${JSON.stringify({ suite, ...r })}\n`);
        }
      }
    }
  }
  await sides.close();
  await within(30_000, infra.close(), 'Infra.close');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
