'use strict';

// Turns one run's measurements into Markdown tables (median of the
// repetitions) and checks issue 18's targets; the async-nats ceiling rows
// (ceiling.jsonl, from bench/rust's nats_ceiling) go beside them.
//
//   node report.js <run folder>    (the folder run.sh wrote: *.jsonl, machine.txt)

const path = require('node:path');
const { loadRun, table, median, int } = require('../node-servers/lib/tables');

const { dir, rows, machine } = loadRun();
const target = { speed: 1.5, cpuShare: 0.3 };

function ceiling(op) {
  const runs = rows.filter((r) => r.side === 'rust-async-nats' && r.op === op);
  if (runs.length === 0) return `| ${op} | — | — | — |`;
  const rates = runs.map((r) => r.unitsPerSec);
  return (
    `| ${op} | ${int(median(rates))} (${int(Math.min(...rates))}–${int(Math.max(...rates))}) | ` +
    `${median(runs.map((r) => r.processCpuUsPerOp)).toFixed(2)} | ${median(runs.map((r) => r.load1)).toFixed(1)} |`
  );
}

const md = [
  `# NATS JetStream through Node: Strata vs @nats-io/transport-node + @nats-io/jetstream (run ${path.basename(dir)})`,
  '',
  '```',
  machine,
  '```',
  '',
  '## Publish: one 256-byte payload per call, each awaited until the server acks it',
  '',
  table(rows, 'nats-js', ['publish'], 'msgs/s', target, [64]),
  '',
  '## Receive → ack: draining a consumer of waiting messages, at most 64 unacked (CPU is per message)',
  '',
  table(rows, 'nats-js', ['receive-ack'], 'msgs/s', target, [64]),
  '',
  '## Ceiling: async-nats alone in Rust (no Node), same server and shapes',
  '',
  '| operation | msgs/s (min–max) | process CPU µs/msg | load1 |',
  '| --- | ---: | ---: | ---: |',
  ceiling('publish'),
  ceiling('receive-ack'),
  '',
].join('\n');
process.stdout.write(md);
