//! Unit tests of the portable layer, against a scripted driver. The behaviour
//! of real providers is pinned by the conformance suite (`testkit::objects`).

use std::error::Error as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use async_trait::async_trait;
use futures::TryStreamExt;

use super::*;
use crate::objects::SignedUrlMethod;

/// A driver that serves a scripted listing and a scripted body, and counts calls.
struct Scripted {
    caps: ObjectCapabilities,
    calls: AtomicUsize,
    /// Pages by the token that asks for them (`None` = first page).
    pages: Vec<(Option<String>, ListPage)>,
    /// The body `get` returns and the size it claims.
    body: Vec<Bytes>,
    claimed_size: u64,
    /// Bytes `put_stream` received before the stream ended or failed.
    streamed: Mutex<Vec<Result<usize>>>,
}

impl Scripted {
    fn new() -> Self {
        Self {
            caps: ObjectCapabilities {
                conditional_put: false,
                range_reads: true,
                signed_urls: true,
                public_urls: false,
                max_object_bytes: Some(10),
            },
            calls: AtomicUsize::new(0),
            pages: Vec::new(),
            body: Vec::new(),
            claimed_size: 0,
            streamed: Mutex::new(Vec::new()),
        }
    }

    fn bucket(self) -> (Bucket, Arc<Scripted>) {
        let driver = Arc::new(self);
        (Bucket::new("uploads", driver.clone()), driver)
    }

    fn call(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

fn meta(key: &str, size: u64) -> ObjectMeta {
    ObjectMeta {
        key: key.to_owned(),
        size,
        etag: "\"e\"".to_owned(),
        content_type: None,
        last_modified: SystemTime::UNIX_EPOCH,
        metadata: Default::default(),
    }
}

#[async_trait]
impl BucketDriver for Scripted {
    fn capabilities(&self) -> &ObjectCapabilities {
        &self.caps
    }
    async fn put(&self, key: &ObjectKey, body: Bytes, _: &PutOptions) -> Result<ObjectMeta> {
        self.call();
        Ok(meta(key.as_str(), body.len() as u64))
    }
    async fn put_stream(
        &self,
        key: &ObjectKey,
        mut body: ByteStream,
        _: &PutOptions,
    ) -> Result<ObjectMeta> {
        self.call();
        let mut n = 0;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => n += c.len(),
                Err(e) => {
                    self.streamed
                        .lock()
                        .unwrap()
                        .push(Err(Error::new(e.code(), "")));
                    return Err(e);
                }
            }
        }
        self.streamed.lock().unwrap().push(Ok(n));
        Ok(meta(key.as_str(), n as u64))
    }
    async fn get(&self, key: &ObjectKey, _: &GetOptions) -> Result<GetResult> {
        self.call();
        let chunks: Vec<Result<Bytes>> = self.body.iter().cloned().map(Ok).collect();
        Ok(GetResult {
            meta: meta(key.as_str(), self.claimed_size),
            body: stream::iter(chunks).boxed(),
        })
    }
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta> {
        self.call();
        Err(Error::not_found(format!("no such key {key}")))
    }
    async fn delete(&self, _: &ObjectKey) -> Result<()> {
        self.call();
        Err(Error::not_found("already gone"))
    }
    async fn copy(&self, _: &ObjectKey, _: &ObjectKey, _: &Precondition) -> Result<ObjectMeta> {
        self.call();
        Err(Error::not_found("no source"))
    }
    async fn list_page(&self, opts: &ListOptions) -> Result<ListPage> {
        self.call();
        self.pages
            .iter()
            .find(|(token, _)| *token == opts.page_token)
            .map(|(_, page)| page.clone())
            .ok_or_else(|| Error::internal("unscripted page"))
    }
}

