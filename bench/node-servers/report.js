'use strict';

// Turns one run's measurements into Markdown tables (median of the
// repetitions, with the spread of throughput) and checks issue 4's targets.
//
//   node report.js <run folder>    (the folder run.sh wrote: *.jsonl, ceilings/*.txt, machine.txt)

const fs = require('node:fs');
const path = require('node:path');
const tables = require('./lib/tables');

const { median, loadRows, int } = tables;

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node report.js <run folder>');
  process.exit(1);
}

const rows = loadRows(dir);
const table = (other, ops, unitsLabel, target) => tables.table(rows, other, ops, unitsLabel, target);

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
