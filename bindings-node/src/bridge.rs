//! The one channel from the tokio runtime back to the JS thread.
//!
//! Every asynchronous call from JS carries an integer id. Its future runs on the
//! runtime; when it finishes, its `(id, result)` goes into a shared queue. Only the
//! push that finds the queue empty wakes the JS thread (one threadsafe-function
//! call), and that wake-up drains everything queued by then in one go: with many
//! calls in flight, one wake-up settles many promises. Subscription deliveries go
//! through the same queue, encoded into one flat buffer per wake-up.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use napi::bindgen_prelude::{Buffer, FnArgs, Function, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Status, bindgen_prelude::ToNapiValue};
use napi_derive::napi;
use strata_core::sync::lock;
use strata_core::{Error, Result};
use tokio::sync::oneshot;

use crate::errors::{Code, js_error};
use crate::out::{JoinedText, Numbers, Out};
use crate::runtime::runtime;
use crate::wire::Kind;

/// What one wake-up hands to JS: the completion table (three numbers per
/// call: id, [`Kind`], and a number: the value, or a text's length), the
/// values of the completions that need one (buffers, objects, errors) in
/// order, and the texts of the string results joined into one string; then
/// the delivery table and bytes (see [`crate::pubsub`]). Each is `null` when
/// empty. A completion that is `undefined`, a number or a string costs no napi
/// call of its own: with many calls in flight most of the work is writing
/// three numbers (and one string for all the texts).
type WakeArgs = FnArgs<(
    Option<Numbers>,
    Option<Vec<Out>>,
    Option<String>,
    Option<Numbers>,
    Option<Buffer>,
)>;

/// Weak: the wake-up never keeps the process alive by itself; the JS side holds
/// a ref'd handle exactly while something is pending.
type WakeFn = ThreadsafeFunction<(), Unknown<'static>, WakeArgs, Status, false, true>;

/// Everything queued for the next wake-up.
#[derive(Default)]
pub(crate) struct Pending {
    /// Completion rows: id, [`Kind`], number.
    pub(crate) done: Vec<f64>,
    /// Values of the rows of kind `Value` or `Error`, in order.
    pub(crate) values: Vec<Out>,
    /// The strings of the rows of kind `Text`, joined.
    pub(crate) text: JoinedText,
    /// Delivery table, [`crate::wire::DELIVERY_STRIDE`] numbers per message.
    pub(crate) meta: Vec<f64>,
    /// The bytes the delivery table points into.
    pub(crate) bytes: Vec<u8>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.done.is_empty() && self.meta.is_empty()
    }
}

/// How a JS handler settled one delivery: `Ok` acks, `Err(reason)` retries.
pub(crate) type Settlement = std::result::Result<(), String>;

/// The queue, the wake-up, and the deliveries waiting for their JS handler.
pub(crate) struct Hub {
    pending: Arc<Mutex<Pending>>,
    wake: WakeFn,
    settlements: Mutex<Settlements>,
}

#[derive(Default)]
struct Settlements {
    /// Never reused, so a late settlement from a handler that already timed
    /// out cannot settle another delivery.
    next: u64,
    waiting: HashMap<u64, oneshot::Sender<Settlement>>,
}

