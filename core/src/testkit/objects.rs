//! Conformance cases for the ObjectStore block.
//!
//! A provider's test implements [`ObjectsHarness`] (a fresh, empty
//! [`Bucket`] per call) and runs each case from its own test, or [`run_all`].
//! Cases panic with a message naming what broke; each is bounded by a timeout
//! so a hang fails instead of stalling the run.

mod data;
mod listing;
mod rules;
mod support;

use async_trait::async_trait;

use crate::objects::Bucket;

pub use data::{
    nested_keys_coexist, overwrite_changes_etag_and_replaces_metadata, range_reads,
    round_trip_empty_object, round_trip_one_byte, round_trip_ten_mib, streamed_download,
    streamed_upload_in_many_chunks, unicode_keys,
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

/// Runs every case, each on fresh buckets.
pub async fn run_all(h: &impl ObjectsHarness) {
    round_trip_empty_object(h).await;
    round_trip_one_byte(h).await;
    round_trip_ten_mib(h).await;
    unicode_keys(h).await;
    nested_keys_coexist(h).await;
    streamed_upload_in_many_chunks(h).await;
    streamed_download(h).await;
    range_reads(h).await;
    conditional_put_if_not_exists(h).await;
    conditional_put_if_match(h).await;
    list_pagination(h).await;
    list_with_another_delimiter(h).await;
    copy_object(h).await;
    delete_is_idempotent(h).await;
    missing_objects_are_not_found(h).await;
    invalid_keys_are_rejected_before_the_driver(h).await;
    failed_stream_leaves_no_object(h).await;
    overwrite_changes_etag_and_replaces_metadata(h).await;
    url_capabilities_are_honest(h).await;
}
