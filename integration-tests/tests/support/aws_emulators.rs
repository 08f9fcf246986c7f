//! The AWS emulators as the interop, error and fault tests use them (the
//! conformance files, `aws_localstack.rs` and `aws_moto.rs`, set their own
//! capability overrides and patience).

use std::time::Duration;

use super::aws_harness::Emulator;

/// LocalStack as `localstack/emulators up localstack` starts it.
pub const LOCALSTACK: Emulator = Emulator {
    name: "localstack",
    env: "STRATA_TEST_LOCALSTACK_ENDPOINT",
    default_endpoint: "http://127.0.0.1:4566",
    fifo_ordering: true,
    private_objects: false,
    patience: Duration::from_secs(45),
    bulk_messages: 2500,
};

/// moto as `localstack/emulators up moto` starts it.
pub const MOTO: Emulator = Emulator {
    name: "moto",
    env: "STRATA_TEST_MOTO_ENDPOINT",
    default_endpoint: "http://127.0.0.1:5000",
    fifo_ordering: false,
    private_objects: true,
    patience: Duration::from_secs(45),
    bulk_messages: 500,
};
