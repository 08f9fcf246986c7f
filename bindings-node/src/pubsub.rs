//! Topics and subscriptions across the boundary.
//!
//! Publishing: the JS layer queues the publishes of one event-loop turn and
//! hands each topic's queue over in one `publishBatch` call: a table of numbers
//! and one byte buffer (see [`PUBLISH_STRIDE`](crate::wire::PUBLISH_STRIDE)), so the per-message cost on
//! the JS thread is a few array pushes, not a native call. The batch is
//! appended, undecoded, to the topic's native queue; one task per topic decodes
//! what is queued and drains it into `Topic::publish_many` batch after batch (in call order, so ordering keys
//! keep their order), and the ids come back through the hub, many per wake-up.
//! `Infra.close()` waits for every topic's queue to drain before closing
//! ([`TopicQueue::flushed`]), so a publish issued just before it is not lost.
//!
//! Delivering: the subscriber engine calls the handler made by [`js_handler`] on
//! the runtime. It appends the message to the hub's delivery table and waits for
//! the JS handler's settlement, which comes back in batches through
//! `Bridge.settle`. A handler future dropped by the engine (timeout, shutdown)
//! forgets its token, so a late settlement is ignored.

use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::FutureExt;
use napi_derive::napi;
use strata_core::Error;
use strata_core::pubsub::{Handler, HandlerError, Message, Topic};
use strata_core::sync::lock;
use tokio::sync::{Notify, oneshot};

use crate::bridge::{Ctx, Hub, Pending, Settlement, closed};
use crate::out::{Out, millis};
use crate::publish_codec::{decode_publish, write_attributes};
use crate::runtime::runtime;
use crate::wire::{DELIVERY_STRIDE, PUBLISH_STRIDE};

/// One topic's publisher.
#[napi]
pub struct NativeTopic {
    inner: Arc<TopicQueue>,
    ctx: Ctx,
}

/// A topic's native publish queue, shared by its `NativeTopic` and the
/// `NativeInfra` that waits for it on close.
pub(crate) struct TopicQueue {
    topic: Topic,
    queue: Mutex<PublishQueue>,
    /// Woken when a drain task finishes.
    idle: Notify,
}

#[derive(Default)]
struct PublishQueue {
    /// `publishBatch` calls not yet decoded, in call order.
    batches: Vec<RawBatch>,
    /// A drain task is running and will see anything appended.
    draining: bool,
}

/// One `publishBatch` call as it came from JS, decoded on the runtime so that
/// the JS thread does two copies per turn and nothing per message.
struct RawBatch {
    table: Vec<f64>,
    bytes: Bytes,
}

impl RawBatch {
    /// The call ids of its messages.
    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.table
            .chunks_exact(PUBLISH_STRIDE)
            .map(|row| row[0] as u32)
    }
}

impl NativeTopic {
    pub(crate) fn new(topic: Topic, ctx: Ctx) -> Self {
        Self {
            inner: Arc::new(TopicQueue {
                topic,
                queue: Mutex::default(),
                idle: Notify::new(),
            }),
            ctx,
        }
    }

    /// The queue, for `NativeInfra` to wait on at close.
    pub(crate) fn queue(&self) -> Arc<TopicQueue> {
        self.inner.clone()
    }

    /// Appends to the native queue, starting the drain task if none runs.
    fn enqueue(&self, batch: RawBatch) {
        let start = {
            let mut queue = lock(&self.inner.queue);
            queue.batches.push(batch);
            !std::mem::replace(&mut queue.draining, true)
        };
        if !start {
            return;
        }
        match runtime() {
            Ok(rt) => {
                rt.spawn(drain(self.inner.clone(), self.ctx.hub.clone()));
            }
            Err(err) => {
                let batches = {
                    let mut queue = lock(&self.inner.queue);
                    queue.draining = false;
                    std::mem::take(&mut queue.batches)
                };
                self.inner.idle.notify_waiters();
                self.ctx.hub.complete_many(
                    batches
                        .iter()
                        .flat_map(RawBatch::ids)
                        .map(|id| (id, Err(Error::new(err.code(), err.message())))),
                );
            }
        }
    }
}

