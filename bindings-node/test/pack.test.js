'use strict';
// The package as a user gets it: `npm pack` here, `npm install` of the tarball
// into an empty project (offline: it has no dependencies, and nothing is built
// on the installing side), and the demo run from there against the installed
// copy, on the embedded defaults and on a cloud, which proves the clouds are in it.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');
const { uniqueConfig } = require('./support/helpers');

const run = promisify(execFile);
const binding = path.join(__dirname, '..');
const examples = path.join(binding, '..', 'examples');

/** `npm …` in `cwd`, with no npm settings of the checkout leaking in. */
function npm(args, cwd) {
  return run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 240_000,
  });
}

function runDemo(project, extraEnv) {
  const env = { ...process.env, ...extraEnv };
  delete env.STRATA_NATIVE_PATH;
  if (!extraEnv.STRATA_CONFIG) delete env.STRATA_CONFIG;
  return run(process.execPath, [path.join(project, 'app', 'demo.mjs')], {
    cwd: project,
    env,
    timeout: 60_000,
  });
}

test('npm pack gives a tarball that installs into an empty project and runs the demo there', async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-pack-'));
  try {
    const { stdout } = await npm(['pack', '--json', '--pack-destination', work], binding);
    const [packed] = JSON.parse(stdout);
    const files = packed.files.map((f) => f.path).sort();
    const addon = files.filter((f) => f.endsWith('.node'));
    assert.deepEqual(addon, [`strata.${process.platform}-${process.arch}-gnu.node`], 'one addon, for this platform');
    for (const file of ['index.js', 'index.mjs', 'index.d.ts', 'lib/native.js', 'package.json']) {
      assert.ok(files.includes(file), `${file} is in the tarball`);
    }
    const strays = files.filter((f) => /^(src|test|scripts|node_modules|npm)\/|Cargo|\.rs$/.test(f));
    assert.deepEqual(strays, [], 'no sources, tests or build files in the tarball');

    const project = path.join(work, 'project');
    fs.mkdirSync(path.join(project, 'app'), { recursive: true });
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'strata-pack-check', version: '1.0.0', private: true }),
    );
    await npm(['install', '--offline', path.join(work, packed.filename)], project);

    // The demo, unchanged but for where it imports Strata from.
    const source = fs.readFileSync(path.join(examples, 'node', 'upload-pipeline.mjs'), 'utf8');
    const local = "from '../../bindings-node/index.mjs'";
    assert.ok(source.includes(local), 'the demo imports the binding by its checkout path');
    fs.writeFileSync(path.join(project, 'app', 'demo.mjs'), source.replace(local, "from '@strata/runtime'"));
    fs.cpSync(path.join(examples, 'migrations'), path.join(project, 'migrations'), { recursive: true });

    const installed = fs.realpathSync(path.join(project, 'node_modules', '@strata', 'runtime'));
    assert.ok(!installed.startsWith(fs.realpathSync(binding)), `installed as a copy: ${installed}`);

    const embedded = await runDemo(project, {});
    assert.match(embedded.stdout, /on the embedded defaults/);
    assert.match(embedded.stdout, /uploads stored: 3; events processed: 3; failed attempts retried: 1/);

    // A cloud from the same installed package: the AWS config on LocalStack.
    assert.ok(process.env.STRATA_TEST_LOCALSTACK_ENDPOINT, 'LocalStack is running (scripts/test.sh starts it)');
    const configPath = uniqueConfig(path.join(examples, 'configs', 'aws-localstack.json'), project);
    const aws = await runDemo(project, { STRATA_CONFIG: configPath });
    assert.match(aws.stdout, /with config .*aws-localstack\.json/);
    assert.match(aws.stdout, /uploads stored: 3; events processed: 3; failed attempts retried: 1/);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
