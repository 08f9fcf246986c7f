'use strict';

// Memory pub/sub end to end through Node (issue 3): publish from JS → the
// embedded memory provider → a JS handler → ack, every message counted.
//
//   node --expose-gc bench/node/pubsub.js [--messages=500000] [--reps=3]
//        [--handler=async,sync] [--concurrency=1024] [--window=8192] [--json]
//
// One process publishes `--messages` small text messages (their index) while
// the subscription's handler counts them; publishing keeps `--window` publishes
// awaiting at a time, in chunks of 1,024 per event-loop turn. The clock runs
// from the first publish to the last handler return. Each message's index is
// marked on arrival: a second arrival is a duplicate and is reported, and the
// run fails unless every published message arrived. `close()` afterwards
// drains the acks (its time is reported apart). Node-thread CPU per message
// covers publishing and handling both, as both run on that thread.
//
// `--handler=async` is an `async (msg) => …` handler (a promise per message,
// what most code looks like); `sync` returns nothing.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { binding, flags, machine, median, threadCpuNs, processCpuNs, within } = require('./common');

const opts = flags();
const total = Number(opts.messages ?? 500_000);
const reps = Number(opts.reps ?? 3);
const handlers = String(opts.handler ?? 'async,sync').split(',');
const concurrency = Number(opts.concurrency ?? 1024);
const window = Number(opts.window ?? 8192);
const CHUNK = 1024;

async function runOnce(Infra, kind, rep) {
  const infra = await Infra.load();
  const seen = new Uint8Array(total);
  let handled = 0;
  let duplicates = 0;
  let redelivered = 0;
  let done;
  const allHandled = new Promise((resolve) => {
    done = resolve;
  });
  let finishedAt = 0n;
  const count = (msg) => {
    const i = Number(msg.text());
    if (seen[i] !== 0) duplicates++;
    seen[i] = 1;
    if (msg.deliveryAttempt > 1) redelivered++;
    if (++handled === total) {
      finishedAt = process.hrtime.bigint();
      done();
    }
  };
  const handler = kind === 'async' ? async (msg) => count(msg) : (msg) => count(msg);
  const topicName = `bench-${kind}-${rep}`;
  infra.subscribe(topicName, 'count', handler, { maxConcurrency: concurrency });
  const topic = infra.topic(topicName);

  if (global.gc) global.gc();
  const cpu0 = threadCpuNs();
  const proc0 = processCpuNs();
  const t0 = process.hrtime.bigint();
  const waiting = [];
  let failed = 0;
  for (let start = 0; start < total; start += CHUNK) {
    const end = Math.min(total, start + CHUNK);
    const chunk = [];
    for (let i = start; i < end; i++) chunk.push(topic.publish(String(i)));
    waiting.push(Promise.allSettled(chunk));
    if (waiting.length * CHUNK >= window) {
      failed += (await waiting.shift()).filter((r) => r.status !== 'fulfilled').length;
    }
  }
  for (const w of waiting) failed += (await w).filter((r) => r.status !== 'fulfilled').length;
  const publishedAt = process.hrtime.bigint();
  await within(120_000, allHandled, `all ${total} messages handled (${handled} so far)`);
  const wall = Number(finishedAt - t0);
  const cpu = threadCpuNs() - cpu0;
  const proc = processCpuNs() - proc0;
  const c0 = process.hrtime.bigint();
  await within(60_000, infra.close(), 'close()');
  const closeMs = Number(process.hrtime.bigint() - c0) / 1e6;

  let missing = 0;
  for (let i = 0; i < total; i++) if (seen[i] === 0) missing++;
  if (failed > 0 || missing > 0) {
    throw new Error(`${failed} publishes failed and ${missing} messages never arrived`);
  }
  return {
    handler: kind,
    messages: total,
    msgsPerSec: (total / wall) * 1e9,
    publishMs: Number(publishedAt - t0) / 1e6,
    threadCpuUsPerMsg: cpu / total / 1e3,
    processCpuUsPerMsg: proc / total / 1e3,
    duplicates,
    redelivered,
    closeMs,
  };
}

async function main() {
  process.chdir(fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-pubsub-')));
  const { Infra } = binding();
  // Warm-up: JIT and allocator, not measured.
  await runOnce(Infra, 'async', 'warm');
  const results = new Map(handlers.map((h) => [h, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of handlers) {
      const r = await runOnce(Infra, kind, rep);
      results.get(kind).push(r);
      if (opts.json) console.log(JSON.stringify({ rep, ...r }));
    }
  }
  const info = machine();
  console.log(`\nMemory pub/sub end to end through Node: ${total} messages × ${reps} repetitions, median shown`);
  console.log(`Node ${info.node}, ${info.cores} cores (${info.cpu}), load ${info.load.join(' / ')} at end\n`);
  console.log('| handler | msgs/s | Node-thread CPU µs/msg | process CPU µs/msg | all rates | duplicates | close ms |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const [kind, rs] of results) {
    const pick = (f) => median(rs.map(f));
    const rates = rs.map((r) => `${Math.round(r.msgsPerSec / 1e3)}k`).join(', ');
    const dups = rs.reduce((n, r) => n + r.duplicates, 0);
    console.log(
      `| ${kind} | ${Math.round(pick((r) => r.msgsPerSec)).toLocaleString('en-US')} | ` +
        `${pick((r) => r.threadCpuUsPerMsg).toFixed(2)} | ${pick((r) => r.processCpuUsPerMsg).toFixed(2)} | ` +
        `${rates} | ${dups} | ${pick((r) => r.closeMs).toFixed(0)} |`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