impl TopicQueue {
    /// Returns once nothing is queued or being published by the drain task.
    pub(crate) async fn flushed(&self) {
        loop {
            let mut idle = pin!(self.idle.notified());
            // Registered before looking, so a drain ending in between is seen.
            idle.as_mut().enable();
            if !lock(&self.queue).draining {
                return;
            }
            idle.await;
        }
    }
}

#[napi]
impl NativeTopic {
    /// Publishes the messages JS queued in one turn. `table` holds
    /// [`PUBLISH_STRIDE`] numbers per message and `bytes` their payloads,
    /// attributes (a JSON object of strings) and ordering keys; each call id
    /// is answered with its message id or its own error.
    #[napi]
    pub fn publish_batch(&self, table: &[f64], bytes: &[u8]) {
        let batch = RawBatch {
            table: table.to_vec(),
            // One copy of everything; each payload becomes a slice of it.
            bytes: Bytes::copy_from_slice(bytes),
        };
        if self.ctx.is_closed() {
            self.ctx
                .hub
                .complete_many(batch.ids().map(|id| (id, Err(closed()))));
            return;
        }
        if !batch.table.is_empty() {
            self.enqueue(batch);
        }
    }

    /// The topic's logical name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.topic.name().to_owned()
    }
}

/// Publishes everything queued, batch after batch, until the queue is empty.
async fn drain(inner: Arc<TopicQueue>, hub: Arc<Hub>) {
    loop {
        let batches = {
            let mut queue = lock(&inner.queue);
            if queue.batches.is_empty() {
                queue.draining = false;
                drop(queue);
                inner.idle.notify_waiters();
                return;
            }
            std::mem::take(&mut queue.batches)
        };
        let mut ids = Vec::new();
        let mut messages = Vec::new();
        let mut failed = Vec::new();
        for batch in &batches {
            let mut offset = 0;
            for row in batch.table.chunks_exact(PUBLISH_STRIDE) {
                let id = row[0] as u32;
                match decode_publish(row, &batch.bytes, &mut offset) {
                    Ok(message) => {
                        ids.push(id);
                        messages.push(message);
                    }
                    Err(err) => failed.push((id, Err(err))),
                }
            }
        }
        drop(batches);
        if !failed.is_empty() {
            hub.complete_many(failed);
        }
        let count = ids.len();
        // Every caller's attributes were checked by `decode_publish`; the
        // content type it added is Strata's own.
        let results = AssertUnwindSafe(inner.topic.publish_many_as_strata(messages))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                (0..count)
                    .map(|_| Err(Error::internal("publishing panicked")))
                    .collect()
            });
        hub.complete_many(
            ids.into_iter()
                .zip(results)
                .map(|(id, r)| (id, r.map(Out::Str))),
        );
    }
}

/// The core handler that hands each message to JS subscription `sub_id`.
pub(crate) fn js_handler(hub: Arc<Hub>, sub_id: u32) -> Handler {
    Arc::new(move |message: Message| {
        let (reply, settled) = oneshot::channel::<Settlement>();
        let token = hub.register(reply);
        hub.push(|pending| encode_delivery(pending, sub_id, token, &message));
        let mut forget = ForgetOnDrop {
            hub: hub.clone(),
            token,
            armed: true,
        };
        Box::pin(async move {
            let outcome = settled.await;
            // A settlement took the entry out already; only a closed channel
            // (the hub dropped it) leaves nothing to forget either.
            forget.disarm();
            match outcome {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reason)) => Err(HandlerError::from(reason)),
                Err(_) => Err(HandlerError::from(
                    "the JS side went away before the handler settled",
                )),
            }
        })
    })
}

/// Drops the token's entry when the handler future goes away unsettled
/// (timed out, or its subscriber shut down).
struct ForgetOnDrop {
    hub: Arc<Hub>,
    token: u64,
    /// False once the settlement arrived: the entry is gone, and taking the
    /// lock again for nothing would cost every message.
    armed: bool,
}

impl ForgetOnDrop {
    /// Called once settled. A method, not a field write: the async block must
    /// own the whole guard (a closure capturing just the field would let the
    /// guard drop, and forget the delivery, as soon as the future is made).
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ForgetOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.hub.forget(self.token);
        }
    }
}

