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
/// - its receive scans the whole queue per call (about 30 messages a second
///   with a backlog of thousands: `batch_publish_many` takes about two
///   minutes), so the cases get more patience.
const MOTO: Emulator = Emulator {
    name: "moto",
    env: "STRATA_TEST_MOTO_ENDPOINT",
    default_endpoint: "http://127.0.0.1:5000",
    fifo_ordering: false,
    private_objects: true,
    patience: Duration::from_secs(240),
};

aws_conformance!(MOTO);
aws_behaviour!(MOTO);
