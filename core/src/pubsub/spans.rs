//! The spans of publishing and processing, named and attributed by
//! OpenTelemetry's messaging conventions, written once here for every provider.
//!
//! - `create {topic}` (PRODUCER): one per published message, opened in the
//!   publisher's context. Its context is the one the message carries across
//!   the broker ([`trace_context`](super::trace_context)); it ends when the
//!   publish is answered, with `messaging.message.id` or `error.type`.
//! - `send {topic}` (CLIENT): one per batch handed to the driver, with
//!   `messaging.batch.message_count` and a link to each message's create span.
//!   Batches mix publishes of many callers, so it has no parent of its own;
//!   the conventions relate a batch to its messages by links.
//! - `process {subscription}` (CONSUMER): one per delivery, around the
//!   handler, so the handler's own spans are its children. A redelivery is a
//!   new process span. See [`process`] for its parent.
//!
//! They are `tracing` spans (level INFO, target [`TARGET`]), exported by
//! `tracing-opentelemetry` when a subscriber has its layer (`strata-telemetry`
//! installs one). With no subscriber, or one that filters them out, a span is
//! disabled: its fields are never evaluated and the callers skip every
//! context step, so a message costs no allocation for telemetry.

use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::trace_context;
use super::{Attributes, Message};
use crate::Error;

/// The `tracing` target of Strata's messaging spans, for filters
/// (`STRATA_LOG=strata::messaging=info`).
pub const TARGET: &str = "strata::messaging";

/// The span of one published message, child of the caller's current span.
pub(crate) fn create(topic: &str, system: &'static str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "create",
        otel.name = %format_args!("create {topic}"),
        otel.kind = "producer",
        otel.status_code = Empty,
        messaging.system = system,
        messaging.operation.name = "create",
        "messaging.operation.type" = "create",
        messaging.destination.name = topic,
        messaging.message.id = Empty,
        "error.type" = Empty,
    )
}

/// The span of one batch handed to a topic's driver.
pub(crate) fn send(topic: &str, system: &'static str, count: usize) -> Span {
    tracing::info_span!(
        target: TARGET,
        parent: None,
        "send",
        otel.name = %format_args!("send {topic}"),
        otel.kind = "client",
        otel.status_code = Empty,
        messaging.system = system,
        messaging.operation.name = "send",
        "messaging.operation.type" = "send",
        messaging.destination.name = topic,
        messaging.batch.message_count = count,
        "error.type" = Empty,
    )
}

/// Where a subscriber reads from, as its spans name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionNames {
    /// The topic's logical name, when the subscriber's name has one.
    pub(crate) topic: Option<String>,
    /// The subscription's logical name.
    pub(crate) subscription: String,
}

impl SubscriptionNames {
    /// Reads a subscriber's name: `topic/subscription` as `Infra` names its
    /// subscribers (a subscription name has no `/`), or a bare subscription
    /// name when a subscriber was started by hand with one.
    pub(crate) fn parse(name: &str) -> Self {
        match name.rsplit_once('/') {
            Some((topic, subscription)) if !topic.is_empty() => Self {
                topic: Some(topic.to_owned()),
                subscription: subscription.to_owned(),
            },
            _ => Self {
                topic: None,
                subscription: name.to_owned(),
            },
        }
    }
}

/// The span of one delivery's handler.
///
/// When the message carries a trace context (a `traceparent` attribute: a
/// Strata publisher's create span, or any other system's), the span is its
/// child *and* links to it. The conventions require the link, the relation
/// that still holds when a consumer takes messages in batches, and allow the
/// parent when a process span handles one message, as here; the parent is
/// what makes publish and handler one trace in every backend. Without one,
/// the span starts a trace of its own (never the receive loop's).
pub(crate) fn process(names: &SubscriptionNames, system: &'static str, message: &Message) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        parent: None,
        "process",
        otel.name = %format_args!("process {}", names.subscription),
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = system,
        messaging.operation.name = "process",
        "messaging.operation.type" = "process",
        messaging.destination.name = names.topic.as_deref(),
        messaging.destination.subscription.name = names.subscription.as_str(),
        messaging.message.id = message.id.as_str(),
        // Not in the conventions (only per system: gcp_pubsub, servicebus),
        // hence Strata's own namespace.
        strata.delivery_attempt = message.delivery_attempt,
        "error.type" = Empty,
    );
    if !span.is_disabled()
        && let Some(parent) = trace_context::extract(&message.attributes)
    {
        use opentelemetry::trace::TraceContextExt;
        span.add_link(parent.span().span_context().clone());
        // Only fails when no OpenTelemetry layer sees the span: nothing to parent then.
        let _ = span.set_parent(parent);
    }
    span
}

/// Marks a publish's create span with the message id it got.
pub(crate) fn published(span: &Span, id: &str) {
    span.record("messaging.message.id", id);
}

/// Marks a span as failed, with the error's stable code as `error.type`.
pub(crate) fn failed(span: &Span, error: &Error) {
    failed_as(span, error.code().as_str());
}

/// Marks a span as failed with `error_type`, a low-cardinality name of why.
pub(crate) fn failed_as(span: &Span, error_type: &str) {
    span.record("error.type", error_type);
    span.record("otel.status_code", "error");
}

/// Opens the create span of a message about to be queued and writes its
/// context into the message's attributes, unless the publisher set a
/// `traceparent` of its own (which then travels as it is).
pub(crate) fn start_publish(
    topic: &str,
    system: &'static str,
    attributes: &mut Attributes,
) -> Span {
    let span = create(topic, system);
    if !span.is_disabled() {
        trace_context::inject(&span.context(), attributes);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_name_is_read_as_topic_and_subscription() {
        let names = SubscriptionNames::parse("orders/billing");
        assert_eq!(names.topic.as_deref(), Some("orders"));
        assert_eq!(names.subscription, "billing");
        let bare = SubscriptionNames::parse("billing");
        assert_eq!((bare.topic, bare.subscription.as_str()), (None, "billing"));
        let leading = SubscriptionNames::parse("/billing");
        assert_eq!(
            (leading.topic, leading.subscription.as_str()),
            (None, "/billing")
        );
    }

    #[test]
    fn without_a_subscriber_spans_are_disabled_and_nothing_is_injected() {
        let mut attributes = Attributes::new();
        let span = start_publish("orders", "test", &mut attributes);
        assert!(span.is_disabled());
        assert!(attributes.is_empty());
    }
}
