//! The Azure Blob Storage provider on Azurite: the whole objects conformance
//! suite, signed with Shared Key by the development account.
//!
//! Needs Azurite running: `localstack/emulators up azurite` and `eval
//! "$(localstack/emulators env)"` (`STRATA_TEST_AZURITE_BLOB_ENDPOINT`,
//! default `http://127.0.0.1:10000/devstoreaccount1`). A test that cannot
//! reach it fails, saying so; nothing is skipped.

#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used)]

#[path = "support/azure_harness.rs"]
mod azure_harness;

/// The objects case table on Azurite, one test per case.
mod objects {
    use super::azure_harness::AzureObjectsHarness;

    strata_core::objects_conformance! {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        harness: AzureObjectsHarness::new().await,
        skip: {},
    }
}
