'use strict';

// Turns one run's measurements into Markdown tables (median of the
// repetitions) and checks issue 17's targets.
//
//   node report.js <run folder>    (the folder run.sh wrote: *.jsonl, machine.txt)

const path = require('node:path');
const { loadRun, table } = require('../node-servers/lib/tables');

const { dir, rows, machine } = loadRun();

const md = [
  `# Service Bus through Node: Strata vs @azure/service-bus on the Service Bus emulator (run ${path.basename(dir)})`,
  '',
  '```',
  machine,
  '```',
  '',
  '## Publish: one 256-byte message per call, each awaited until the broker accepts it',
  '',
  table(rows, 'azure-sdk', ['publish'], 'msgs/s', { speed: 2, cpuShare: 0.1 }, [64]),
  '',
  '## Receive → complete: draining a subscription of waiting messages, at most 64 in hand (CPU is per message)',
  '',
  table(rows, 'azure-sdk', ['receive-ack'], 'msgs/s', { speed: 1.5, cpuShare: 0.1 }, [64]),
  '',
].join('\n');
process.stdout.write(md);
