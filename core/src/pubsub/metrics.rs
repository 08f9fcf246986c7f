//! The messaging metrics of OpenTelemetry's conventions, recorded once here
//! for every provider: per batch sent, `messaging.client.operation.duration`
//! and `messaging.client.sent.messages`; per delivery,
//! `messaging.client.consumed.messages` and `messaging.process.duration`;
//! and what an operator of a subscriber also needs, Strata's own
//! `strata.messaging.retries` and `strata.messaging.dead_lettered`.
//!
//! The instruments come from the global meter provider when a topic or a
//! subscriber is made (`strata-telemetry` installs one that exports over
//! OTLP); without one they are no-ops. Each keeps its attributes, built
//! once, so a recording allocates nothing unless it carries an `error.type`.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::metrics::{Counter, Histogram, Meter};

use super::spans::SubscriptionNames;
use crate::{Error, Result};

fn meter() -> Meter {
    global::meter("strata")
}

fn duration(meter: &Meter, name: &'static str, description: &'static str) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .build()
}

fn messages(meter: &Meter, name: &'static str, description: &'static str) -> Counter<u64> {
    meter
        .u64_counter(name)
        .with_unit("{message}")
        .with_description(description)
        .build()
}

/// `attributes` with `error.type` added.
fn with_error(attributes: &[KeyValue], error_type: &'static str) -> Vec<KeyValue> {
    let mut attributes = attributes.to_vec();
    attributes.push(KeyValue::new("error.type", error_type));
    attributes
}

/// The instruments of one topic's publishing.
pub(crate) struct SendMetrics {
    duration: Histogram<f64>,
    sent: Counter<u64>,
    attributes: Vec<KeyValue>,
}

impl SendMetrics {
    pub(crate) fn new(topic: &str, system: &'static str) -> Self {
        let meter = meter();
        Self {
            duration: duration(
                &meter,
                "messaging.client.operation.duration",
                "How long a batch took to send",
            ),
            sent: messages(
                &meter,
                "messaging.client.sent.messages",
                "Messages handed to the provider",
            ),
            attributes: vec![
                KeyValue::new("messaging.system", system),
                KeyValue::new("messaging.destination.name", topic.to_owned()),
                KeyValue::new("messaging.operation.name", "send"),
                KeyValue::new("messaging.operation.type", "send"),
            ],
        }
    }

    /// Records one batch the driver answered: each message by outcome, and
    /// the batch's duration, failed with `failed_batch` when every message
    /// failed.
    pub(crate) fn batch(
        &self,
        elapsed: Duration,
        results: &[Result<String>],
        failed_batch: Option<&Error>,
    ) {
        let mut sent = 0;
        for result in results {
            match result {
                Ok(_) => sent += 1,
                Err(err) => self
                    .sent
                    .add(1, &with_error(&self.attributes, err.code().as_str())),
            }
        }
        if sent > 0 {
            self.sent.add(sent, &self.attributes);
        }
        let seconds = elapsed.as_secs_f64();
        match failed_batch {
            Some(err) => self
                .duration
                .record(seconds, &with_error(&self.attributes, err.code().as_str())),
            None => self.duration.record(seconds, &self.attributes),
        }
    }

    /// Records a batch the driver did not answer properly (a panic, a wrong
    /// number of results): every message failed as `Internal`.
    pub(crate) fn broken_batch(&self, elapsed: Duration, count: usize) {
        let failed = with_error(&self.attributes, crate::ErrorCode::Internal.as_str());
        self.sent.add(count as u64, &failed);
        self.duration.record(elapsed.as_secs_f64(), &failed);
    }
}

/// The instruments of one subscriber.
pub(crate) struct ProcessMetrics {
    consumed: Counter<u64>,
    duration: Histogram<f64>,
    retries: Counter<u64>,
    dead_lettered: Counter<u64>,
    attributes: Vec<KeyValue>,
}

impl ProcessMetrics {
    pub(crate) fn new(names: &SubscriptionNames, system: &'static str) -> Self {
        let meter = meter();
        let mut attributes = vec![
            KeyValue::new("messaging.system", system),
            KeyValue::new(
                "messaging.destination.subscription.name",
                names.subscription.clone(),
            ),
            KeyValue::new("messaging.operation.name", "process"),
        ];
        if let Some(topic) = &names.topic {
            attributes.push(KeyValue::new("messaging.destination.name", topic.clone()));
        }
        Self {
            consumed: messages(
                &meter,
                "messaging.client.consumed.messages",
                "Deliveries handed to the handler",
            ),
            duration: duration(
                &meter,
                "messaging.process.duration",
                "How long the handler ran",
            ),
            retries: messages(
                &meter,
                "strata.messaging.retries",
                "Failed deliveries given back to be redelivered",
            ),
            dead_lettered: messages(
                &meter,
                "strata.messaging.dead_lettered",
                "Messages dead-lettered after their last attempt",
            ),
            attributes,
        }
    }

    pub(crate) fn consumed(&self, count: usize) {
        self.consumed.add(count as u64, &self.attributes);
    }

    /// Records a handler's run; `error_type` when it failed.
    pub(crate) fn processed(&self, elapsed: Duration, error_type: Option<&'static str>) {
        let seconds = elapsed.as_secs_f64();
        match error_type {
            None => self.duration.record(seconds, &self.attributes),
            Some(error_type) => self
                .duration
                .record(seconds, &with_error(&self.attributes, error_type)),
        }
    }

    pub(crate) fn retried(&self) {
        self.retries.add(1, &self.attributes);
    }

    pub(crate) fn dead_lettered(&self) {
        self.dead_lettered.add(1, &self.attributes);
    }
}
