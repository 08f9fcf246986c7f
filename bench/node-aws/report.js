'use strict';

// Turns one run's measurements into Markdown tables (median of the
// repetitions) and checks issue 5's targets.
//
//   node report.js <run folder>    (the folder run.sh wrote: *.jsonl, machine.txt)

const path = require('node:path');
const { loadRun, table } = require('../node-servers/lib/tables');

const { dir, rows, machine } = loadRun();

const md = [
  `# AWS through Node: Strata vs the AWS SDK for JavaScript v3 on LocalStack (run ${path.basename(dir)})`,
  '',
  '```',
  machine,
  '```',
  '',
  '## Publish: one 256-byte message per call to an SNS topic with one SQS subscription',
  '',
  table(rows, 'aws-sdk', ['publish'], 'msgs/s', { speed: 5 }, [64]),
  '',
  '## Small objects: 4 KiB put / get',
  '',
  table(rows, 'aws-sdk', ['put-4KiB', 'get-4KiB'], 'ops/s', { speed: 1.3 }, [64]),
  '',
  '## Large object: 64 MiB put / get, one at a time (CPU is per object)',
  '',
  table(rows, 'aws-sdk', ['put-64MiB', 'get-64MiB'], 'MiB/s', { speed: 1, cpuShare: 0.3 }, [1]),
  '',
].join('\n');
process.stdout.write(md);
