//! [`Handler`]: what a [`Subscriber`](super::Subscriber) runs for each message.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::Message;

/// What a handler returns when it fails: any error. The message is retried.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Processes one message. `Ok` acks it; an error, a panic or a timeout retries it.
pub type Handler =
    Arc<dyn Fn(Message) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync>;

/// Makes a [`Handler`] from an async closure.
///
/// ```
/// use strata_core::pubsub::{handler_fn, HandlerError};
/// let handler = handler_fn(|msg| async move {
///     if msg.data.is_empty() {
///         return Err(HandlerError::from("empty message"));
///     }
///     Ok(())
/// });
/// # let _ = handler;
/// ```
pub fn handler_fn<F, Fut>(f: F) -> Handler
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    Arc::new(move |message| Box::pin(f(message)))
}
