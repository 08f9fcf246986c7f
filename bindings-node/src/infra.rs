//! `NativeInfra`: the live providers of one `Infra.load()`, and the factory of
//! every other native handle.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi_derive::napi;
use strata_core::pubsub::RetryPolicy;
use strata_core::sync::lock;
use strata_infra::{Infra, SubscribeOptions};

use crate::bridge::{Ctx, guarded};
use crate::cache::NativeKeyspace;
use crate::errors::{Code, invalid};
use crate::objects::NativeBucket;
use crate::out::Out;
use crate::pubsub::{NativeTopic, TopicQueue, js_handler};
use crate::sqldb::NativeDatabase;

/// The providers built from one infra config.
#[napi]
pub struct NativeInfra {
    infra: Infra,
    ctx: Ctx,
    /// The publish queues of the topics made here, flushed before closing.
    topics: Arc<Mutex<Vec<Arc<TopicQueue>>>>,
}

/// Loads the config at `path` (or `STRATA_CONFIG`, `./infra.config.json`, or
/// the embedded defaults) and answers call `id` with a `NativeInfra`; what
/// `bridge.load` does.
pub(crate) fn load(ctx: Ctx, id: u32, path: Option<String>) {
    let child = ctx.clone();
    ctx.spawn(id, async move {
        let path = path.map(PathBuf::from);
        let infra = Infra::load_from(path.as_deref()).await?;
        Ok(Out::class(NativeInfra {
            infra,
            ctx: child,
            topics: Arc::default(),
        }))
    });
}

/// What `subscribe` takes besides the names; all optional.
#[napi(object)]
pub struct NativeSubscribeOptions {
    /// Handlers running at once.
    pub max_concurrency: Option<u32>,
    /// First retry delay.
    pub min_backoff_ms: Option<f64>,
    /// Longest retry delay.
    pub max_backoff_ms: Option<f64>,
    /// Deliveries before dead-lettering; needs a dead-letter topic, here or
    /// in the config (which wins where it sets either).
    pub max_attempts: Option<u32>,
    /// Logical name of the dead-letter topic; needs `max_attempts`, here or
    /// in the config.
    pub dead_letter_topic: Option<String>,
    /// Longest a handler may run before its message is retried.
    pub handler_timeout_ms: Option<f64>,
}

#[napi]
impl NativeInfra {
    /// The topic with this logical name.
    #[napi]
    pub fn topic(&self, name: String) -> napi::Result<NativeTopic, Code> {
        self.ctx.check_open()?;
        let topic = guarded(|| self.infra.topic(&name))?;
        let topic = NativeTopic::new(topic, self.ctx.clone());
        lock(&self.topics).push(topic.queue());
        Ok(topic)
    }

    /// The bucket with this logical name.
    #[napi]
    pub fn bucket(&self, name: String) -> napi::Result<NativeBucket, Code> {
        self.ctx.check_open()?;
        let bucket = guarded(|| self.infra.bucket(&name))?;
        Ok(NativeBucket::new(bucket, self.ctx.clone()))
    }

    /// The cache keyspace with this logical name.
    #[napi]
    pub fn cache(&self, name: String) -> napi::Result<NativeKeyspace, Code> {
        self.ctx.check_open()?;
        let keyspace = guarded(|| self.infra.cache(&name))?;
        Ok(NativeKeyspace::new(keyspace, self.ctx.clone()))
    }

    /// Opens the database with this logical name; answers `id` with a
    /// `NativeDatabase`.
    #[napi]
    pub fn database(&self, id: u32, name: String) {
        let infra = self.infra.clone();
        let ctx = self.ctx.clone();
        self.ctx.spawn(id, async move {
            let db = infra.database(&name).await?;
            Ok(Out::class(NativeDatabase::new(db, ctx)))
        });
    }

    /// Starts delivering messages of `subscription` on `topic` to the JS
    /// subscription `sub_id` (see `Bridge` deliveries).
    #[napi]
    pub fn subscribe(
        &self,
        topic: String,
        subscription: String,
        sub_id: u32,
        options: Option<NativeSubscribeOptions>,
    ) -> napi::Result<(), Code> {
        self.ctx.check_open()?;
        let options = subscribe_options(options)?;
        let handler = js_handler(self.ctx.hub.clone(), sub_id);
        guarded(|| {
            self.infra
                .subscribe(&topic, &subscription, handler, options)
        })
    }

