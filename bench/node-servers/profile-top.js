'use strict';

// Top self-time functions of a V8 CPU profile (from `node --cpu-prof`), to see
// where the JS thread spends its time in a benchmark.
//
//   node profile-top.js <file.cpuprofile> [count=25]

const fs = require('node:fs');
const path = require('node:path');

const file = process.argv[2];
const count = Number(process.argv[3] ?? 25);
if (!file) {
  console.error('usage: node profile-top.js <file.cpuprofile> [count]');
  process.exit(1);
}
const profile = JSON.parse(fs.readFileSync(file, 'utf8'));

// Each sample names the node that was on top of the stack; the time between
// samples is in timeDeltas (µs).
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  const node = byId.get(profile.samples[i]);
  const cf = node.callFrame;
  const where = cf.url ? `${path.basename(cf.url)}:${cf.lineNumber + 1}` : '';
  const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
}
const idle = self.get('(idle)') ?? 0;
console.log(`total ${(total / 1e3).toFixed(0)} ms, idle ${((idle / total) * 100).toFixed(1)}%; busy share per function:`);
const busy = total - idle;
for (const [key, us] of [...self].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, count)) {
  console.log(`${((us / busy) * 100).toFixed(1).padStart(5)}%  ${key}`);
}
