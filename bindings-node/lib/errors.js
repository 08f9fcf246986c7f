'use strict';

/**
 * The stable error codes, equal to the Rust core's `ErrorCode` strings.
 * @type {readonly string[]}
 */
const ERROR_CODES = Object.freeze([
  'NotFound',
  'AlreadyExists',
  'PreconditionFailed',
  'InvalidArgument',
  'Unavailable',
  'PermissionDenied',
  'ResourceExhausted',
  'Unsupported',
  'Timeout',
  'Closed',
  'InvalidConfig',
  'Conflict',
  'Internal',
]);

const KNOWN = new Set(ERROR_CODES);

/** Every failure of a Strata call: `code` is one of `ERROR_CODES`. */
class StrataError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {unknown} [cause]
   */
  constructor(code, message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'StrataError';
    this.code = KNOWN.has(code) ? code : 'Internal';
  }

  /** Whether retrying the same call later may succeed. */
  get retryable() {
    return this.code === 'Unavailable' || this.code === 'Timeout';
  }
}

/**
 * An error thrown by a synchronous native call as a StrataError: napi's own
 * argument-conversion codes (`StringExpected`, …) mean a wrong argument type.
 * @param {any} err
 * @returns {StrataError}
 */
function fromNative(err) {
  if (err instanceof StrataError) return err;
  const code = err && typeof err.code === 'string' ? err.code : '';
  const message = err && typeof err.message === 'string' ? err.message : String(err);
  if (KNOWN.has(code)) return new StrataError(code, message);
  return new StrataError('InvalidArgument', message, err);
}

/** @param {string} message */
function invalid(message) {
  return new StrataError('InvalidArgument', message);
}

/** A short description of a value's type, for messages. */
function typeOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'a Buffer';
  const t = typeof value;
  return t === 'object' ? `an object (${value.constructor?.name ?? 'no prototype'})` : `a ${t}`;
}

/**
 * Throws InvalidArgument unless the string `value` is well-formed Unicode.
 * Every string that crosses into Rust goes through here: the native
 * conversion would turn each lone surrogate into U+FFFD, so `'a\uD800'` and
 * `'a\uDBFF'` would silently become one key.
 */
function checkWellFormed(value, what) {
  if (!value.isWellFormed()) {
    throw invalid(`${what} is not well-formed Unicode: it holds a lone surrogate (U+D800 to U+DFFF)`);
  }
}

/** Throws InvalidArgument unless `value` is a string of well-formed Unicode. */
function checkString(value, what) {
  if (typeof value !== 'string') throw invalid(`${what} must be a string, got ${typeOf(value)}`);
  checkWellFormed(value, what);
}

/** Throws InvalidArgument unless `value` is a well-formed string or undefined. */
function checkOptString(value, what) {
  if (value === undefined || value === null) return;
  checkString(value, what);
}

/** Throws InvalidArgument unless `value` is an options object or undefined. */
function checkOptions(value, what) {
  if (value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value))) {
    throw invalid(`${what} must be an object, got ${typeOf(value)}`);
  }
  return value ?? {};
}

/** Throws InvalidArgument unless `value` is a finite number (or undefined when optional). */
function checkNumber(value, what, { optional = false, integer = false, min } = {}) {
  if (value === undefined || value === null) {
    if (optional) return undefined;
    throw invalid(`${what} is required`);
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalid(`${what} must be a finite number, got ${typeOf(value)}`);
  }
  if (integer && !Number.isSafeInteger(value)) throw invalid(`${what} must be an integer, got ${value}`);
  if (min !== undefined && value < min) throw invalid(`${what} must be at least ${min}, got ${value}`);
  return value;
}

/** Throws InvalidArgument unless `value` is a boolean or undefined. */
function checkOptBool(value, what) {
  if (value !== undefined && value !== null && typeof value !== 'boolean') {
    throw invalid(`${what} must be a boolean, got ${typeOf(value)}`);
  }
}

/** Throws InvalidArgument unless `value` is a `Record<string, string>` or undefined. */
function checkStringMap(value, what) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) {
    throw invalid(`${what} must be an object of strings, got ${typeOf(value)}`);
  }
  for (const key of Object.keys(value)) {
    checkWellFormed(key, `a name in ${what}`);
    checkString(value[key], `${what}.${key}`);
  }
  return value;
}

/**
 * The reason of a failed handler, for the engine's logs and dead letters:
 * `name: message`, never the stack. A dead letter's reason attribute is read
 * by other systems, and a stack would hand them file paths and code layout.
 */
function reasonOf(err) {
  try {
    if (err instanceof Error) return `${err.name}: ${err.message}`;
    return `non-Error thrown: ${typeof err === 'string' ? err : JSON.stringify(err)}`;
  } catch {
    // A throwing getter or an unserializable value still gives a reason.
    try {
      return `non-Error thrown: ${String(err)}`;
    } catch {
      return 'non-Error thrown';
    }
  }
}

module.exports = {
  ERROR_CODES,
  StrataError,
  fromNative,
  invalid,
  typeOf,
  checkWellFormed,
  checkString,
  checkOptString,
  checkOptions,
  checkNumber,
  checkOptBool,
  checkStringMap,
  reasonOf,
};
