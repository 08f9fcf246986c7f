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

/// One test per case: `cases::<case>(&<harness>::new().await)`.
macro_rules! gcp_cases {
    ($harness:ident, [$($case:ident),* $(,)?]) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            cases::$case(&$harness::new().await).await;
        }
    )*};
}

mod pubsub {
    use strata_core::testkit::pubsub as cases;

    use super::gcp_harness::GcpPubSubHarness;

    gcp_cases!(
        GcpPubSubHarness,
        [
            receive_on_empty_returns_within_wait,
            receive_returns_at_most_max,
            capability_claims_hold,
            nack_redelivers_with_increasing_attempt,
            nack_delay_postpones_redelivery,
            lease_expiry_redelivers,
            oversized_message_rejected,
            publish_receive_with_attributes,
            fan_out_to_two_subscriptions,
            dead_letter_after_max_attempts,
            handler_panic_is_retried,
            handler_timeout_is_retried,
            ordering_per_key,
            batch_publish_many,
            graceful_drain,
            publish_after_close_fails,
            lease_extension_keeps_long_handler,
        ]
    );

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn competing_consumers() {
        let harness = GcpPubSubHarness::new().await;
        let report = cases::competing_consumers(&harness).await;
        assert_eq!(report.handled, report.sent, "{report:?}");
        assert!(
            report.per_consumer.iter().all(|&n| n > 0),
            "both consumers got work: {report:?}"
        );
    }
}

mod objects {
    use strata_core::testkit::objects as cases;

    use super::gcp_harness::GcpObjectsHarness;

    gcp_cases!(
        GcpObjectsHarness,
        [
            round_trip_empty_object,
            round_trip_one_byte,
            round_trip_ten_mib,
            unicode_keys,
            nested_keys_coexist,
            streamed_upload_in_many_chunks,
            streamed_download,
            range_reads,
            conditional_put_if_not_exists,
            conditional_put_if_match,
            list_pagination,
            list_with_another_delimiter,
            copy_object,
            delete_is_idempotent,
            missing_objects_are_not_found,
            invalid_keys_are_rejected_before_the_driver,
            failed_stream_leaves_no_object,
            overwrite_changes_etag_and_replaces_metadata,
            url_capabilities_are_honest,
        ]
    );
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
