//! How the batcher answers each publish: on its own channel, or in a
//! [`SharedReply`] that answers a whole `publish_many` chunk at once; either
//! way the answer also closes the message's create span.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tracing::Span;

use crate::pubsub::spans;
use crate::sync::lock;
use crate::{Error, Result};

/// Where one publish's answer goes, and the span it ends.
pub(super) struct Reply {
    to: ReplyTo,
    /// The message's create span: every answer, whichever path gives it,
    /// records the id or the error on it.
    span: Span,
}

enum ReplyTo {
    /// Its own channel ([`Topic::publish`]).
    One(oneshot::Sender<Result<String>>),
    /// Position `.1` of a chunk of [`Topic::publish_many`].
    Shared(Arc<SharedReply>, usize),
}

impl Reply {
    /// An answer on its own channel.
    pub(super) fn one(reply: oneshot::Sender<Result<String>>, span: Span) -> Self {
        Self {
            to: ReplyTo::One(reply),
            span,
        }
    }

    /// An answer at `index` of a shared chunk.
    pub(super) fn shared(shared: Arc<SharedReply>, index: usize, span: Span) -> Self {
        Self {
            to: ReplyTo::Shared(shared, index),
            span,
        }
    }

    /// The message's create span.
    pub(super) fn span(&self) -> &Span {
        &self.span
    }

    pub(super) fn send(self, result: Result<String>) {
        match &result {
            Ok(id) => spans::published(&self.span, id),
            Err(err) => spans::failed(&self.span, err),
        }
        match self.to {
            // The publisher stopped waiting: nobody to tell.
            ReplyTo::One(reply) => {
                let _ = reply.send(result);
            }
            ReplyTo::Shared(shared, index) => shared.set(index, result),
        }
    }
}

/// The answers of one `publish_many` chunk, sent together once all are in.
/// Dropped unanswered (a batcher that died), its channel closes, which the
/// caller turns into an `Internal` error per message.
pub(super) struct SharedReply {
    state: Mutex<SharedState>,
}

struct SharedState {
    results: Vec<Option<Result<String>>>,
    missing: usize,
    done: Option<oneshot::Sender<Vec<Result<String>>>>,
}

impl SharedReply {
    pub(super) fn new(count: usize) -> (Arc<Self>, oneshot::Receiver<Vec<Result<String>>>) {
        let (done, wait) = oneshot::channel();
        let state = SharedState {
            results: (0..count).map(|_| None).collect(),
            missing: count,
            done: Some(done),
        };
        let reply = Arc::new(Self {
            state: Mutex::new(state),
        });
        (reply, wait)
    }

    fn set(&self, index: usize, result: Result<String>) {
        // Nothing panics while holding this lock; a poisoned one is still consistent.
        let mut state = lock(&self.state);
        let Some(slot) = state.results.get_mut(index) else {
            return;
        };
        if slot.replace(result).is_none() {
            state.missing -= 1;
        }
        if state.missing == 0
            && let Some(done) = state.done.take()
        {
            let results = std::mem::take(&mut state.results)
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err(Error::internal("a publish was not answered"))))
                .collect();
            let _ = done.send(results);
        }
    }
}
