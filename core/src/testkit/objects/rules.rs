//! Preconditions, copy, delete, errors and capabilities.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::ErrorCode;
use crate::objects::{
    Bucket, ByteRange, GetOptions, ListOptions, Precondition, PutOptions, SignedUrlMethod,
    SignedUrlOptions,
};

use super::ObjectsHarness;
use super::support::*;

/// `IfNotExists` succeeds once, then fails; so does a copy onto the key.
pub async fn conditional_put_if_not_exists(h: &impl ObjectsHarness) {
    bounded("conditional_put_if_not_exists", async {
        let bucket = h.bucket().await;
        if !bucket.capabilities().conditional_put {
            return skip(
                "conditional_put_if_not_exists",
                "the provider has no conditional_put",
            );
        }
        upload(&bucket, "once", "first", when(Precondition::IfNotExists)).await;
        let second = bucket
            .upload("once", "second", when(Precondition::IfNotExists))
            .await;
        fails_with(
            second,
            ErrorCode::PreconditionFailed,
            "second if-not-exists upload",
        );
        let streamed = bucket.upload_stream(
            "once",
            chunked(vec!["third".into()]),
            when(Precondition::IfNotExists),
        );
        fails_with(
            streamed.await,
            ErrorCode::PreconditionFailed,
            "streamed if-not-exists upload",
        );
        upload(&bucket, "other", "other", PutOptions::default()).await;
        let copy = bucket
            .copy("other", "once", Precondition::IfNotExists)
            .await;
        fails_with(
            copy,
            ErrorCode::PreconditionFailed,
            "if-not-exists copy onto an object",
        );
        assert_eq!(
            download(&bucket, "once").await,
            "first".as_bytes(),
            "a failed write changed the object"
        );
        ok(
            bucket
                .copy("other", "fresh", Precondition::IfNotExists)
                .await,
            "if-not-exists copy to a new key",
        );
        assert_eq!(download(&bucket, "fresh").await, "other".as_bytes());
    })
    .await;
}

/// `IfMatch` with the current etag succeeds; with a stale one it fails.
pub async fn conditional_put_if_match(h: &impl ObjectsHarness) {
    bounded("conditional_put_if_match", async {
        let bucket = h.bucket().await;
        if !bucket.capabilities().conditional_put {
            return skip(
                "conditional_put_if_match",
                "the provider has no conditional_put",
            );
        }
        let v1 = upload(&bucket, "doc", "version 1", PutOptions::default()).await;
        let v2 = upload(
            &bucket,
            "doc",
            "version 2",
            when(Precondition::IfMatch(v1.etag.clone())),
        )
        .await;
        assert_ne!(v1.etag, v2.etag);
        let stale = bucket
            .upload(
                "doc",
                "version 3",
                when(Precondition::IfMatch(v1.etag.clone())),
            )
            .await;
        fails_with(
            stale,
            ErrorCode::PreconditionFailed,
            "if-match with a stale etag",
        );
        assert_eq!(download(&bucket, "doc").await, "version 2".as_bytes());
        assert_eq!(ok(bucket.attrs("doc").await, "attrs").etag, v2.etag);
        let missing = bucket
            .upload("nothing", "x", when(Precondition::IfMatch(v2.etag)))
            .await;
        let err = missing.expect_err("if-match on a missing object must fail");
        assert!(
            matches!(
                err.code(),
                ErrorCode::PreconditionFailed | ErrorCode::NotFound
            ),
            "if-match on a missing object: {err}"
        );
        assert!(
            !ok(bucket.exists("nothing").await, "exists"),
            "a failed if-match created the object"
        );
    })
    .await;
}

