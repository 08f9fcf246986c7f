//! The pub/sub conformance suite on a private Service Bus emulator (this
//! workspace's `servicebus-emulator`), one emulator per case.

#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used)]

#[path = "support/servicebus_emulator.rs"]
mod servicebus_emulator;
#[path = "support/servicebus_errors.rs"]
mod servicebus_errors;
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

mod behaviour {
    use super::servicebus_errors as cases;

    macro_rules! behaviour {
        ($($case:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                cases::$case().await;
            }
        )*};
    }

    behaviour!(
        infra_from_an_azure_config_publishes_and_delivers_in_key_order,
        a_wrong_key_is_permission_denied_naming_the_namespace_never_the_key,
        missing_topic_and_subscription_without_provision_are_not_found,
        invalid_names_are_refused_at_load,
        the_emulators_example_config_parses_and_its_pubsub_opens,
    );
}
