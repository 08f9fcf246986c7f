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

/// The staged-block path, which the suite's streams (below 8 MiB) do not
/// reach: streams of several blocks, committed whole or not at all, with
/// the precondition checked on the commit.
mod blocks {
    use std::sync::Arc;

    use bytes::Bytes;
    use futures::StreamExt;
    use strata_azure::objects::BLOCK_BYTES;
    use strata_core::objects::{Bucket, ByteStream, Precondition, PutOptions};
    use strata_core::{Error, ErrorCode};

    use super::azure_harness::AzureObjectsHarness;

    /// `len` bytes in uneven chunks, then `Err` if `fail`.
    fn stream(len: usize, fail: bool) -> (Bytes, ByteStream) {
        let data: Bytes = (0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>().into();
        let mut chunks: Vec<strata_core::Result<Bytes>> = Vec::new();
        let mut at = 0;
        let mut step = 1;
        while at < len {
            let end = (at + step * 1021).min(len);
            chunks.push(Ok(data.slice(at..end)));
            at = end;
            step = step % 997 + 1;
        }
        if fail {
            chunks.push(Err(Error::unavailable("the source broke")));
        }
        (data, futures::stream::iter(chunks).boxed())
    }

    async fn bucket() -> Bucket {
        let h = AzureObjectsHarness::new().await;
        let (name, driver) = h.blob_bucket().await;
        Bucket::new(name, Arc::new(driver))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_of_several_blocks_is_committed_whole() {
        let bucket = bucket().await;
        let (data, body) = stream(2 * BLOCK_BYTES + 12_345, false);
        let opts = PutOptions {
            content_type: Some("application/x-blocks".into()),
            metadata: [("kind".to_owned(), "staged".to_owned())].into(),
            ..PutOptions::default()
        };
        let put = bucket.upload_stream("big.bin", body, opts).await.unwrap();
        assert_eq!(put.size, data.len() as u64);
        assert_eq!(bucket.download("big.bin").await.unwrap(), data);
        let attrs = bucket.attrs("big.bin").await.unwrap();
        assert_eq!(attrs.etag, put.etag);
        assert_eq!(attrs.content_type.as_deref(), Some("application/x-blocks"));
        assert_eq!(
            attrs.metadata.get("kind").map(String::as_str),
            Some("staged")
        );

        // `If-None-Match: *` is checked on the commit, after every block.
        let (_, again) = stream(BLOCK_BYTES + 1, false);
        let opts = PutOptions {
            precondition: Precondition::IfNotExists,
            ..PutOptions::default()
        };
        let err = bucket
            .upload_stream("big.bin", again, opts)
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::PreconditionFailed, "{err}");
        assert_eq!(bucket.download("big.bin").await.unwrap(), data);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_failing_after_blocks_were_staged_commits_nothing() {
        let bucket = bucket().await;
        bucket
            .upload("kept.bin", "the old version", PutOptions::default())
            .await
            .unwrap();
        for key in ["kept.bin", "new.bin"] {
            let (_, body) = stream(2 * BLOCK_BYTES + 7, true);
            let err = bucket
                .upload_stream(key, body, PutOptions::default())
                .await
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
        }
        assert_eq!(
            bucket.download("kept.bin").await.unwrap(),
            "the old version"
        );
        let missing = bucket.attrs("new.bin").await.unwrap_err();
        assert_eq!(missing.code(), ErrorCode::NotFound, "{missing}");
    }
}
