'use strict';

// Turns one run's measurements into Markdown tables (median of the
// repetitions) and checks issue 15's targets.
//
//   node report.js <run folder>    (the folder run.sh wrote: *.jsonl, machine.txt)

const path = require('node:path');
const { loadRun, table } = require('../node-servers/lib/tables');

const { dir, rows, machine } = loadRun();

const md = [
  `# Azure Blob through Node: Strata vs @azure/storage-blob on Azurite (run ${path.basename(dir)})`,
  '',
  '```',
  machine,
  '```',
  '',
  '## Small objects: 4 KiB upload / download, 64 in flight',
  '',
  table(rows, 'azure-sdk', ['put-4KiB', 'get-4KiB'], 'ops/s', { speed: 1.3, cpuShare: 0.1 }, [64]),
  '',
  '## Large object: 64 MiB upload / download, one at a time (CPU is per object)',
  '',
  table(rows, 'azure-sdk', ['put-64MiB', 'get-64MiB'], 'MiB/s', { speed: 1, cpuShare: 0.3 }, [1]),
  '',
].join('\n');
process.stdout.write(md);
