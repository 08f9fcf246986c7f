'use strict';

// Awaited binding-call overhead (issue 3): what one awaited native call costs,
// with 1 and 64 calls in flight, in one run:
//
//   node --expose-gc bench/node/calls.js [--reps=3] [--seconds=2] [--inflight=1,64] [--json]
//
//   noop        `bridge._noop(id)`: a future on the Strata runtime answered
//               through the shared completion queue (how every Strata call returns)
//   cache.get   `cache.get(key)` on the embedded memory cache (a hit)
//   naive noop  `_naiveNoop()`: a plain napi-rs `async fn`, one promise and one
//               wake-up per call (the baseline the queue is measured against)
//   sync noop   `_syncNoop()`: a synchronous native call, in a loop (the floor)
//
// Per operation and in-flight count: amortised wall time per call (1 / ops/s),
// median and p99 of each call's own latency, and Node-thread CPU per call.
// Each figure is the median of the repetitions. Build the addon in release
// first: `cd bindings-node && npm run build:release`.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { binding, bindingInternals, flags, machine, median, threadCpuNs } = require('./common');
const { measure } = require('../node-servers/lib/drive');

const opts = flags();
const reps = Number(opts.reps ?? 3);
const seconds = Number(opts.seconds ?? 2);
const inflights = String(opts.inflight ?? '1,64').split(',').map(Number);

/** The synchronous probe in a tight loop: ns per call and Node-thread CPU per call. */
function measureSync(addon) {
  const calls = 2_000_000;
  for (let i = 0; i < 200_000; i++) addon._syncNoop();
  const cpu0 = threadCpuNs();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) addon._syncNoop();
  const wall = Number(process.hrtime.bigint() - t0);
  const cpu = threadCpuNs() - cpu0;
  return { perCallUs: wall / calls / 1e3, threadCpuUsPerOp: cpu / calls / 1e3 };
}

async function main() {
  process.chdir(fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-calls-')));
  const { Infra } = binding();
  const { addon, bridge, call } = bindingInternals();
  const infra = await Infra.load();
  const cache = infra.cache('bench');
  await cache.set('key', 'a value of a few bytes');

  const ops = [
    ['noop', () => call((id) => bridge._noop(id))],
    ['cache.get', () => cache.get('key')],
    ['naive noop', () => addon._naiveNoop()],
  ];
  /** @type {Map<string, any[]>} */
  const runs = new Map();
  const syncRuns = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const inflight of inflights) {
      for (const [name, op] of ops) {
        const r = await measure({ side: 'strata', name, op, inflight, seconds });
        const key = `${name}@${inflight}`;
        if (!runs.has(key)) runs.set(key, []);
        runs.get(key).push(r);
        if (opts.json) console.log(JSON.stringify({ rep, ...r }));
      }
    }
    syncRuns.push(measureSync(addon));
  }
  await infra.close();

  const info = machine();
  console.log(`\nAwaited call overhead: ${reps} repetitions × ${seconds} s, median shown`);
  console.log(`Node ${info.node}, ${info.cores} cores (${info.cpu}), load ${info.load.join(' / ')} at end\n`);
  console.log('| call | in flight | amortised µs/call | median µs | p99 µs | Node-thread CPU µs/call | machine busy |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const [key, rs] of runs) {
    const [name, inflight] = key.split('@');
    const pick = (f) => median(rs.map(f));
    console.log(
      `| ${name} | ${inflight} | ${pick((r) => 1e6 / r.opsPerSec).toFixed(2)} | ` +
        `${pick((r) => r.medianUs).toFixed(2)} | ${pick((r) => r.p99Us).toFixed(2)} | ` +
        `${pick((r) => r.threadCpuUsPerOp).toFixed(2)} | ${(pick((r) => r.machineBusy) * 100).toFixed(0)}% |`,
    );
  }
  const sync = (f) => median(syncRuns.map(f));
  console.log(
    `| sync noop | — | ${sync((r) => r.perCallUs).toFixed(3)} | — | — | ` +
      `${sync((r) => r.threadCpuUsPerOp).toFixed(3)} | — |`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
