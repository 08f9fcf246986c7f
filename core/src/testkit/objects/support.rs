//! Helpers shared by the objects cases: data, assertions, listing walks,
//! and a counting driver.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::objects::{
    Bucket, BucketDriver, ByteStream, GetOptions, GetResult, ListEntry, ListOptions, ListPage,
    Metadata, ObjectCapabilities, ObjectKey, ObjectMeta, Precondition, PutOptions,
    SignedUrlOptions,
};
use crate::{Error, ErrorCode, Result};

/// The longest any one case may take (generous: cloud emulators are slow).
const CASE_TIMEOUT: Duration = Duration::from_secs(300);

pub(super) async fn bounded(name: &str, case: impl Future<Output = ()>) {
    if tokio::time::timeout(CASE_TIMEOUT, case).await.is_err() {
        panic!("objects case `{name}` did not finish within {CASE_TIMEOUT:?}");
    }
}

/// Deterministic pseudo-random bytes.
pub(super) fn pattern(len: usize, seed: u64) -> Bytes {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut data = vec![0u8; len];
    rng.fill(&mut data);
    Bytes::from(data)
}

pub(super) fn metadata(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Options with a content type and user metadata (lowercase names with `_`:
/// what S3, GCS and Azure all keep as given).
pub(super) fn described(content_type: &str, pairs: &[(&str, &str)]) -> PutOptions {
    PutOptions {
        content_type: Some(content_type.to_owned()),
        metadata: metadata(pairs),
        precondition: Precondition::None,
    }
}

pub(super) fn when(precondition: Precondition) -> PutOptions {
    PutOptions {
        precondition,
        ..Default::default()
    }
}

#[track_caller]
pub(super) fn ok<T>(result: Result<T>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[track_caller]
pub(super) fn fails_with<T: Debug>(result: Result<T>, code: ErrorCode, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected {code}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.code(), code, "{what}: wrong error code: {e}");
            e
        }
    }
}

pub(super) fn chunked(chunks: Vec<Bytes>) -> ByteStream {
    stream::iter(chunks.into_iter().map(Ok)).boxed()
}

/// `chunks`, then an error with code `Unavailable`.
pub(super) fn failing_after(chunks: Vec<Bytes>) -> ByteStream {
    let failure = Error::unavailable("the client went away mid-upload");
    stream::iter(chunks.into_iter().map(Ok).chain([Err(failure)])).boxed()
}

pub(super) async fn upload(
    bucket: &Bucket,
    key: &str,
    body: impl Into<Bytes>,
    opts: PutOptions,
) -> ObjectMeta {
    let meta = ok(
        bucket.upload(key, body, opts).await,
        &format!("upload `{key}`"),
    );
    assert_eq!(meta.key, key, "upload returned the wrong key");
    meta
}

pub(super) async fn download(bucket: &Bucket, key: &str) -> Bytes {
    ok(bucket.download(key).await, &format!("download `{key}`"))
}

pub(super) async fn body_of(result: GetResult) -> (Bytes, usize) {
    let chunks: Vec<Bytes> = ok(result.body.try_collect().await, "read the body");
    let count = chunks.len();
    (chunks.concat().into(), count)
}

/// Every key the bucket lists, in the order listed.
pub(super) async fn list_keys(bucket: &Bucket, opts: ListOptions) -> Vec<String> {
    let entries: Vec<ListEntry> = ok(bucket.list(opts).try_collect().await, "list");
    entries.iter().map(|e| e.key().to_owned()).collect()
}

/// All pages of a listing, following tokens (bounded, so a loop fails).
pub(super) async fn all_pages(bucket: &Bucket, mut opts: ListOptions) -> Vec<ListPage> {
    let mut pages = Vec::new();
    loop {
        let page = ok(
            bucket.list_page(opts.clone()).await,
            &format!("list page {opts:?}"),
        );
        let next = page.next_page_token.clone();
        pages.push(page);
        match next {
            Some(token) => opts.page_token = Some(token),
            None => return pages,
        }
        assert!(pages.len() <= 5000, "the listing {opts:?} never ends");
    }
}

/// The entries of `pages` (objects and common prefixes, merged per page),
/// checked to be strictly increasing across all pages: sorted, no duplicates.
pub(super) fn entries(pages: &[ListPage], max_per_page: usize, what: &str) -> (Vec<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    let mut prefixes = 0;
    for (i, page) in pages.iter().enumerate() {
        let count = page.objects.len() + page.common_prefixes.len();
        assert!(
            count <= max_per_page,
            "{what}: page {i} has {count} entries, above {max_per_page}"
        );
        let mut keys: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
        keys.extend(page.common_prefixes.iter().cloned());
        keys.sort();
        prefixes += page.common_prefixes.len();
        out.extend(keys);
    }
    for pair in out.windows(2) {
        assert!(
            pair[0] < pair[1],
            "{what}: `{}` then `{}`: out of order or repeated",
            pair[0],
            pair[1]
        );
    }
    (out, prefixes)
}

pub(super) fn list(prefix: &str, delimiter: Option<&str>, page_size: Option<usize>) -> ListOptions {
    ListOptions {
        prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
        delimiter: delimiter.map(str::to_owned),
        page_size,
        page_token: None,
    }
}

pub(super) fn skip(case: &str, why: &str) {
    println!("{case}: skipped: {why}");
}

/// Passes every call through and counts it.
pub(super) struct Counting {
    pub(super) inner: Arc<dyn BucketDriver>,
    pub(super) calls: AtomicUsize,
}

impl Counting {
    fn count(&self) -> &dyn BucketDriver {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.as_ref()
    }
}

#[async_trait]
impl BucketDriver for Counting {
    fn capabilities(&self) -> &ObjectCapabilities {
        self.inner.capabilities()
    }
    async fn put(&self, key: &ObjectKey, body: Bytes, opts: &PutOptions) -> Result<ObjectMeta> {
        self.count().put(key, body, opts).await
    }
    async fn put_stream(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        self.count().put_stream(key, body, opts).await
    }
    async fn get(&self, key: &ObjectKey, opts: &GetOptions) -> Result<GetResult> {
        self.count().get(key, opts).await
    }
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta> {
        self.count().head(key).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.count().delete(key).await
    }
    async fn copy(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        pre: &Precondition,
    ) -> Result<ObjectMeta> {
        self.count().copy(from, to, pre).await
    }
    async fn list_page(&self, opts: &ListOptions) -> Result<ListPage> {
        self.count().list_page(opts).await
    }
    async fn signed_url(&self, key: &ObjectKey, opts: &SignedUrlOptions) -> Result<String> {
        self.count().signed_url(key, opts).await
    }
    fn public_url(&self, key: &ObjectKey) -> Result<String> {
        self.count().public_url(key)
    }
}
