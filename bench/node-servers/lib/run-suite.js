'use strict';

// The measuring loop shared by the compare scripts: every repetition measures
// every (operation, in-flight) pair for each side, alternating which side goes
// first so both see the same machine load, prints one line per measurement and
// appends it as JSON to `out`.

const fs = require('node:fs');
const os = require('node:os');
const { within } = require('../../node/common');
const { measure } = require('./drive');

/**
 * `ops`: { [op]: { [side]: (i) => Promise } }; `inflights`: in-flight counts;
 * `units`: { [op]: units per call } (rows, MiB; default 1).
 */
async function runSuite({ suite, ops, inflights, units = {}, reps, seconds, out, minOps = 500, unitLabel = 'ops' }) {
  for (let rep = 1; rep <= reps; rep++) {
    for (const inflight of inflights) {
      for (const [name, bySide] of Object.entries(ops)) {
        let names = Object.keys(bySide);
        if (rep % 2 === 0) names = names.reverse();
        for (const side of names) {
          const r = await within(
            10 * 60_000,
            measure({ side, name, op: bySide[side], inflight, seconds, unitsPerOp: units[name] ?? 1, minOps }),
            `${side} ${name} x${inflight}`,
          );
          record({ suite, rep, unitLabel, out }, r);
        }
      }
    }
  }
}

/** Prints and stores one measurement (also used for hand-made ones, e.g. receive throughput). */
function record({ suite, rep, unitLabel = 'ops', out }, r) {
  r.rep = rep;
  r.load1 = os.loadavg()[0];
  const lat = Number.isFinite(r.medianUs)
    ? `p50 ${r.medianUs.toFixed(0).padStart(7)} µs  p99 ${r.p99Us.toFixed(0).padStart(7)} µs  `
    : '';
  console.log(
    `rep ${rep} ${r.side.padEnd(8)} ${r.op.padEnd(10)} x${String(r.inflight).padEnd(3)} ` +
      `${r.unitsPerSec.toFixed(1).padStart(10)} ${unitLabel}/s  ${lat}` +
      `node-thread ${r.threadCpuUsPerOp.toFixed(2).padStart(8)} µs/op  process ${r.processCpuUsPerOp.toFixed(2).padStart(8)} µs/op  ` +
      `machine busy ${(r.machineBusy * 100).toFixed(0)}%`,
  );
  if (out) fs.appendFileSync(out, `${JSON.stringify({ suite, ...r })}\n`);
}

/** Ends the process instead of hanging if a server stops answering. */
function failAfter(minutes, label) {
  const guard = setTimeout(() => {
    console.error(`${label}: still running after ${minutes} minutes, giving up`);
    process.exit(2);
  }, minutes * 60_000);
  guard.unref();
}

/** A sanity check on what a side returned: a benchmark of wrong answers is worthless. */
function check(cond, what) {
  if (!cond) throw new Error(`sanity check failed: ${what}`);
}

module.exports = { runSuite, record, failAfter, check };
