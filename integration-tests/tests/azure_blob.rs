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

/// Metadata on Azurite: any value and every portable name come back as
/// stored, through head, download, listing and a server-side copy; names
/// outside the portable rule are refused before any request.
mod metadata {
    use std::sync::Arc;

    use futures::TryStreamExt;
    use strata_core::ErrorCode;
    use strata_core::objects::{
        Bucket, ListEntry, ListOptions, Metadata, Precondition, PutOptions,
    };

    use super::azure_harness::AzureObjectsHarness;

    fn stored() -> Metadata {
        [
            ("note", "Grüße ✓ 日本"),
            ("plain", "ascii"),
            ("spaced", " Grüße "),
            ("padded", " ascii "),
            ("lines", "a\nb\r\nc\t\u{1}"),
            ("words", "=?UTF-8?B?SGk=?="),
            ("empty", ""),
            ("content-hash", "sha256-abc"),
            ("purpose_tag", "x"),
            ("2nd-pass", "y"),
            ("a-_b", "1"),
            ("a_-b", "2"),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn any_value_and_every_portable_name_come_back_as_stored() {
        let h = AzureObjectsHarness::new().await;
        let (name, driver) = h.blob_bucket().await;
        let bucket = Bucket::new(name, Arc::new(driver));
        let opts = PutOptions {
            metadata: stored(),
            ..PutOptions::default()
        };
        let put = bucket.upload("m/a.txt", "body", opts).await.unwrap();
        assert_eq!(put.metadata, stored());
        assert_eq!(bucket.attrs("m/a.txt").await.unwrap().metadata, stored());
        let got = bucket
            .download_stream("m/a.txt", Default::default())
            .await
            .unwrap();
        assert_eq!(got.meta.metadata, stored());
        let copied = bucket
            .copy("m/a.txt", "m/b.txt", Precondition::None)
            .await
            .unwrap();
        assert_eq!(bucket.attrs("m/b.txt").await.unwrap().metadata, stored());
        assert_eq!(copied.key, "m/b.txt");
        let listed: Vec<ListEntry> = bucket
            .list(ListOptions {
                prefix: Some("m/".into()),
                delimiter: Some("/".into()),
                ..ListOptions::default()
            })
            .try_collect()
            .await
            .unwrap();
        assert_eq!(listed.len(), 2);
        for entry in listed {
            let ListEntry::Object(meta) = entry else {
                panic!("a prefix under m/")
            };
            assert_eq!(meta.metadata, stored(), "{}", meta.key);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn names_outside_the_portable_rule_are_invalid_arguments() {
        let h = AzureObjectsHarness::new().await;
        let (name, driver) = h.blob_bucket().await;
        let bucket = Bucket::new(name, Arc::new(driver));
        for bad in ["userId", "clé", "a.b", ""] {
            let opts = PutOptions {
                metadata: [(bad.to_owned(), "v".to_owned())].into(),
                ..PutOptions::default()
            };
            let err = bucket.upload("refused", "x", opts).await.unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidArgument, "{bad}: {err}");
        }
        let missing = bucket.attrs("refused").await.unwrap_err();
        assert_eq!(missing.code(), ErrorCode::NotFound, "{missing}");
    }
}
