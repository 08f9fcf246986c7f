//! Benchmark probes: calls that do nothing, so that `bench/node` can measure
//! what crossing the boundary costs on its own. They are underscore-named, not
//! part of the API, not typed in `index.d.ts`, and must stay free of side effects.
//!
//! - `bridge._noop(id)` goes the way every Strata call goes: a future on the
//!   runtime, answered through the shared completion queue ([`crate::bridge`]).
//! - `_naiveNoop()` is a plain napi-rs `async fn`: one promise and one
//!   threadsafe-function wake-up per call, the baseline the queue is measured
//!   against.
//! - `_syncNoop()` is a synchronous call: the floor of any native call.

use napi_derive::napi;

use crate::bridge::{Bridge, Ctx};
use crate::out::Out;

#[napi]
impl Bridge {
    /// Benchmark probe: answers call `id` with `undefined` from the runtime.
    #[napi(js_name = "_noop")]
    pub fn noop(&self, id: u32) {
        Ctx::new(self.hub.clone()).spawn(id, async { Ok(Out::Undefined) });
    }
}

/// Benchmark probe: a naive napi-rs async call that does nothing.
#[napi(js_name = "_naiveNoop")]
pub async fn naive_noop() {}

/// Benchmark probe: a synchronous native call that does nothing.
#[napi(js_name = "_syncNoop")]
pub fn sync_noop() {}
