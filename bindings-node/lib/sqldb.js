'use strict';

const path = require('node:path');
const { call, rejecting, wire } = require('./native');
const { StrataError, invalid, typeOf, checkWellFormed, checkString } = require('./errors');

/**
 * Parameters → `[json, buffers]` in the native encoding (see src/sqldb.rs):
 * JSON cannot tell an integer from a float, a Buffer, a Date or a document
 * from a string, so those are tagged.
 */
function encodeParams(params) {
  if (params === undefined || params === null) return ['[]', []];
  if (!Array.isArray(params)) throw invalid(`SQL parameters must be an array, got ${typeOf(params)}`);
  const buffers = [];
  const encode = (value, index) => {
    if (value === null || value === undefined) return null;
    switch (typeof value) {
      case 'boolean':
        return value;
      case 'string':
        checkWellFormed(value, `SQL parameter $${index + 1}`);
        return value;
      case 'number':
        if (Number.isInteger(value) && Number.isSafeInteger(value)) return { i: value };
        return { f: Number.isFinite(value) ? value : String(value) };
      case 'bigint':
        return { i: value.toString() };
      case 'object':
        if (value instanceof Uint8Array) {
          buffers.push(Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength));
          return { y: buffers.length - 1 };
        }
        if (value instanceof Date) {
          const ms = value.getTime();
          if (Number.isNaN(ms)) throw invalid(`SQL parameter $${index + 1} is an invalid Date`);
          return { t: Math.round(ms * 1000) };
        }
        if (Array.isArray(value)) return { a: value.map((v) => encode(v, index)) };
        return { j: value };
      default:
        throw invalid(`SQL parameter $${index + 1} cannot be ${typeOf(value)}`);
    }
  };
  return [JSON.stringify(params.map(encode)), buffers];
}

// How a cell travels in the row table (`Cell` in src/wire.rs).
const CELL_NULL = wire.cellNull;
const CELL_NUMBER = wire.cellNumber;
const CELL_TRUE = wire.cellTrue;
const CELL_FALSE = wire.cellFalse;
const CELL_TEXT = wire.cellText;
const CELL_DATE = wire.cellDate;

/**
 * The native row table → plain objects, one property per column. `cells`
 * holds two numbers per cell, row by row: a code and its number (the value,
 * a text's length in `text`, or a date's milliseconds); `others` the values
 * of the cells whose code is none of the above, in order.
 */
function toObjects([columns, count, cells, text, others]) {
  const width = columns.length;
  const out = new Array(count);
  let i = 0;
  let at = 0;
  let next = 0;
  for (let r = 0; r < count; r++) {
    const row = {};
    for (let c = 0; c < width; c++, i += 2) {
      let value;
      switch (cells[i]) {
        case CELL_NULL:
          value = null;
          break;
        case CELL_NUMBER:
          value = cells[i + 1];
          break;
        case CELL_TRUE:
          value = true;
          break;
        case CELL_FALSE:
          value = false;
          break;
        case CELL_TEXT: {
          const end = at + cells[i + 1];
          value = text.slice(at, end);
          at = end;
          break;
        }
        case CELL_DATE:
          value = new Date(cells[i + 1]);
          break;
        default:
          value = others[next++];
      }
      row[columns[c]] = value;
    }
    out[r] = row;
  }
  return out;
}

function firstRow(raw) {
  return toObjects(raw)[0];
}

/** Statements on a pool or in a transaction. */
class Queryable {
  /** @returns {Promise<any>} the native handle */
  _native() {
    throw new StrataError('Internal', 'not implemented');
  }

  _run(method, sql, params, map) {
    return rejecting(() => {
      checkString(sql, 'sql');
      const [json, buffers] = encodeParams(params);
      const handle = this._handle;
      if (handle !== undefined) return call((id) => handle[method](id, sql, json, buffers), map);
      return this._native().then((n) => call((id) => n[method](id, sql, json, buffers), map));
    });
  }

  /** Runs a statement (`$1`, `$2`, … placeholders) and resolves its rows as plain objects. */
  query(sql, params) {
    return this._run('query', sql, params, toObjects);
  }

  /** Like `query`, resolving only the first row (or undefined). */
  queryOne(sql, params) {
    return this._run('query', sql, params, firstRow);
  }

  /** Runs a statement and resolves the number of rows it affected. */
  execute(sql, params) {
    return this._run('execute', sql, params);
  }
}

/** An open transaction, handed to the `Database.transaction` callback. */
class Transaction extends Queryable {
  constructor(native) {
    super();
    this._handle = native;
  }
}

/** A SQL database with a connection pool. */
class Database extends Queryable {
  /** @param {() => Promise<any>} open opens the native database */
  constructor(open, name) {
    super();
    /** The database's logical name. */
    this.name = name;
    this._handle = undefined;
    this._opening = undefined;
    this._open = open;
  }

  _native() {
    if (this._opening === undefined) {
      this._opening = this._open().then(
        (n) => {
          this._handle = n;
          return n;
        },
        (err) => {
          // A failed open (a server not up yet) is tried again by the next call.
          this._opening = undefined;
          throw err;
        },
      );
    }
    return this._opening;
  }

  /**
   * Runs `fn` in a transaction: commits when its promise resolves, rolls back
   * when it throws or rejects (and rethrows), resolves what `fn` resolved.
   */
  transaction(fn) {
    return rejecting(() => {
      if (typeof fn !== 'function') throw invalid(`transaction needs a function, got ${typeOf(fn)}`);
      return this._transaction(fn);
    });
  }

  async _transaction(fn) {
    const db = this._handle ?? (await this._native());
    const native = await call((id) => db.begin(id));
    const tx = new Transaction(native);
    let result;
    try {
      result = await fn(tx);
    } catch (err) {
      try {
        await call((id) => native.end(id, false));
      } catch {
        // The callback's error is the one worth reporting; a failed rollback
        // still ends the transaction when its connection goes back.
      }
      throw err;
    }
    await call((id) => native.end(id, true));
    return result;
  }

  /** Applies the pending `.sql` files of `dir` in name order; resolves what was applied. */
  migrate(dir) {
    return rejecting(() => {
      checkString(dir, 'dir');
      const full = path.resolve(dir);
      return this._native().then((db) =>
        call((id) => db.migrate(id, full), ([applied, alreadyApplied]) => ({ applied, alreadyApplied })),
      );
    });
  }
}

module.exports = { Database, Transaction };