fn encode_delivery(pending: &mut Pending, sub_id: u32, token: u64, message: &Message) {
    let offset = pending.bytes.len();
    let bytes = &mut pending.bytes;
    bytes.extend_from_slice(message.id.as_bytes());
    let key_len = match &message.ordering_key {
        Some(key) => {
            bytes.extend_from_slice(key.as_bytes());
            key.len() as f64
        }
        None => -1.0,
    };
    let attrs_len = if message.attributes.is_empty() {
        0
    } else {
        let before = bytes.len();
        write_attributes(bytes, &message.attributes);
        bytes.len() - before
    };
    bytes.extend_from_slice(&message.data);
    pending.meta.extend_from_slice(&[
        f64::from(sub_id),
        token as f64,
        f64::from(message.delivery_attempt),
        millis(message.publish_time),
        offset as f64,
        message.id.len() as f64,
        key_len,
        attrs_len as f64,
        message.data.len() as f64,
    ]);
    debug_assert!(pending.meta.len().is_multiple_of(DELIVERY_STRIDE));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use strata_core::pubsub::Attributes;

    use super::*;

    fn message(id: &str, key: Option<&str>, attrs: &[(&str, &str)], data: &[u8]) -> Message {
        Message {
            id: id.to_owned(),
            data: Bytes::copy_from_slice(data),
            attributes: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ordering_key: key.map(str::to_owned),
            publish_time: UNIX_EPOCH + Duration::from_millis(1_234),
            delivery_attempt: 3,
        }
    }

    /// Reads field `n` (a byte length) of delivery `i` and returns its bytes.
    fn field(p: &Pending, i: usize, n: usize) -> &[u8] {
        let row = &p.meta[i * DELIVERY_STRIDE..(i + 1) * DELIVERY_STRIDE];
        let mut start = row[4] as usize;
        for len in &row[5..5 + n] {
            start += len.max(0.0) as usize;
        }
        let len = row[5 + n].max(0.0) as usize;
        &p.bytes[start..start + len]
    }

    #[test]
    fn attributes_are_valid_json_whatever_they_hold() {
        let cases: &[&[(&str, &str)]] = &[
            &[("a", "1")],
            &[
                ("strata.content_type", "text/plain; charset=utf-8"),
                ("k", "v"),
            ],
            &[
                ("quote\"d", "back\\slash"),
                ("ctl", "line\nbreak\ttab\u{1}"),
            ],
            &[("ünï", "🚀 €")],
            &[("", "")],
        ];
        for attrs in cases {
            let map: Attributes = attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let mut out = Vec::new();
            write_attributes(&mut out, &map);
            let back: Attributes = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, map);
            assert_eq!(out, serde_json::to_vec(&map).unwrap());
        }
    }

    #[test]
    fn deliveries_encode_into_one_table_and_one_buffer() {
        let mut pending = Pending::default();
        let first = message("m-1", Some("key"), &[("a", "1")], b"payload");
        let second = message("m-2", None, &[], b"");
        encode_delivery(&mut pending, 7, 11, &first);
        encode_delivery(&mut pending, 8, 12, &second);
        assert_eq!(pending.meta.len(), 2 * DELIVERY_STRIDE);
        assert_eq!(&pending.meta[..4], &[7.0, 11.0, 3.0, 1_234.0]);
        assert_eq!(field(&pending, 0, 0), b"m-1");
        assert_eq!(field(&pending, 0, 1), b"key");
        assert_eq!(field(&pending, 0, 2), br#"{"a":"1"}"#);
        assert_eq!(field(&pending, 0, 3), b"payload");
        assert_eq!(field(&pending, 1, 0), b"m-2");
        assert_eq!(pending.meta[DELIVERY_STRIDE + 6], -1.0, "no ordering key");
        assert_eq!(pending.meta[DELIVERY_STRIDE + 7], 0.0, "no attributes");
        assert_eq!(field(&pending, 1, 3), b"");
        assert_eq!(
            pending.bytes.len(),
            pending.meta[DELIVERY_STRIDE + 4] as usize + 3
        );
    }
}