impl Hub {
    /// Queues something for JS, waking it if the queue was empty.
    pub(crate) fn push(&self, fill: impl FnOnce(&mut Pending)) {
        let was_empty = {
            let mut pending = lock(&self.pending);
            let was_empty = pending.is_empty();
            fill(&mut pending);
            was_empty
        };
        if was_empty {
            // Fails only while the JS environment is shutting down, when there
            // is nobody left to tell.
            let _ = self.wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// Answers call `id`.
    pub(crate) fn complete(&self, id: u32, result: Result<Out>) {
        self.push(|pending| push_result(pending, id, result));
    }

    /// Answers many calls at once (one wake-up at most).
    pub(crate) fn complete_many(&self, results: impl IntoIterator<Item = (u32, Result<Out>)>) {
        self.push(|pending| {
            for (id, result) in results {
                push_result(pending, id, result);
            }
        });
    }

    /// Registers a delivery waiting for its handler; returns its token.
    pub(crate) fn register(&self, reply: oneshot::Sender<Settlement>) -> u64 {
        let mut s = lock(&self.settlements);
        s.next += 1;
        let token = s.next;
        s.waiting.insert(token, reply);
        token
    }

    /// Forgets a delivery whose handler future was dropped (timed out or shut down).
    pub(crate) fn forget(&self, token: u64) {
        lock(&self.settlements).waiting.remove(&token);
    }
}

fn push_result(pending: &mut Pending, id: u32, result: Result<Out>) {
    let (kind, number) = match result {
        Ok(Out::Undefined) => (Kind::Undefined, 0.0),
        Ok(Out::Num(n)) => (Kind::Number, n),
        Ok(Out::Str(text)) => match pending.text.push(text) {
            Ok(units) => (Kind::Text, units as f64),
            Err(text) => {
                pending.values.push(Out::Str(text));
                (Kind::Value, 0.0)
            }
        },
        Ok(value) => {
            pending.values.push(value);
            (Kind::Value, 0.0)
        }
        Err(err) => {
            pending.values.push(Out::error(&err));
            (Kind::Error, 0.0)
        }
    };
    pending
        .done
        .extend_from_slice(&[f64::from(id), f64::from(kind as u8), number]);
}

/// What every native handle carries: the hub to answer through, and whether
/// its `Infra` was closed.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) hub: Arc<Hub>,
    pub(crate) closed: Arc<AtomicBool>,
}

impl Ctx {
    /// A context answering through `hub`, open.
    pub(crate) fn new(hub: Arc<Hub>) -> Self {
        Self {
            hub,
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Runs `fut` on the runtime and answers call `id` with its result. After
    /// `Infra.close()` the call fails with `Closed` without running.
    pub(crate) fn spawn<F>(&self, id: u32, fut: F)
    where
        F: Future<Output = Result<Out>> + Send + 'static,
    {
        if self.is_closed() {
            self.hub.complete(id, Err(closed()));
            return;
        }
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(err) => return self.hub.complete(id, Err(err)),
        };
        let hub = self.hub.clone();
        rt.spawn(async move {
            let result = AssertUnwindSafe(fut)
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(Error::internal("a Strata call panicked")));
            hub.complete(id, result);
        });
    }

    /// Whether the `Infra` was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Fails synchronous calls after close.
    pub(crate) fn check_open(&self) -> napi::Result<(), Code> {
        if self.is_closed() {
            Err(js_error(closed()))
        } else {
            Ok(())
        }
    }
}

/// Runs a synchronous call into the core inside the runtime (building a topic
/// or a subscriber spawns tasks) and turns a panic into an `Internal` error
/// instead of letting it cross into Node.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T>) -> napi::Result<T, Code> {
    let rt = runtime().map_err(js_error)?;
    let _entered = rt.enter();
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(js_error),
        Err(_) => Err(Code::internal("a Strata call panicked")),
    }
}

/// The error of any call on a closed `Infra`.
pub(crate) fn closed() -> Error {
    Error::closed("this Infra has been closed")
}

/// The JS thread's end of the queue: made once per module instance, it owns
/// the wake-up function and is where handlers' settlements come back. All its
/// JS methods are in the one `impl` below; those that belong to another
/// module (`load`, the `_noop` probe) call into it.
#[napi]
pub struct Bridge {
    pub(crate) hub: Arc<Hub>,
}

