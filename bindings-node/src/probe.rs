//! Benchmark probes: calls that do nothing, so that `bench/node` can measure
//! what crossing the boundary costs on its own. They are underscore-named, not
//! part of the API, not typed in `index.d.ts`, and must stay free of side effects.
//!
//! - `bridge._noop(id)` goes the way every Strata call goes: a future on the
//!   runtime, answered through the shared completion queue ([`crate::bridge`]);
//!   it is a method of `Bridge`, so it sits with the others in `bridge.rs` and
//!   calls [`noop`] here.
//! - `_naiveNoop()` is a plain napi-rs `async fn`: one promise and one
//!   threadsafe-function wake-up per call, the baseline the queue is measured
//!   against.
//! - `_syncNoop()` is a synchronous call: the floor of any native call.

use napi_derive::napi;

use crate::bridge::Ctx;
use crate::out::Out;

/// Benchmark probe: answers call `id` with `undefined` from the runtime.
pub(crate) fn noop(ctx: Ctx, id: u32) {
    ctx.spawn(id, async { Ok(Out::Undefined) });
}

/// Benchmark probe: a naive napi-rs async call that does nothing.
#[napi(js_name = "_naiveNoop")]
pub async fn naive_noop() {}

/// Benchmark probe: a synchronous native call that does nothing.
#[napi(js_name = "_syncNoop")]
pub fn sync_noop() {}