    /// Waits for the publishes handed over so far to reach their topics, then
    /// drains subscriptions (in-flight handlers finish), flushes the topics and
    /// closes pools; later calls fail with `Closed`. Answers `id` when done.
    #[napi]
    pub fn close(&self, id: u32) {
        let infra = self.infra.clone();
        let closed = self.ctx.closed.clone();
        // Not `ctx.spawn`: closing twice must succeed, not fail with `Closed`.
        let ctx = Ctx::new(self.ctx.hub.clone());
        let topics = self.topics.clone();
        ctx.spawn(id, async move {
            let queues = lock(&topics).clone();
            for queue in queues {
                queue.flushed().await;
            }
            let result = infra.close().await;
            // The spans of what just closed, exported before the process may exit.
            let _ = tokio::task::spawn_blocking(crate::telemetry::flush).await;
            // Calls made while draining still ran (handlers may need them);
            // from now on they fail.
            closed.store(true, Ordering::Release);
            result.map(|()| Out::Undefined)
        });
    }

    /// Whether `close` has finished.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.ctx.is_closed()
    }
}

fn subscribe_options(
    options: Option<NativeSubscribeOptions>,
) -> napi::Result<SubscribeOptions, Code> {
    let mut out = SubscribeOptions::default();
    let Some(o) = options else {
        return Ok(out);
    };
    if let Some(n) = o.max_concurrency {
        if n == 0 {
            return Err(invalid("maxConcurrency must be at least 1"));
        }
        out.max_concurrency = Some(n as usize);
    }
    if o.min_backoff_ms.is_some() || o.max_backoff_ms.is_some() {
        let mut retry = RetryPolicy::default();
        if let Some(ms) = o.min_backoff_ms {
            retry.min_backoff = millis("minBackoffMs", ms)?;
        }
        if let Some(ms) = o.max_backoff_ms {
            retry.max_backoff = millis("maxBackoffMs", ms)?;
        }
        if retry.max_backoff < retry.min_backoff {
            return Err(invalid(format!(
                "maxBackoffMs ({:?}) is below minBackoffMs ({:?})",
                retry.max_backoff, retry.min_backoff
            )));
        }
        out.retry = Some(retry);
    }
    // Each is merged with the config's on its own (the config wins where it
    // sets one), so either may come without the other; the pair is checked
    // after the merge.
    if o.max_attempts == Some(0) {
        return Err(invalid("maxAttempts must be at least 1"));
    }
    out.max_attempts = o.max_attempts;
    out.dead_letter_topic = o.dead_letter_topic;
    if let Some(ms) = o.handler_timeout_ms {
        let timeout = millis("handlerTimeoutMs", ms)?;
        if timeout.is_zero() {
            return Err(invalid("handlerTimeoutMs must be positive"));
        }
        out.handler_timeout = Some(timeout);
    }
    Ok(out)
}

/// A non-negative, finite number of milliseconds.
pub(crate) fn millis(what: &str, ms: f64) -> napi::Result<Duration, Code> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(invalid(format!(
            "{what} must be a non-negative number of milliseconds, got {ms}"
        )));
    }
    Duration::try_from_secs_f64(ms / 1000.0)
        .map_err(|_| invalid(format!("{what} is too large: {ms}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn options() -> NativeSubscribeOptions {
        NativeSubscribeOptions {
            max_concurrency: None,
            min_backoff_ms: None,
            max_backoff_ms: None,
            max_attempts: None,
            dead_letter_topic: None,
            handler_timeout_ms: None,
        }
    }

    #[test]
    fn subscribe_options_map_to_the_core_options() {
        let opts = subscribe_options(Some(NativeSubscribeOptions {
            max_concurrency: Some(8),
            min_backoff_ms: Some(10.0),
            max_backoff_ms: Some(2_000.0),
            max_attempts: Some(4),
            dead_letter_topic: Some("dead".into()),
            handler_timeout_ms: Some(1_500.0),
        }))
        .unwrap();
        assert_eq!(opts.max_concurrency, Some(8));
        let retry = opts.retry.unwrap();
        assert_eq!(retry.min_backoff, Duration::from_millis(10));
        assert_eq!(retry.max_backoff, Duration::from_secs(2));
        assert_eq!(opts.max_attempts, Some(4));
        assert_eq!(opts.dead_letter_topic.as_deref(), Some("dead"));
        assert_eq!(opts.handler_timeout, Some(Duration::from_millis(1_500)));
    }

    #[test]
    fn inconsistent_subscribe_options_are_rejected() {
        let cases = [
            NativeSubscribeOptions {
                max_concurrency: Some(0),
                ..options()
            },
            NativeSubscribeOptions {
                max_attempts: Some(0),
                ..options()
            },
            NativeSubscribeOptions {
                min_backoff_ms: Some(500.0),
                max_backoff_ms: Some(100.0),
                ..options()
            },
            NativeSubscribeOptions {
                handler_timeout_ms: Some(f64::NAN),
                ..options()
            },
            NativeSubscribeOptions {
                handler_timeout_ms: Some(0.0),
                ..options()
            },
        ];
        for (i, case) in cases.into_iter().enumerate() {
            let err = subscribe_options(Some(case)).err();
            assert!(err.is_some(), "case {i} was accepted");
            assert_eq!(err.unwrap().status.as_ref(), "InvalidArgument", "case {i}");
        }
    }
}
