'use strict';

// How long `require()` of the package takes in a fresh node process: every
// round starts one `node -e "require(<package>)"` per variant, and one
// `node -e 0` as the baseline, in an order that rotates each round so that
// all of them see the same machine load. Prints the median and the 10th/90th
// percentiles of the wall time per variant, as a Markdown table.
//
//   node load-time.js [--rounds=30] label=<package folder> ...

const { spawnSync } = require('node:child_process');
const { flags, quantile } = require('../node/common');

const opts = flags();
const rounds = Number(opts.rounds ?? 30);
const variants = [{ label: '`node -e 0` (baseline)', args: ['-e', '0'] }];
for (const arg of process.argv.slice(2).filter((a) => !a.startsWith('--'))) {
  const [label, dir] = arg.split(/=(.*)/s);
  variants.push({ label, args: ['-e', `require(${JSON.stringify(dir)})`] });
}

const times = variants.map(() => []);
// One unmeasured round: the page cache holds every file before timing starts.
for (const v of variants) spawnSync(process.execPath, v.args, { stdio: 'inherit' });
for (let round = 0; round < rounds; round++) {
  for (let k = 0; k < variants.length; k++) {
    const i = (k + round) % variants.length;
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, variants[i].args, { stdio: 'inherit' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${variants[i].label} exited with ${r.status}`);
    times[i].push(ms);
  }
}

const base = quantile(Float64Array.from(times[0]).sort(), 0.5);
console.log(`| what | median ms | p10–p90 ms | over the baseline (median) |`);
console.log('| --- | ---: | ---: | ---: |');
variants.forEach((v, i) => {
  const s = Float64Array.from(times[i]).sort();
  const med = quantile(s, 0.5);
  console.log(
    `| ${v.label} | ${med.toFixed(1)} | ${quantile(s, 0.1).toFixed(1)}–${quantile(s, 0.9).toFixed(1)} | ` +
      `${i === 0 ? '—' : `+${(med - base).toFixed(1)}`} |`,
  );
});
