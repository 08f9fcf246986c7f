//! The conformance suites as one `#[tokio::test]` per case, for an AWS
//! emulator: `aws_conformance!(EMULATOR);` in a test file that has the
//! `aws_harness` module.

/// One test per case: `cases::<case>(&<harness>::new(&emulator).await)`.
macro_rules! aws_cases {
    ($harness:ident, $emulator:expr, [$($case:ident),* $(,)?]) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            cases::$case(&$harness::new(&$emulator).await).await;
        }
    )*};
}

/// Expands to `mod pubsub` and `mod objects`, one test per case, each on a
/// fresh harness for `$emulator` (an `aws_harness::Emulator` constant).
macro_rules! aws_conformance {
    ($emulator:ident) => {
        mod pubsub {
            use strata_core::testkit::pubsub as cases;

            use super::aws_harness::AwsPubSubHarness;

            aws_cases!(
                AwsPubSubHarness,
                super::$emulator,
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
                let harness = AwsPubSubHarness::new(&super::$emulator).await;
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

            use super::aws_harness::AwsObjectsHarness;

            aws_cases!(
                AwsObjectsHarness,
                super::$emulator,
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
    };
}
