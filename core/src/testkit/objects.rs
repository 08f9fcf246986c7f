//! Conformance cases for the ObjectStore block.
//!
//! A provider's test implements [`ObjectsHarness`] (a fresh, empty
//! [`Bucket`] per call) and runs the cases of the table,
//! [`objects_conformance!`](crate::objects_conformance), one test each (or
//! [`run_all`]).
//! Cases panic with a message naming what broke; each is bounded by a timeout
//! so a hang fails instead of stalling the run.

mod data;
mod listing;
mod rules;
mod support;

use async_trait::async_trait;

use crate::objects::Bucket;

pub use data::{
    long_segments_round_trip, nested_keys_coexist, overwrite_changes_etag_and_replaces_metadata,
    range_reads, round_trip_empty_object, round_trip_one_byte, round_trip_ten_mib,
    streamed_download, streamed_upload_in_many_chunks, unicode_keys,
};
pub use listing::{list_pagination, list_with_another_delimiter};
pub use rules::{
    conditional_put_if_match, conditional_put_if_not_exists, copy_object, delete_is_idempotent,
    failed_stream_leaves_no_object, invalid_keys_are_rejected_before_the_driver,
    missing_objects_are_not_found, url_capabilities_are_honest,
};

/// Makes buckets for the cases.
#[async_trait]
pub trait ObjectsHarness: Send + Sync {
    /// A fresh, empty bucket that no other case uses.
    async fn bucket(&self) -> Bucket;
}

/// The objects case table, and the tests it makes for one harness.
///
/// ```ignore
/// strata_core::objects_conformance! {
///     #[tokio::test]      // the attributes of every test
///     harness: MyHarness::new().await,  // made afresh per test
///     run: run,           // optional: wraps each case's future
///     skip: { some_case: "why this provider does not run it" },
/// }
/// ```
///
/// expands to one test per case, named after the case; a skipped case is
/// `#[ignore = "why"]`. A skip that names no case, or one case twice, does
/// not compile. See [the testkit](crate::testkit).
#[macro_export]
macro_rules! objects_conformance {
    (@table $then:path { $($args:tt)* }) => {
        $then! {
            ($)
            [
                round_trip_empty_object,
                round_trip_one_byte,
                round_trip_ten_mib,
                unicode_keys,
                nested_keys_coexist,
                long_segments_round_trip,
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
            $($args)*
        }
    };
    ($($args:tt)*) => {
        $crate::objects_conformance! { @table $crate::__conformance_tests { objects $($args)* } }
    };
}

crate::objects_conformance! { @table crate::testkit::case_list { ObjectsHarness } }
