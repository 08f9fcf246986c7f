'use strict';

// The object-storage suites shared by the cloud compare scripts: 4 KiB
// objects at 64 in flight (ops/s), and one 64 MiB object at a time (MiB/s).
// A script brings Strata's bucket and the other client's put and get; this
// checks that each reads what the other wrote, writes the objects to read,
// and returns what run-suite.js's `runSuite` takes.

const { check } = require('./run-suite');

const SMALL_BYTES = 4096;
const LARGE_BYTES = 64 * 1024 * 1024;
/** Keys the small suite cycles through (each written once before it starts). */
const SMALL_KEYS = 1000;

/**
 * `bucket`: Strata's; `other`: `{ side, put(key, body), get(key) → Buffer }`
 * for the same container. Returns `{ ops, inflights, units, minOps, unitLabel }`.
 */
async function objectSuite({ large, bucket, other }) {
  const body = Buffer.alloc(large ? LARGE_BYTES : SMALL_BYTES, large ? 9 : 7);
  const probe = Buffer.alloc(SMALL_BYTES, 3);
  await bucket.upload('probe/strata', probe);
  check((await other.get('probe/strata')).equals(probe), `${other.side} reads what Strata wrote`);
  await other.put('probe/other', probe);
  check((await bucket.download('probe/other')).equals(probe), `Strata reads what ${other.side} wrote`);

  const key = (i) => (large ? 'large' : `small/${i % SMALL_KEYS}`);
  for (let i = 0; i < (large ? 1 : SMALL_KEYS); i++) await bucket.upload(key(i), body);
  const name = large ? '64MiB' : '4KiB';
  const mib = body.length / (1024 * 1024);
  return {
    ops: {
      [`put-${name}`]: {
        strata: (i) => bucket.upload(key(i), body),
        [other.side]: (i) => other.put(key(i), body),
      },
      [`get-${name}`]: {
        strata: async (i) => check((await bucket.download(key(i))).length === body.length, `Strata read ${name}`),
        [other.side]: async (i) => check((await other.get(key(i))).length === body.length, `${other.side} read ${name}`),
      },
    },
    inflights: large ? [1] : [64],
    units: large ? { [`put-${name}`]: mib, [`get-${name}`]: mib } : {},
    minOps: large ? 3 : 500,
    unitLabel: large ? 'MiB' : 'ops',
  };
}

module.exports = { objectSuite, SMALL_KEYS };
