//! The AWS provider (SNS+SQS, S3) against moto: the whole pubsub and
//! objects conformance suites, and the errors a user meets (oversized
//! messages, missing resources, wrong endpoint, credentials).
//!
//! Needs moto running: `localstack/emulators up moto` and
//! `eval "$(localstack/emulators env)"` (`STRATA_TEST_MOTO_ENDPOINT`,
//! default `http://127.0.0.1:5000`). A test that cannot reach it fails,
//! saying so; nothing is skipped.

#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]

#[macro_use]
#[path = "support/aws_cases.rs"]
mod aws_cases;
#[path = "support/aws_harness.rs"]
mod aws_harness;
#[path = "support/aws_http.rs"]
mod aws_http;
#[macro_use]
#[path = "support/aws_suite.rs"]
mod aws_suite;

use std::time::Duration;

use aws_harness::Emulator;

/// moto's gaps, each overridden here only:
/// - its FIFO queues hand out later messages of a group before an earlier
///   one that was given back (nacked) becomes visible again, so ordering is
///   not claimed (no FIFO topics; `ordering_per_key` still checks that every
///   keyed message arrives with its key and a failure is retried, not the order);
/// - its SQS scans the whole queue on every send (the SNS fan-out reads the
///   queue's attributes, which count its messages) and every receive, so a
///   message costs time in proportion to the backlog: with 2,500 messages
///   `batch_publish_many` took about two minutes on one host and did not
///   finish in four on another (817–1,358 delivered in four runs of
///   `localstack/emulators up moto` then `cargo test -p strata-integration-tests
///   --features aws --test aws_moto`, the other cases starved meanwhile). It publishes 500 here, and the cases get more
///   patience.
const MOTO: Emulator = Emulator {
    name: "moto",
    env: "STRATA_TEST_MOTO_ENDPOINT",
    default_endpoint: "http://127.0.0.1:5000",
    fifo_ordering: false,
    private_objects: true,
    patience: Duration::from_secs(240),
    bulk_messages: 500,
};

aws_conformance!(MOTO);
aws_behaviour!(MOTO);
