//! The pub/sub conformance suite on a private Service Bus emulator (this
//! workspace's `servicebus-emulator`), one emulator per case.

#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used)]

#[path = "support/servicebus_emulator.rs"]
mod servicebus_emulator;
#[path = "support/servicebus_harness.rs"]
mod servicebus_harness;

mod pubsub {
    use super::servicebus_harness::ServiceBusHarness;

    strata_core::pubsub_conformance! {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        harness: ServiceBusHarness::new().await,
        skip: {},
    }
}