/// A copy has the content, content type and metadata; the source is unchanged.
pub async fn copy_object(h: &impl ObjectsHarness) {
    bounded("copy_object", async {
        let bucket = h.bucket().await;
        let data = pattern(70_000, 7);
        let opts = described("image/png", &[("owner", "copy_test")]);
        let source = upload(&bucket, "src/a.png", data.clone(), opts.clone()).await;
        let copy = ok(
            bucket
                .copy("src/a.png", "dst/b.png", Precondition::None)
                .await,
            "copy",
        );
        assert_eq!(
            (copy.key.as_str(), copy.size),
            ("dst/b.png", data.len() as u64)
        );
        assert!(
            download(&bucket, "dst/b.png").await == data,
            "copied bytes differ"
        );
        let attrs = ok(bucket.attrs("dst/b.png").await, "attrs of the copy");
        assert_eq!(
            (attrs.content_type, attrs.metadata),
            (opts.content_type, opts.metadata)
        );
        assert!(
            download(&bucket, "src/a.png").await == data,
            "the source changed"
        );
        assert_eq!(
            ok(bucket.attrs("src/a.png").await, "attrs").etag,
            source.etag
        );
        let missing = bucket.copy("nope", "dst/c.png", Precondition::None).await;
        fails_with(missing, ErrorCode::NotFound, "copy of a missing source");
        assert!(
            !ok(bucket.exists("dst/c.png").await, "exists"),
            "a failed copy created its target"
        );
    })
    .await;
}

/// Deleting twice, or something never there, succeeds.
pub async fn delete_is_idempotent(h: &impl ObjectsHarness) {
    bounded("delete_is_idempotent", async {
        let bucket = h.bucket().await;
        upload(&bucket, "d/x", "x", PutOptions::default()).await;
        ok(bucket.delete("d/x").await, "first delete");
        ok(bucket.delete("d/x").await, "second delete");
        ok(bucket.delete("never/was").await, "delete of a missing key");
        assert!(
            !ok(bucket.exists("d/x").await, "exists"),
            "exists after delete"
        );
        fails_with(
            bucket.download("d/x").await,
            ErrorCode::NotFound,
            "download after delete",
        );
        assert!(
            list_keys(&bucket, ListOptions::default()).await.is_empty(),
            "listed after delete"
        );
    })
    .await;
}

/// Reads of a missing object are `NotFound`, naming the key and the bucket.
pub async fn missing_objects_are_not_found(h: &impl ObjectsHarness) {
    bounded("missing_objects_are_not_found", async {
        let bucket = h.bucket().await;
        upload(&bucket, "present", "here", PutOptions::default()).await;
        let key = "no/such/key.txt";
        let errors = [
            fails_with(bucket.download(key).await, ErrorCode::NotFound, "download"),
            fails_with(bucket.attrs(key).await, ErrorCode::NotFound, "attrs"),
            fails_with(
                bucket.download_range(key, ByteRange::new(0, 1)).await,
                ErrorCode::NotFound,
                "range",
            ),
            fails_with(
                bucket
                    .download_stream(key, GetOptions::default())
                    .await
                    .map(|r| r.meta),
                ErrorCode::NotFound,
                "stream",
            ),
        ];
        for err in errors {
            assert!(
                err.message().contains(key) && err.message().contains(bucket.name()),
                "message: {err}"
            );
        }
        assert!(!ok(bucket.exists(key).await, "exists"));
        assert!(!ok(bucket.exists("present/child").await, "exists"));
        assert!(!ok(bucket.exists("pres").await, "exists"));
    })
    .await;
}

/// Invalid keys fail with `InvalidArgument` without reaching the provider.
pub async fn invalid_keys_are_rejected_before_the_driver(h: &impl ObjectsHarness) {
    bounded("invalid_keys_are_rejected_before_the_driver", async {
        let real = h.bucket().await;
        let counting = Arc::new(Counting {
            inner: real.driver().clone(),
            calls: AtomicUsize::new(0),
        });
        let bucket = Bucket::new(real.name(), counting.clone());
        let long = "k".repeat(1025);
        let ttl = SignedUrlOptions {
            method: SignedUrlMethod::Get,
            ttl: Duration::from_secs(60),
            content_type: None,
        };
        for key in ["", long.as_str(), "..", "a/../b", "a\0b", "/a"] {
            let what = |op: &str| format!("{op} of invalid key {key:?}");
            let bad = ErrorCode::InvalidArgument;
            fails_with(
                bucket.upload(key, "x", PutOptions::default()).await,
                bad,
                &what("upload"),
            );
            fails_with(
                bucket
                    .upload_stream(key, chunked(vec!["x".into()]), PutOptions::default())
                    .await,
                bad,
                &what("upload_stream"),
            );
            fails_with(bucket.download(key).await, bad, &what("download"));
            fails_with(
                bucket.download_range(key, ByteRange::new(0, 1)).await,
                bad,
                &what("range"),
            );
            fails_with(bucket.attrs(key).await, bad, &what("attrs"));
            fails_with(bucket.exists(key).await, bad, &what("exists"));
            fails_with(bucket.delete(key).await, bad, &what("delete"));
            fails_with(
                bucket.copy(key, "ok", Precondition::None).await,
                bad,
                &what("copy from"),
            );
            fails_with(
                bucket.copy("ok", key, Precondition::None).await,
                bad,
                &what("copy to"),
            );
            fails_with(
                bucket.signed_url(key, ttl.clone()).await,
                bad,
                &what("signed_url"),
            );
            fails_with(bucket.public_url(key), bad, &what("public_url"));
        }
        fails_with(
            bucket.list_page(list("a/../", None, None)).await,
            ErrorCode::InvalidArgument,
            "list prefix `a/../`",
        );
        assert_eq!(
            counting.calls.load(Ordering::SeqCst),
            0,
            "an invalid key reached the provider"
        );
        assert!(
            list_keys(&real, ListOptions::default()).await.is_empty(),
            "something was stored"
        );
    })
    .await;
}

