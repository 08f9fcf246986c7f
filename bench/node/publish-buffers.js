'use strict';

// What copying a Buffer payload at `publish` costs (issue 14, item 9):
// `topic.publish(buffer)` copies the payload when it is called, so a caller
// may change its buffer at once. Publishes `--messages` Buffers of each
// `--sizes` byte count on the embedded memory provider, 1,024 per event-loop
// turn, awaiting each turn's publishes, and reports the JS thread's CPU per
// publish and the wall time. Run it against two copies of the binding (e.g.
// before and after the change, with STRATA_BENCH_BINDING and the same addon
// in STRATA_NATIVE_PATH), alternating, to compare.
//
//   node bench/node/publish-buffers.js [--messages=200000] [--sizes=64,1024,65536] [--json]

const { binding, flags, median, threadCpuNs } = require('./common');

const opts = flags();
const total = Number(opts.messages ?? 200_000);
const sizes = String(opts.sizes ?? '64,1024,65536').split(',').map(Number);
const reps = Number(opts.reps ?? 3);
const CHUNK = 1024;

async function runOnce(Infra, size, rep) {
  const infra = await Infra.load();
  const topic = infra.topic(`buffers-${size}-${rep}`);
  const payload = Buffer.alloc(size, 7);
  const count = Math.max(CHUNK, Math.floor(total / Math.max(1, size / 1024)));
  const wallStart = process.hrtime.bigint();
  const cpuStart = threadCpuNs();
  for (let sent = 0; sent < count; sent += CHUNK) {
    const turn = [];
    for (let i = 0; i < CHUNK; i++) turn.push(topic.publish(payload));
    await Promise.all(turn);
  }
  const cpu = threadCpuNs() - cpuStart;
  const wall = Number(process.hrtime.bigint() - wallStart);
  await infra.close();
  return { count, cpuNsPerPublish: cpu / count, wallNsPerPublish: wall / count };
}

async function main() {
  const { Infra } = binding();
  const results = [];
  for (const size of sizes) {
    const runs = [];
    for (let rep = 0; rep < reps; rep++) runs.push(await runOnce(Infra, size, rep));
    results.push({
      size,
      count: runs[0].count,
      cpuNsPerPublish: median(runs.map((r) => r.cpuNsPerPublish)),
      wallNsPerPublish: median(runs.map((r) => r.wallNsPerPublish)),
    });
  }
  if (opts.json) {
    console.log(JSON.stringify(results));
  } else {
    for (const r of results) {
      console.log(`${r.size} B × ${r.count}: JS thread ${(r.cpuNsPerPublish / 1000).toFixed(2)} µs/publish, wall ${(r.wallNsPerPublish / 1000).toFixed(2)} µs/publish`);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
