//! The AWS provider (SNS+SQS, S3) against LocalStack: the whole pubsub and
//! objects conformance suites, and the errors a user meets (oversized
//! messages, missing resources, wrong endpoint, credentials).
//!
//! Needs LocalStack running: `localstack/emulators up localstack` and
//! `eval "$(localstack/emulators env)"` (`STRATA_TEST_LOCALSTACK_ENDPOINT`,
//! default `http://127.0.0.1:4566`). A test that cannot reach it fails,
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

/// LocalStack serves every behaviour the suites test: no capability is
/// overridden.
const LOCALSTACK: Emulator = Emulator {
    name: "localstack",
    env: "STRATA_TEST_LOCALSTACK_ENDPOINT",
    default_endpoint: "http://127.0.0.1:4566",
    fifo_ordering: true,
    private_objects: false,
    patience: Duration::from_secs(45),
    bulk_messages: 2500,
};

aws_conformance!(LOCALSTACK);
aws_behaviour!(LOCALSTACK);
