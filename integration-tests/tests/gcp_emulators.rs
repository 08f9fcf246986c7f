//! The GCP provider against its emulators: the whole pubsub conformance
//! suite on Google's Pub/Sub emulator, the errors a user meets, and `Infra`
//! built from a `gcp` config.
//!
//! Needs the emulators running: `localstack/emulators up gcs pubsub` and
//! `eval "$(localstack/emulators env)"` (`STRATA_TEST_PUBSUB_ENDPOINT`,
//! default `http://127.0.0.1:8085`; `STRATA_TEST_GCS_ENDPOINT`, default
//! `http://127.0.0.1:4443`). A test that cannot reach one fails, saying so;
//! nothing is skipped.
//!
//! Capability overrides for the Pub/Sub emulator: none. Subscription
//! filters are stored but not applied by the emulator; Strata does not use
//! filters, so no case depends on them.

#![cfg(feature = "gcp")]
#![allow(clippy::unwrap_used)]

#[path = "support/gcp_errors.rs"]
mod gcp_errors;
#[path = "support/gcp_harness.rs"]
mod gcp_harness;

/// The pubsub case table on the Pub/Sub emulator, one test per case.
mod pubsub {
    use super::gcp_harness::GcpPubSubHarness;

    strata_core::pubsub_conformance! {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        harness: GcpPubSubHarness::new().await,
        skip: {},
    }
}

/// The objects case table on fake-gcs-server, one test per case.
mod objects {
    use super::gcp_harness::GcpObjectsHarness;

    strata_core::objects_conformance! {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        harness: GcpObjectsHarness::new().await,
        skip: {},
    }
}

mod behaviour {
    use super::gcp_errors as cases;

    macro_rules! behaviour {
        ($($case:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                cases::$case().await;
            }
        )*};
    }

    behaviour!(
        invalid_names_are_invalid_argument_before_any_request,
        missing_topic_and_subscription_without_provision_are_not_found,
        a_subscription_that_cannot_be_what_is_asked_is_invalid_config,
        a_missing_project_is_invalid_config,
        infra_from_a_gcp_config_stores_publishes_and_delivers,
        the_example_config_parses_with_this_build,
        bad_credentials_are_invalid_config_naming_the_field,
        nothing_listening_at_the_endpoint_is_unavailable,
        an_ordered_subscription_dead_letters_a_poison_message_and_goes_on,
    );
}
