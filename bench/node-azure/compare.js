'use strict';

// Strata through Node vs @azure/storage-blob 12.32 (the newest that runs on
// Node 20; 12.33 needs Node 22) on the same Azurite, in one process:
//
//   node --expose-gc compare.js --suite=small|large [--reps=3]
//        [--seconds=2] [--out=results.jsonl]
//
// Suites (bench/node-servers/lib/objects.js; each client used as its
// documentation shows):
//   small    4 KiB objects, 64 in flight: Strata `bucket.upload/download` vs
//            `blockBlobClient.upload(body, length)` / `blobClient.download()`
//            read to the end.
//   large    one 64 MiB object at a time, in MiB/s: Strata the same calls vs
//            `blockBlobClient.uploadData(body)` (one Put Blob below its
//            256 MiB single-shot limit) / `download()` read to the end.
//
// Each repetition measures every pair for both sides, alternating which side
// goes first; the container is deleted at the end.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { binding, machine, flags, within } = require('../node/common');
const { runSuite, failAfter } = require('../node-servers/lib/run-suite');
const { objectSuite } = require('../node-servers/lib/objects');

const opts = flags();
const suite = opts.suite ?? 'small';
const reps = Number(opts.reps ?? 3);
const seconds = Number(opts.seconds ?? 2);
const out = opts.out;

const ENDPOINT = process.env.STRATA_TEST_AZURITE_BLOB_ENDPOINT;
const CONNECTION_STRING = process.env.STRATA_TEST_AZURITE_CONNECTION_STRING;
const CONTAINER = `strata-bench-${process.pid}-${Date.now().toString(36)}`;

if (!ENDPOINT || !CONNECTION_STRING) {
  console.error('compare.js: STRATA_TEST_AZURITE_BLOB_ENDPOINT and STRATA_TEST_AZURITE_CONNECTION_STRING must be set; run it through run.sh');
  process.exit(1);
}

failAfter(20, `compare.js --suite=${suite}`);

/** The infra config Strata loads (as examples/configs/azure-azurite.json): the container both sides use. */
function writeInfraConfig() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-azure-'));
  const config = {
    providers: {
      azure: {
        endpoint: ENDPOINT,
        credentials: { connection_string: 'UseDevelopmentEmulator=true' },
        provision: true,
      },
    },
    objects: { bench: { provider: 'azure', name: CONTAINER } },
  };
  const file = path.join(dir, 'infra.config.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  process.chdir(dir);
  delete process.env.STRATA_CONFIG;
  return file;
}

/** A readable stream's bytes in one Buffer. */
async function readAll(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function main() {
  const config = writeInfraConfig();
  const { BlobServiceClient } = require('@azure/storage-blob');
  const container = BlobServiceClient.fromConnectionString(CONNECTION_STRING).getContainerClient(CONTAINER);
  const { Infra } = binding();
  const infra = await within(60_000, Infra.load(config), 'Infra.load');
  const large = suite === 'large';
  try {
    const sides = await objectSuite({
      large,
      bucket: infra.bucket('bench'),
      other: {
        side: 'azure-sdk',
        put: (key, body) =>
          large
            ? container.getBlockBlobClient(key).uploadData(body)
            : container.getBlockBlobClient(key).upload(body, body.length),
        get: async (key) => readAll((await container.getBlobClient(key).download()).readableStreamBody),
      },
    });
    console.log(JSON.stringify({ machine: { ...machine(), suite, reps, seconds } }));
    await runSuite({ suite, reps, seconds, out, ...sides });
  } finally {
    await within(60_000, infra.close(), 'Infra.close');
    await container.deleteIfExists();
    fs.rmSync(path.dirname(config), { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
