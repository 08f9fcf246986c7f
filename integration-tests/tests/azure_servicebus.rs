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
#[path = "support/servicebus_queues.rs"]
mod servicebus_queues;

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
    use super::servicebus_queues as queues;

    macro_rules! behaviour {
        ($($module:ident::$case:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $module::$case().await;
            }
        )*};
    }

    behaviour!(
        cases::infra_from_an_azure_config_publishes_and_delivers_in_key_order,
        cases::a_wrong_key_is_permission_denied_naming_the_namespace_never_the_key,
        cases::missing_topic_and_subscription_without_provision_are_not_found,
        cases::invalid_names_are_refused_at_load,
        cases::the_emulators_example_config_parses_and_its_pubsub_opens,
        queues::a_queue_entry_shares_its_messages_among_competing_consumers,
        queues::a_queue_entry_is_checked_at_load,
    );
}
