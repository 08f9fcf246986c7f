'use strict';

// Drives one operation with N calls in flight and measures it: a throughput
// pass (ops/s, Node-thread CPU per op, whole-process CPU per op, machine busy
// share) and a latency pass (per-call median and p99). Reuses the measuring
// helpers of bench/node/common.js (JS-thread CPU from
// /proc/self/task/<pid>/stat, quantiles).

const fs = require('node:fs');
const { threadCpuNs, processCpuNs, quantile } = require('../../node/common');

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
function machineJiffies() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4]; // idle + iowait
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * Runs `op(i)` `total` times with `inflight` calls awaiting at once. Returns
 * per-call wall times in ns when `timed`.
 */
async function drive(op, inflight, total, timed) {
  const latencies = timed ? new Float64Array(total) : undefined;
  let next = 0;
  async function worker() {
    if (timed) {
      while (next < total) {
        const i = next++;
        const start = process.hrtime.bigint();
        await op(i);
        latencies[i] = Number(process.hrtime.bigint() - start);
      }
    } else {
      while (next < total) {
        await op(next++);
      }
    }
  }
  const workers = [];
  for (let w = 0; w < inflight; w++) workers.push(worker());
  await Promise.all(workers);
  return latencies;
}

/**
 * Measures `op` at `inflight`: a warm-up that also sizes the passes to about
 * `seconds` each, a throughput pass, then a latency pass. `unitsPerOp` turns
 * ops into rows (the 10,000-row query counts 10,000 rows per call).
 */
async function measure({ side, name, op, inflight, seconds = 2, unitsPerOp = 1, minOps = 20 }) {
  // Warm-up: JIT, connections, prepared statements; its rate sizes the passes.
  const warmStart = process.hrtime.bigint();
  let warm = 0;
  while (Number(process.hrtime.bigint() - warmStart) < 0.5e9) {
    const n = Math.max(inflight, 64);
    await drive((i) => op(warm + i), inflight, n, false);
    warm += n;
  }
  const rate = warm / (Number(process.hrtime.bigint() - warmStart) / 1e9);
  const total = Math.max(minOps, Math.round(rate * seconds));
  if (global.gc) global.gc();

  const cpu0 = threadCpuNs();
  const proc0 = processCpuNs();
  const m0 = machineJiffies();
  const t0 = process.hrtime.bigint();
  await drive(op, inflight, total, false);
  const wall = Number(process.hrtime.bigint() - t0);
  const cpu = threadCpuNs() - cpu0;
  const proc = processCpuNs() - proc0;
  const m1 = machineJiffies();
  if (global.gc) global.gc();

  const lat = await drive(op, inflight, total, true);
  lat.sort();
  return {
    side,
    op: name,
    inflight,
    calls: total,
    unitsPerOp,
    opsPerSec: (total / wall) * 1e9,
    unitsPerSec: ((total * unitsPerOp) / wall) * 1e9,
    medianUs: quantile(lat, 0.5) / 1e3,
    p99Us: quantile(lat, 0.99) / 1e3,
    threadCpuUsPerOp: cpu / total / 1e3,
    processCpuUsPerOp: proc / total / 1e3,
    machineBusy: (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total),
  };
}

module.exports = { drive, measure, machineJiffies };
