'use strict';

// @strata/runtime: portable pub/sub, object storage, cache and SQL for Node.js.
// The I/O runs on a Rust runtime inside this process; see lib/native.js for how
// results come back to the JS thread.

const { Infra } = require('./lib/infra');
const { StrataError, ERROR_CODES } = require('./lib/errors');
const { Topic, Message } = require('./lib/pubsub');
const { Bucket } = require('./lib/objects');
const { Cache } = require('./lib/cache');
const { Database, Transaction } = require('./lib/sqldb');

module.exports = {
  Infra,
  StrataError,
  ERROR_CODES,
  Topic,
  Message,
  Bucket,
  Cache,
  Database,
  Transaction,
};
