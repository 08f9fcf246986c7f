'use strict';

// Helpers shared by the Node benchmarks (bench/node and bench/node-servers):
// loading the binding, flags, bounded waits, and measuring.
//
// Node 20 has no `process.threadCpuUsage`, and `process.cpuUsage` counts every
// thread of the process (the tokio runtime's included). The JS thread is the
// process's main thread, whose id is the pid, so its own CPU time is read from
// /proc/self/task/<pid>/stat (utime + stime, in clock ticks).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

/** Where the binding is: `STRATA_BENCH_BINDING` (a copy made by a run script) or bindings-node/. */
function bindingDir() {
  return process.env.STRATA_BENCH_BINDING ?? path.join(__dirname, '..', '..', 'bindings-node');
}

/** `@strata/runtime`, from `bindingDir()`. Benchmarks want the release addon (`npm run build:release`). */
function binding() {
  return require(bindingDir());
}

/** The binding's internal completion queue (`lib/native.js`), for the call probes. */
function bindingInternals() {
  return require(path.join(bindingDir(), 'lib', 'native.js'));
}

/** `--name=value` and `--flag` arguments as an object. */
function flags(argv = process.argv.slice(2)) {
  const out = {};
  for (const arg of argv) {
    const match = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (match) out[match[1]] = match[2] ?? true;
  }
  return out;
}

/** Rejects if `promise` takes longer than `ms`: a benchmark fails rather than hangs. */
async function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a result was measured on. */
function machine() {
  return {
    node: process.version,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    cpu: os.cpus()[0]?.model,
    load: os.loadavg().map((l) => Number(l.toFixed(2))),
    time: new Date().toISOString(),
  };
}

const STAT = `/proc/self/task/${process.pid}/stat`;

/** Clock ticks per second (`getconf CLK_TCK`; 100 on Linux almost always). */
const TICKS_PER_SECOND = (() => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

/** CPU time of the JS (main) thread so far, in ns (tick resolution: 10 ms). */
function threadCpuNs() {
  const stat = fs.readFileSync(STAT, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e9) / TICKS_PER_SECOND;
}

/** CPU time of the whole process (every thread) so far, in ns. */
function processCpuNs() {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1e3;
}

/** The `q` quantile of an ascending array. */
function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** The median of numbers (not necessarily sorted). */
function median(values) {
  return quantile(Float64Array.from(values).sort(), 0.5);
}

module.exports = {
  binding,
  bindingDir,
  bindingInternals,
  flags,
  within,
  machine,
  threadCpuNs,
  processCpuNs,
  quantile,
  median,
};
