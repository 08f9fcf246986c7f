'use strict';

// Measures a receiver draining messages that are already waiting: the wall
// time from starting it until it has handled `count`, with the same CPU
// figures as drive.js (Node-thread, whole process, machine busy share). Used
// by the pub/sub compare scripts for their receive → ack suites.

const { threadCpuNs, processCpuNs } = require('../../node/common');
const { machineJiffies } = require('./drive');

/** Waits until `done()` or fails after `ms`. */
async function until(done, ms, what) {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * Starts a receiver with `start()` (which resolves to its stop function),
 * waits until `received()` reaches `count`, stops it, and returns one
 * measurement in drive.js's shape (`op`, `inflight` as given; no latencies).
 */
async function drain({ side, op = 'receive-ack', inflight, count, start, received, timeoutMs = 5 * 60_000 }) {
  const cpu0 = threadCpuNs();
  const proc0 = processCpuNs();
  const m0 = machineJiffies();
  const t0 = process.hrtime.bigint();
  const stop = await start();
  await until(() => received() >= count, timeoutMs, `${side} to receive ${count} messages`);
  const wall = Number(process.hrtime.bigint() - t0);
  const cpu = threadCpuNs() - cpu0;
  const proc = processCpuNs() - proc0;
  const m1 = machineJiffies();
  await stop();
  return {
    side,
    op,
    inflight,
    calls: count,
    unitsPerOp: 1,
    opsPerSec: (count / wall) * 1e9,
    unitsPerSec: (count / wall) * 1e9,
    medianUs: NaN,
    p99Us: NaN,
    threadCpuUsPerOp: cpu / count / 1e3,
    processCpuUsPerOp: proc / count / 1e3,
    machineBusy: (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total),
  };
}

module.exports = { until, drain };