#[tokio::test]
async fn invalid_keys_never_reach_the_driver() {
    let (bucket, driver) = Scripted::new().bucket();
    for key in ["", "/a", "a/../b", "a\0b", "a//b", "a/"] {
        let err = bucket
            .upload(key, "x", PutOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{key:?}: {err}");
        assert!(err.message().contains("bucket `uploads`"), "{err}");
        assert_eq!(
            bucket.exists(key).await.unwrap_err().code(),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bucket.download(key).await.unwrap_err().code(),
            ErrorCode::InvalidArgument
        );
    }
    assert_eq!(driver.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn not_found_names_bucket_and_key_and_keeps_the_source() {
    let (bucket, _) = Scripted::new().bucket();
    let err = bucket.attrs("a/b.png").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    assert!(
        err.message()
            .starts_with("object `a/b.png` not found in bucket `uploads`"),
        "{err}"
    );
    let source = err.source().expect("driver error kept as source");
    assert!(
        source.to_string().contains("no such key a/b.png"),
        "{source}"
    );
    assert!(!bucket.exists("a/b.png").await.unwrap());
    let err = bucket
        .copy("src", "dst", Precondition::None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    assert!(err.message().contains("copy to `dst`"), "{err}");
}

#[tokio::test]
async fn delete_of_a_missing_object_succeeds_even_if_the_driver_says_not_found() {
    let (bucket, driver) = Scripted::new().bucket();
    bucket.delete("gone").await.unwrap();
    assert_eq!(driver.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn list_follows_pages_and_merges_prefixes_in_key_order() {
    let mut driver = Scripted::new();
    let page = |objects: &[&str], prefixes: &[&str], next: Option<&str>| ListPage {
        objects: objects.iter().map(|k| meta(k, 1)).collect(),
        common_prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
        next_page_token: next.map(str::to_owned),
    };
    driver.pages = vec![
        (None, page(&["a", "c"], &["b/"], Some("c"))),
        (Some("c".into()), page(&[], &[], Some("c2"))),
        (Some("c2".into()), page(&["e"], &["d/", "f/"], None)),
    ];
    let (bucket, driver) = driver.bucket();
    let keys: Vec<String> = bucket
        .list(ListOptions::default())
        .map_ok(|e| e.key().to_owned())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(keys, ["a", "b/", "c", "d/", "e", "f/"]);
    assert_eq!(driver.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn list_stops_with_an_error_when_a_token_repeats() {
    let mut driver = Scripted::new();
    let looping = ListPage {
        next_page_token: Some("t".into()),
        ..Default::default()
    };
    driver.pages = vec![(None, looping.clone()), (Some("t".into()), looping)];
    let (bucket, _) = driver.bucket();
    let result: Result<Vec<ListEntry>> = bucket.list(ListOptions::default()).try_collect().await;
    assert_eq!(result.unwrap_err().code(), ErrorCode::Internal);
}

#[tokio::test]
async fn list_rejects_bad_prefixes_and_zero_page_size_before_the_driver() {
    let (bucket, driver) = Scripted::new().bucket();
    for opts in [
        ListOptions {
            prefix: Some("../".into()),
            ..Default::default()
        },
        ListOptions {
            page_size: Some(0),
            ..Default::default()
        },
    ] {
        let err = bucket.list_page(opts).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    }
    assert_eq!(driver.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn download_joins_chunks_and_detects_a_short_body() {
    let mut driver = Scripted::new();
    driver.body = vec![Bytes::from_static(b"hel"), Bytes::from_static(b"lo")];
    driver.claimed_size = 5;
    let (bucket, _) = driver.bucket();
    assert_eq!(
        bucket.download("k").await.unwrap(),
        Bytes::from_static(b"hello")
    );

    let mut driver = Scripted::new();
    driver.body = vec![Bytes::from_static(b"hel")];
    driver.claimed_size = 5;
    let (bucket, _) = driver.bucket();
    let err = bucket.download("k").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable);
    assert!(err.message().contains("after 3 of 5 bytes"), "{err}");
}

#[tokio::test]
async fn uploads_above_the_provider_limit_are_refused() {
    let (bucket, driver) = Scripted::new().bucket();
    let err = bucket
        .upload("big", vec![0u8; 11], PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ResourceExhausted);
    assert_eq!(driver.calls.load(Ordering::SeqCst), 0);

    let chunks: Vec<Result<Bytes>> = (0..4).map(|_| Ok(Bytes::from_static(b"abc"))).collect();
    let err = bucket
        .upload_stream("big", stream::iter(chunks).boxed(), PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ResourceExhausted);
    let streamed = driver.streamed.lock().unwrap();
    assert_eq!(streamed.len(), 1);
    assert!(streamed[0].is_err(), "the driver saw the stream fail");
}

#[tokio::test]
async fn signed_url_ttl_must_be_between_one_second_and_seven_days() {
    let (bucket, driver) = Scripted::new().bucket();
    for ttl in [Duration::ZERO, MAX_SIGNED_URL_TTL + Duration::from_secs(1)] {
        let opts = SignedUrlOptions {
            method: SignedUrlMethod::Get,
            ttl,
            content_type: None,
        };
        let err = bucket.signed_url("k", opts).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    }
    assert_eq!(driver.calls.load(Ordering::SeqCst), 0);
    // The default driver method says Unsupported, wrapped with the key.
    let opts = SignedUrlOptions {
        method: SignedUrlMethod::Put,
        ttl: Duration::from_secs(60),
        content_type: None,
    };
    let err = bucket.signed_url("k", opts).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unsupported);
    assert!(err.message().contains("`k`"), "{err}");
}

#[test]
fn byte_range_resolves_against_the_object_size() {
    assert_eq!(ByteRange::new(2, 5).resolve(10).unwrap(), 2..5);
    assert_eq!(ByteRange::new(2, 50).resolve(10).unwrap(), 2..10);
    assert_eq!(ByteRange::starting_at(9).resolve(10).unwrap(), 9..10);
    for (range, size) in [
        (ByteRange::starting_at(10), 10),
        (ByteRange::starting_at(11), 10),
        (ByteRange::new(5, 5), 10),
        (ByteRange::new(6, 5), 10),
        (ByteRange::starting_at(0), 0),
    ] {
        let err = range.resolve(size).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{range:?}");
    }
}
