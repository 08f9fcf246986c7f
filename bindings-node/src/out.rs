//! [`Out`]: a result computed on the runtime, turned into a JS value on the JS
//! thread when its completion is drained.
//!
//! Struct-like results (object metadata, rows) go out as arrays that the JS
//! layer turns into objects: building objects in JS is much cheaper than setting
//! properties one napi call at a time.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use napi::bindgen_prelude::{
    Buffer, Float64Array, Float64ArraySlice, JsValue, Null, ToNapiValue, Undefined, i64n,
};
use napi::{Env, sys};
use strata_core::Error;
use strata_core::objects::ObjectMeta;
use strata_core::pubsub::Attributes;

/// Builds a JS value on the JS thread (a native class instance).
type Build = Box<dyn FnOnce(sys::napi_env) -> napi::Result<sys::napi_value> + Send>;

/// A value on its way to JS.
pub(crate) enum Out {
    /// `undefined`.
    Undefined,
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A `bigint` (integers beyond ±(2^53 − 1), `Number.MAX_SAFE_INTEGER`).
    BigInt(i64),
    /// A string.
    Str(String),
    /// A `Buffer`, handed over without a copy.
    Bytes(Bytes),
    /// A `Date`, in milliseconds since the epoch.
    Date(f64),
    /// A parsed JSON value.
    Json(serde_json::Value),
    /// An array.
    List(Vec<Out>),
    /// A `Float64Array`.
    Floats(Numbers),
    /// A native class instance.
    Class(Build),
}

impl Out {
    /// An error as `[code, message]`.
    pub(crate) fn error(err: &Error) -> Out {
        Out::List(vec![
            Out::Str(err.code().as_str().to_owned()),
            Out::Str(err.message().to_owned()),
        ])
    }

    /// A native class instance (any `#[napi]` struct).
    pub(crate) fn class<T: ToNapiValue + Send + 'static>(value: T) -> Out {
        // SAFETY: called by `to_napi_value` below with the env it was given, on
        // the JS thread.
        Out::Class(Box::new(move |env| unsafe { T::to_napi_value(env, value) }))
    }

    /// A `u64` count, as a number (exact up to 2^53, which no count reaches).
    pub(crate) fn count(n: u64) -> Out {
        Out::Num(n as f64)
    }

    /// An integer: a number when exact, else a `bigint`.
    pub(crate) fn int(n: i64) -> Out {
        const MAX_SAFE: i64 = (1 << 53) - 1;
        if (-MAX_SAFE..=MAX_SAFE).contains(&n) {
            Out::Num(n as f64)
        } else {
            Out::BigInt(n)
        }
    }

    /// An optional string.
    pub(crate) fn opt_str(s: Option<String>) -> Out {
        s.map_or(Out::Null, Out::Str)
    }

    /// A list of strings.
    pub(crate) fn strs(items: Vec<String>) -> Out {
        Out::List(items.into_iter().map(Out::Str).collect())
    }

    /// Object metadata as
    /// `[key, size, etag, contentType|null, lastModifiedMs, [k, v, k, v, …]]`.
    pub(crate) fn meta(meta: ObjectMeta) -> Out {
        Out::List(vec![
            Out::Str(meta.key),
            Out::count(meta.size),
            Out::Str(meta.etag),
            Out::opt_str(meta.content_type),
            Out::Num(millis(meta.last_modified)),
            flat_map(meta.metadata),
        ])
    }
}

/// A string map as `[k, v, k, v, …]`.
pub(crate) fn flat_map(map: Attributes) -> Out {
    let mut flat = Vec::with_capacity(map.len() * 2);
    for (k, v) in map {
        flat.push(Out::Str(k));
        flat.push(Out::Str(v));
    }
    Out::List(flat)
}

/// Numbers on their way to JS as a `Float64Array`.
///
/// Up to [`Numbers::COPY_UP_TO`] of them are copied into memory V8 owns; more
/// are handed over without a copy. An external buffer costs a finalizer that
/// the garbage collector must run later, which for the few numbers of one
/// call's completion costs more than the copy.
pub(crate) struct Numbers(pub(crate) Vec<f64>);

