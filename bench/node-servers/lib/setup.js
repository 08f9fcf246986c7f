'use strict';

// Where the servers are, the infra config Strata loads for them, and the
// benchmark database (created by run.sh: `strata_bench`, table bench_items).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REDIS_HOST = process.env.BENCH_REDIS_HOST ?? '127.0.0.1';
const REDIS_PORT = Number(process.env.BENCH_REDIS_PORT ?? 6379);
const PG_HOST = process.env.BENCH_PG_HOST ?? '127.0.0.1';
const PG_PORT = Number(process.env.BENCH_PG_PORT ?? 5432);
const PG_USER = process.env.BENCH_PG_USER ?? 'postgres';
const PG_DATABASE = process.env.BENCH_PG_DATABASE ?? 'strata_bench';

/** Connections each SQL side may open: the default of both pg.Pool and Strata's PostgreSQL pool. */
const POOL_SIZE = Number(process.env.BENCH_PG_POOL ?? 10);

/** Every cache key both sides touch starts with this (Strata adds it as its keyspace prefix). */
const KEY_PREFIX = 'strata-bench:';

/**
 * Writes an infra config for the servers into a fresh temporary folder and
 * moves there (Strata writes under ./.strata). TLS is off on both sides: pg
 * does not use it by default, Strata's `prefer` would. Only the blocks asked
 * for are configured (Strata connects to each at load).
 */
function writeInfraConfig({ cache = false, database = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-servers-'));
  const config = {};
  if (cache) {
    config.caches = {
      bench: { provider: 'redis', url: `redis://${REDIS_HOST}:${REDIS_PORT}/0`, prefix: KEY_PREFIX },
    };
  }
  if (database) {
    config.databases = {
      bench: {
        provider: 'postgres',
        url: `postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/${PG_DATABASE}`,
        ssl_mode: 'disable',
        max_connections: POOL_SIZE,
      },
    };
  }
  const file = path.join(dir, 'infra.config.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  process.chdir(dir);
  delete process.env.STRATA_CONFIG;
  return file;
}

/** node-postgres pool options equal to Strata's side. */
function pgPoolOptions() {
  return {
    host: PG_HOST,
    port: PG_PORT,
    user: PG_USER,
    database: PG_DATABASE,
    max: POOL_SIZE,
    ssl: false,
  };
}

function ioredisOptions() {
  return { host: REDIS_HOST, port: REDIS_PORT, db: 0, lazyConnect: false };
}

module.exports = { KEY_PREFIX, POOL_SIZE, writeInfraConfig, pgPoolOptions, ioredisOptions };
