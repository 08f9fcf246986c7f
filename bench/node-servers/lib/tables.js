'use strict';

// Shared by the report scripts: reads a run's *.jsonl measurements and turns
// them into Markdown tables comparing Strata with another client (median of
// the repetitions, throughput spread, Node-thread CPU, targets).

const fs = require('node:fs');
const path = require('node:path');

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Every measurement of the run folder `dir`. */
function loadRows(dir) {
  const rows = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()) {
    for (const line of fs.readFileSync(path.join(dir, file), 'utf8').split('\n')) {
      if (line.trim()) rows.push(JSON.parse(line));
    }
  }
  return rows;
}

/** Median figures of one (side, op, inflight) over its repetitions. */
function summary(rows, side, op, inflight) {
  const runs = rows.filter((r) => r.side === side && r.op === op && r.inflight === inflight);
  if (runs.length === 0) return undefined;
  const pick = (k) => runs.map((r) => r[k]);
  return {
    n: runs.length,
    units: median(pick('unitsPerSec')),
    unitsMin: Math.min(...pick('unitsPerSec')),
    unitsMax: Math.max(...pick('unitsPerSec')),
    p50: median(pick('medianUs')),
    p99: median(pick('p99Us')),
    thread: median(pick('threadCpuUsPerOp')),
    proc: median(pick('processCpuUsPerOp')),
    load: median(pick('load1')),
    busy: median(pick('machineBusy')),
  };
}

const int = (x) => Math.round(x).toLocaleString('en-US');
const num = (x) => (x >= 100 ? int(x) : x.toFixed(1));
const us = (x) => (!Number.isFinite(x) ? '—' : x >= 1000 ? `${(x / 1000).toFixed(1)} ms` : `${x.toFixed(x < 10 ? 1 : 0)} µs`);
const cpu = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
const ratio = (x) => `${x.toFixed(2)}×`;
const verdict = (ok) => (ok ? 'met' : '**missed**');

/**
 * One table comparing Strata with `other` for `ops` at each of `inflights`,
 * with targets (throughput ≥ `speed`×, Node-thread CPU ≤ `cpuShare`×, either
 * optional) when given.
 */
function table(rows, other, ops, unitsLabel, target, inflights = [1, 64]) {
  const lines = [
    `| operation | in flight | Strata ${unitsLabel} (min–max) | ${other} ${unitsLabel} (min–max) | ratio | Strata p50 / p99 | ${other} p50 / p99 | Strata Node-thread CPU µs/op | ${other} Node-thread CPU µs/op | CPU ratio | Strata / ${other} process CPU µs/op | load1 | target |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const op of ops) {
    for (const inflight of inflights) {
      const s = summary(rows, 'strata', op, inflight);
      const o = summary(rows, other, op, inflight);
      if (!s || !o) continue;
      const speed = s.units / o.units;
      const share = s.thread / o.thread;
      const goals = [];
      if (target?.speed !== undefined) goals.push(`≥${target.speed}× ${verdict(speed >= target.speed)}`);
      if (target?.cpuShare !== undefined) goals.push(`≤${target.cpuShare}× CPU ${verdict(share <= target.cpuShare)}`);
      lines.push(
        `| ${op} | ${inflight} | ${num(s.units)} (${num(s.unitsMin)}–${num(s.unitsMax)}) | ${num(o.units)} (${num(o.unitsMin)}–${num(o.unitsMax)}) | ` +
          `${ratio(speed)} | ${us(s.p50)} / ${us(s.p99)} | ${us(o.p50)} / ${us(o.p99)} | ${cpu(s.thread)} | ${cpu(o.thread)} | ` +
          `${ratio(share)} | ${cpu(s.proc)} / ${cpu(o.proc)} | ${s.load.toFixed(1)} | ${goals.join('; ') || '—'} |`,
      );
    }
  }
  return lines.join('\n');
}

/**
 * The run folder named on the command line (`node report.js <run folder>`):
 * its measurements and its machine.txt. Exits with a usage line without one.
 */
function loadRun(argv = process.argv) {
  const dir = argv[2];
  if (!dir) {
    console.error('usage: node report.js <run folder>');
    process.exit(1);
  }
  const machineFile = path.join(dir, 'machine.txt');
  const machine = fs.existsSync(machineFile) ? fs.readFileSync(machineFile, 'utf8').trim() : '';
  return { dir, rows: loadRows(dir), machine };
}

module.exports = { median, loadRows, loadRun, summary, table, int };