#[napi]
impl Bridge {
    /// `wake(completions, values, texts, deliveryTable, deliveryBytes)` is
    /// called on the JS thread whenever results are waiting (see [`WakeArgs`]).
    #[napi(constructor)]
    pub fn new(wake: Function<'_, (), Unknown<'static>>) -> napi::Result<Self, Code> {
        let pending = Arc::new(Mutex::new(Pending::default()));
        let queue = pending.clone();
        let wake = wake
            .build_threadsafe_function::<()>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(move |_ctx| {
                let batch = std::mem::take(&mut *lock(&queue));
                let done = (!batch.done.is_empty()).then_some(Numbers(batch.done));
                let values = (!batch.values.is_empty()).then_some(batch.values);
                let text = (!batch.text.is_empty()).then(|| batch.text.into_string());
                let (meta, bytes) = if batch.meta.is_empty() {
                    (None, None)
                } else {
                    (Some(Numbers(batch.meta)), Some(Buffer::from(batch.bytes)))
                };
                Ok(FnArgs::from((done, values, text, meta, bytes)))
            })
            .map_err(|e| Code::internal(e.reason))?;
        Ok(Bridge {
            hub: Arc::new(Hub {
                pending,
                wake,
                settlements: Mutex::default(),
            }),
        })
    }

    /// Settles deliveries: `ok` tokens are acked, `failed[i]` is retried with
    /// `reasons[i]` as the handler error.
    #[napi]
    pub fn settle(&self, ok: &[f64], failed: &[f64], reasons: Vec<String>) {
        let mut replies = Vec::with_capacity(ok.len() + failed.len());
        {
            let mut s = lock(&self.hub.settlements);
            for token in ok {
                if let Some(reply) = s.waiting.remove(&(*token as u64)) {
                    replies.push((reply, Ok(())));
                }
            }
            for (i, token) in failed.iter().enumerate() {
                if let Some(reply) = s.waiting.remove(&(*token as u64)) {
                    let reason = reasons
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| "the handler failed".to_owned());
                    replies.push((reply, Err(reason)));
                }
            }
        }
        // Sent outside the lock: each send may wake a runtime thread.
        for (reply, outcome) in replies {
            // The handler future is gone when its delivery timed out: nothing to do.
            let _ = reply.send(outcome);
        }
    }

    /// Deliveries still waiting for their handler (for tests and diagnostics).
    #[napi(getter)]
    pub fn waiting(&self) -> u32 {
        u32::try_from(lock(&self.hub.settlements).waiting.len()).unwrap_or(u32::MAX)
    }

    /// Loads the config at `path` (or `STRATA_CONFIG`, `./infra.config.json`,
    /// or the embedded defaults) and answers call `id` with a `NativeInfra`.
    #[napi]
    pub fn load(&self, id: u32, path: Option<String>) {
        crate::infra::load(Ctx::new(self.hub.clone()), id, path);
    }

    /// Benchmark probe (see `probe.rs`): answers call `id` with `undefined`
    /// from the runtime.
    #[napi(js_name = "_noop")]
    pub fn noop(&self, id: u32) {
        crate::probe::noop(Ctx::new(self.hub.clone()), id);
    }
}

/// Keeps the conversion impls of [`Out`] honest: it must be usable as a
/// threadsafe-function argument.
const _: fn() = || {
    fn is_arg<T: ToNapiValue>() {}
    is_arg::<Option<Vec<Out>>>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::out::JOINED_TEXT_LIMIT;

    #[test]
    fn string_results_beyond_the_join_limit_travel_as_values() {
        let mut pending = Pending::default();
        let half = JOINED_TEXT_LIMIT / 2 + 1;
        push_result(&mut pending, 1, Ok(Out::Str("a".repeat(half))));
        push_result(&mut pending, 2, Ok(Out::Str("b".repeat(half))));
        push_result(&mut pending, 3, Ok(Out::Str("c".to_owned())));
        let kinds: Vec<f64> = pending.done.chunks(3).map(|row| row[1]).collect();
        let text = f64::from(Kind::Text as u8);
        let value = f64::from(Kind::Value as u8);
        assert_eq!(kinds, [text, value, text]);
        assert_eq!(pending.text.into_string().len(), half + 1);
        assert!(
            matches!(pending.values.as_slice(), [Out::Str(s)] if s.len() == half && s.starts_with('b'))
        );
    }
}