/// A stream that fails mid-upload stores nothing and keeps the old object.
pub async fn failed_stream_leaves_no_object(h: &impl ObjectsHarness) {
    bounded("failed_stream_leaves_no_object", async {
        let bucket = h.bucket().await;
        // 6 MiB before the failure: past the multipart threshold of clouds.
        let chunks: Vec<Bytes> = (0..12).map(|i| pattern(512 * 1024, i)).collect();
        let result = bucket
            .upload_stream(
                "partial.bin",
                failing_after(chunks.clone()),
                PutOptions::default(),
            )
            .await;
        fails_with(result, ErrorCode::Unavailable, "upload of a failing stream");
        let result = bucket
            .upload_stream(
                "partial-early.bin",
                failing_after(Vec::new()),
                PutOptions::default(),
            )
            .await;
        fails_with(
            result,
            ErrorCode::Unavailable,
            "upload of a stream failing at once",
        );
        assert!(
            !ok(bucket.exists("partial.bin").await, "exists"),
            "a partial object is visible"
        );
        assert!(
            list_keys(&bucket, ListOptions::default()).await.is_empty(),
            "a failed upload is listed"
        );

        let v1 = upload(&bucket, "kept", "version 1", PutOptions::default()).await;
        let result = bucket
            .upload_stream("kept", failing_after(chunks), PutOptions::default())
            .await;
        fails_with(result, ErrorCode::Unavailable, "failing overwrite");
        assert_eq!(
            download(&bucket, "kept").await,
            "version 1".as_bytes(),
            "a failed overwrite changed the object"
        );
        assert_eq!(ok(bucket.attrs("kept").await, "attrs").etag, v1.etag);
        assert_eq!(list_keys(&bucket, ListOptions::default()).await, ["kept"]);
    })
    .await;
}

/// Signed and public URLs work where claimed and are `Unsupported` elsewhere.
pub async fn url_capabilities_are_honest(h: &impl ObjectsHarness) {
    bounded("url_capabilities_are_honest", async {
        let bucket = h.bucket().await;
        upload(&bucket, "u/a.txt", "a", PutOptions::default()).await;
        let caps = bucket.capabilities().clone();
        for method in [SignedUrlMethod::Get, SignedUrlMethod::Put] {
            let opts = SignedUrlOptions {
                method,
                ttl: Duration::from_secs(300),
                content_type: None,
            };
            let result = bucket.signed_url("u/a.txt", opts).await;
            if caps.signed_urls {
                let url = ok(result, "signed_url");
                assert!(url.contains("://"), "signed URL {url:?} is not a URL");
            } else {
                fails_with(
                    result,
                    ErrorCode::Unsupported,
                    "signed_url without the capability",
                );
            }
        }
        if caps.public_urls {
            let a = ok(bucket.public_url("u/a.txt"), "public_url");
            let b = ok(bucket.public_url("u/b.txt"), "public_url");
            assert!(a.contains("://") && a != b, "public URLs {a:?} and {b:?}");
        } else {
            fails_with(
                bucket.public_url("u/a.txt"),
                ErrorCode::Unsupported,
                "public_url without the capability",
            );
        }
    })
    .await;
}
