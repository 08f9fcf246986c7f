//! # strata-nats
//!
//! Pub/sub on NATS JetStream (`"provider": "nats"`). A topic is a stream of
//! its own that captures one literal subject (`strata.<escaped name>`, see
//! [`names`]); a subscription is a durable pull consumer of that stream, so
//! every subscription gets every message and the consumers of one
//! subscription share its messages. A publish resolves once JetStream has
//! stored the message (its ack); a batch's publishes are all sent before
//! their acks are awaited. Acks, nacks with a delay and lease extensions
//! (in-progress acks) are the JetStream ack protocol; the delivery attempt
//! is the consumer's delivery count. Consumers are made with unlimited
//! deliveries: dead-lettering after `max_attempts` is the engine's (publish
//! to the dead-letter topic, then ack), so nothing is dropped. A topic with
//! `"ordering": true` gets one-at-a-time consumers, which keep every key's
//! order; the others do not claim ordering.
//!
//! Its own crate, behind `strata-infra`'s `nats` feature: `async-nats`
//! brings its own TLS stack and NKey crypto, which users of the embedded
//! and Redis/PostgreSQL providers should not build.

mod client;
pub mod names;
mod options;
mod provider;
mod subscription;
mod topic;

pub use client::NatsClient;
pub use options::{NatsOptions, Retention, Storage};
pub use provider::{NatsCluster, NatsPubSubProvider, register};
pub use subscription::NatsSubscription;
pub use topic::{ATTRIBUTES_HEADER, NatsTopic, ORDERING_KEY_HEADER};
