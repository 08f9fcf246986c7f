'use strict';

// Turns one run's measurements into Markdown tables (median of the
// repetitions, with the spread of throughput) and checks issue 4's targets.
//
//   node report.js <run folder>    (the folder run.sh wrote: *.jsonl, ceilings/*.txt, machine.txt)

const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node report.js <run folder>');
  process.exit(1);
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

const rows = [];
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()) {
  for (const line of fs.readFileSync(path.join(dir, file), 'utf8').split('\n')) {
    if (line.trim()) rows.push(JSON.parse(line));
  }
}

/** Median figures of one (side, op, inflight) over its repetitions. */
function summary(side, op, inflight) {
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
const us = (x) => (x >= 1000 ? `${(x / 1000).toFixed(1)} ms` : `${x.toFixed(x < 10 ? 1 : 0)} µs`);
const cpu = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
const ratio = (x) => `${x.toFixed(2)}×`;
const verdict = (ok) => (ok ? 'met' : '**missed**');

/**
 * One table comparing Strata with `other` for `ops`, with targets
 * (throughput ≥ `speed`×, Node-thread CPU ≤ `cpuShare`×) when given.
 */
function table(other, ops, unitsLabel, target) {
  const lines = [
    `| operation | in flight | Strata ${unitsLabel} (min–max) | ${other} ${unitsLabel} (min–max) | ratio | Strata p50 / p99 | ${other} p50 / p99 | Strata Node-thread CPU µs/op | ${other} Node-thread CPU µs/op | CPU ratio | Strata / ${other} process CPU µs/op | load1 | target |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const op of ops) {
    for (const inflight of [1, 64]) {
      const s = summary('strata', op, inflight);
      const o = summary(other, op, inflight);
      if (!s || !o) continue;
      const speed = s.units / o.units;
      const share = s.thread / o.thread;
      const goal = target
        ? `≥${target.speed}× ${verdict(speed >= target.speed)}; ≤${target.cpuShare}× CPU ${verdict(share <= target.cpuShare)}`
        : '—';
      lines.push(
        `| ${op} | ${inflight} | ${int(s.units)} (${int(s.unitsMin)}–${int(s.unitsMax)}) | ${int(o.units)} (${int(o.unitsMin)}–${int(o.unitsMax)}) | ` +
          `${ratio(speed)} | ${us(s.p50)} / ${us(s.p99)} | ${us(o.p50)} / ${us(o.p99)} | ${cpu(s.thread)} | ${cpu(o.thread)} | ` +
          `${ratio(share)} | ${cpu(s.proc)} / ${cpu(o.proc)} | ${s.load.toFixed(1)} | ${goal} |`,
      );
    }
  }
  return lines.join('\n');
}

function readText(file) {
  const full = path.join(dir, file);
  return fs.existsSync(full) ? fs.readFileSync(full, 'utf8') : '';
}

/** `redis-benchmark -q` lines → { 'GET': [rps…], 'SET': [rps…] } per file prefix. */
function redisCeilings(prefix) {
  const byTest = {};
  for (const file of fs.readdirSync(path.join(dir, 'ceilings')).filter((f) => f.startsWith(prefix))) {
    // -q prints progress with carriage returns; the last segment of each line is the result.
    for (const raw of readText(path.join('ceilings', file)).split('\n')) {
      const line = raw.split('\r').pop();
      const m = /^(\w+): ([\d.]+) requests per second(?:, p50=([\d.]+) msec)?/.exec(line.trim());
      if (m) (byTest[m[1]] ??= []).push({ rps: Number(m[2]), p50: m[3] ? Number(m[3]) : NaN });
    }
  }
  return byTest;
}

/** pgbench outputs → [{ tps, latencyMs }]. */
function pgbenchCeilings(prefix) {
  const out = [];
  for (const file of fs.readdirSync(path.join(dir, 'ceilings')).filter((f) => f.startsWith(prefix))) {
    const text = readText(path.join('ceilings', file));
    const tps = /tps = ([\d.]+)/.exec(text);
    const lat = /latency average = ([\d.]+) ms/.exec(text);
    if (tps) out.push({ tps: Number(tps[1]), latencyMs: lat ? Number(lat[1]) : NaN });
  }
  return out;
}

function ceilingsTable() {
  if (!fs.existsSync(path.join(dir, 'ceilings'))) return '(no ceilings measured)';
  const lines = [
    '| server ceiling | clients | throughput, median of runs (min–max) | latency |',
    '| --- | ---: | ---: | --- |',
  ];
  for (const [prefix, clients] of [['redis-c64-', '64 connections'], ['redis-p64-', '1 connection, -P 64'], ['redis-c1-', '1']]) {
    for (const [test, runs] of Object.entries(redisCeilings(prefix))) {
      const rps = runs.map((r) => r.rps);
      lines.push(
        `| redis-benchmark ${test} | ${clients} | ${int(median(rps))} ops/s (${int(Math.min(...rps))}–${int(Math.max(...rps))}) | p50 ${median(runs.map((r) => r.p50)).toFixed(3)} ms |`,
      );
    }
  }
  for (const [prefix, label, clients] of [
    ['pgbench-simple-c64', 'pgbench point SELECT (-M simple)', 64],
    ['pgbench-prepared-c64', 'pgbench point SELECT (-M prepared)', 64],
    ['pgbench-prepared-c1', 'pgbench point SELECT (-M prepared)', 1],
  ]) {
    const runs = pgbenchCeilings(prefix);
    if (runs.length === 0) continue;
    const tps = runs.map((r) => r.tps);
    lines.push(
      `| ${label} | ${clients} | ${int(median(tps))} rows/s (${int(Math.min(...tps))}–${int(Math.max(...tps))}) | avg ${median(runs.map((r) => r.latencyMs)).toFixed(3)} ms |`,
    );
  }
  return lines.join('\n');
}

const md = [
  `# Cache and database through Node: Strata vs ioredis / pg (run ${path.basename(dir)})`,
  '',
  '```',
  readText('machine.txt').trim(),
  '```',
  '',
  '## Cache: GET / SET of a 100-byte value (one connection each side)',
  '',
  table('ioredis', ['get', 'set'], 'ops/s', { speed: 1.2, cpuShare: 0.5 }),
  '',
  '## Point SELECT by primary key (`WHERE id = $1`, pools of 10 each side)',
  '',
  table('pg', ['select-pk'], 'rows/s', { speed: 1.5, cpuShare: 0.5 }),
  '',
  '## 10,000-row result set (one query, 5 columns; CPU is per query)',
  '',
  table('pg', ['rows-10k'], 'rows/s'),
  '',
  '## Server ceilings (same servers, same run)',
  '',
  ceilingsTable(),
  '',
].join('\n');
process.stdout.write(md);
