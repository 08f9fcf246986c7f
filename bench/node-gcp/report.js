'use strict';

// Turns one run's measurements into Markdown tables (median of the
// repetitions) and checks issue 6's targets.
//
//   node report.js <run folder>    (the folder run.sh wrote: *.jsonl, machine.txt)

const path = require('node:path');
const { loadRun, table } = require('../node-servers/lib/tables');

const { dir, rows, machine } = loadRun();

const md = [
  `# GCP through Node: Strata vs @google-cloud/pubsub and @google-cloud/storage on the emulators (run ${path.basename(dir)})`,
  '',
  '```',
  machine,
  '```',
  '',
  '## Publish: one 256-byte message per call (both clients batch)',
  '',
  table(rows, 'google', ['publish'], 'msgs/s', { speed: 1 }, [64]),
  '',
  '## Receive → ack: draining a subscription of waiting messages (CPU is per message)',
  '',
  table(rows, 'google', ['receive-ack'], 'msgs/s', { speed: 1.5 }, [64]),
  '',
  '## Small objects: 4 KiB put / get',
  '',
  table(rows, 'google', ['put-4KiB', 'get-4KiB'], 'ops/s', { speed: 1.3 }, [64]),
  '',
].join('\n');
process.stdout.write(md);