impl Numbers {
    /// 64 KiB.
    const COPY_UP_TO: usize = 8192;
}

impl ToNapiValue for Numbers {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY: `env` is the live env napi handed to this conversion, on the
        // JS thread.
        unsafe {
            if val.0.len() <= Self::COPY_UP_TO {
                let copy = Float64ArraySlice::copy_from(&Env::from_raw(env), &val.0)?;
                Ok(copy.raw())
            } else {
                Float64Array::to_napi_value(env, Float64Array::new(val.0))
            }
        }
    }
}

/// The most bytes of text joined into one JS string (a wake-up's string
/// results, a result set's text cells); texts beyond it travel as strings of
/// their own. V8 refuses strings longer than about 2^29 units, and texts that
/// each fit must not fail together.
pub(crate) const JOINED_TEXT_LIMIT: usize = 64 << 20;

/// Texts joined into one JS string, each read back by its length in UTF-16
/// units (what JS's `slice` counts): one string crosses instead of many.
pub(crate) struct JoinedText {
    text: String,
    limit: usize,
}

impl Default for JoinedText {
    fn default() -> Self {
        Self::with_limit(JOINED_TEXT_LIMIT)
    }
}

impl JoinedText {
    /// Joins at most `limit` bytes.
    pub(crate) fn with_limit(limit: usize) -> Self {
        Self {
            text: String::new(),
            limit,
        }
    }

    /// Appends `text` and answers its length in UTF-16 units; gives it back
    /// when joining it would pass the limit, to travel as a string of its own.
    pub(crate) fn push(&mut self, text: String) -> Result<usize, String> {
        if self.text.len() + text.len() > self.limit {
            return Err(text);
        }
        self.text.push_str(&text);
        Ok(if text.is_ascii() {
            text.len()
        } else {
            text.encode_utf16().count()
        })
    }

    /// Whether nothing was joined.
    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The joined text.
    pub(crate) fn into_string(self) -> String {
        self.text
    }
}

/// Milliseconds since the epoch (negative before it).
pub(crate) fn millis(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -(e.duration().as_secs_f64() * 1000.0),
    }
}

impl ToNapiValue for Out {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY (every arm): `env` is the live env napi handed to this
        // conversion, on the JS thread.
        unsafe {
            match val {
                Out::Undefined => Undefined::to_napi_value(env, ()),
                Out::Null => Null::to_napi_value(env, Null),
                Out::Bool(b) => bool::to_napi_value(env, b),
                Out::Num(n) => f64::to_napi_value(env, n),
                Out::BigInt(n) => i64n::to_napi_value(env, i64n(n)),
                Out::Str(s) => String::to_napi_value(env, s),
                Out::Bytes(b) => Buffer::to_napi_value(env, Buffer::from(Vec::<u8>::from(b))),
                Out::Date(ms) => Ok(Env::from_raw(env).create_date(ms)?.raw()),
                Out::Json(v) => serde_json::Value::to_napi_value(env, v),
                Out::List(items) => Vec::<Out>::to_napi_value(env, items),
                Out::Floats(numbers) => Numbers::to_napi_value(env, numbers),
                Out::Class(build) => build(env),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_text_counts_utf16_units_and_gives_back_what_passes_the_limit() {
        let mut joined = JoinedText::with_limit(8);
        assert_eq!(joined.push("ab".to_owned()), Ok(2));
        // "é" is 2 bytes, 1 unit; "😀" is 4 bytes, 2 units: 8 bytes in all.
        assert_eq!(joined.push("é😀".to_owned()), Ok(3));
        assert_eq!(joined.push("x".to_owned()), Err("x".to_owned()));
        assert_eq!(joined.push(String::new()), Ok(0));
        assert_eq!(joined.into_string(), "abé😀");
    }
}
