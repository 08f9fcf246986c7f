// The ES module entry: the same objects as the CommonJS one (one addon instance).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const strata = require('./index.js');

export const {
  Infra,
  StrataError,
  ERROR_CODES,
  Topic,
  Message,
  Bucket,
  Cache,
  Database,
  Transaction,
} = strata;
