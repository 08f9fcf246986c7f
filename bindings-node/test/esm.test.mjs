// The ES module entry exposes the same objects as the CommonJS one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Infra, StrataError, ERROR_CODES, Message } from '@strata/runtime';

const require = createRequire(import.meta.url);

test('import and require give the same classes', () => {
  const cjs = require('@strata/runtime');
  assert.equal(Infra, cjs.Infra);
  assert.equal(StrataError, cjs.StrataError);
  assert.equal(Message, cjs.Message);
  assert.ok(ERROR_CODES.includes('NotFound'));
});

test('an ES module can load the embedded defaults and round-trip a value', async () => {
  process.chdir(fs.mkdtempSync(path.join(os.tmpdir(), 'strata-node-esm-')));
  const infra = await Infra.load();
  try {
    const cache = infra.cache('esm');
    await cache.set('k', 'v');
    assert.equal(await cache.get('k'), 'v');
  } finally {
    await infra.close();
  }
});
