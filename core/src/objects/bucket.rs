//! The portable [`Bucket`]: what application code holds.
//!
//! It validates keys and arguments once for every provider, reads whole bodies,
//! answers `exists`, enforces the provider's size limit on streams, follows list
//! pages, and puts the bucket and key into every error message.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use super::key::quote;
use super::{
    BucketDriver, ByteRange, ByteStream, GetOptions, GetResult, ListOptions, ListPage,
    ObjectCapabilities, ObjectKey, ObjectMeta, Precondition, PutOptions, SignedUrlOptions,
    validate_metadata, validate_prefix,
};
use crate::{Error, ErrorCode, Result};

/// The longest signed URL lifetime accepted (the S3 and GCS V4 limit).
pub const MAX_SIGNED_URL_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// One entry of a streamed listing, in key order.
#[derive(Debug, Clone, PartialEq)]
pub enum ListEntry {
    /// An object.
    Object(ObjectMeta),
    /// With a delimiter: a common prefix (a "folder"), ending with the delimiter.
    Prefix(String),
}

impl ListEntry {
    /// The object key or the prefix.
    pub fn key(&self) -> &str {
        match self {
            ListEntry::Object(meta) => &meta.key,
            ListEntry::Prefix(prefix) => prefix,
        }
    }
}

/// A bucket of objects, served by any provider.
///
/// Cheap to clone (an `Arc` inside). Every method validates its key with
/// [`ObjectKey::new`] before the provider sees it, and every error names the
/// bucket and the key while keeping the provider's [`ErrorCode`] and error.
///
/// ```
/// # use std::sync::Arc;
/// # use futures::TryStreamExt;
/// use strata_core::objects::{Bucket, BucketDriver, ListOptions, PutOptions};
/// # async fn demo(driver: Arc<dyn BucketDriver>) -> strata_core::Result<()> {
/// let uploads = Bucket::new("uploads", driver);
/// let opts = PutOptions { content_type: Some("image/png".into()), ..Default::default() };
/// uploads.upload("img/cat.png", vec![1u8, 2, 3], opts).await?;
/// assert_eq!(uploads.download("img/cat.png").await?.len(), 3);
/// let listed: Vec<_> = uploads
///     .list(ListOptions { prefix: Some("img/".into()), ..Default::default() })
///     .try_collect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Bucket {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    driver: Arc<dyn BucketDriver>,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("name", &self.inner.name)
            .field("capabilities", self.capabilities())
            .finish()
    }
}

impl Bucket {
    /// The provider's driver behind this bucket when it is a `T`, for
    /// a call Strata does not wrap; `None` on another provider.
    pub fn driver_as<T: BucketDriver>(&self) -> Option<&T> {
        let driver: &dyn std::any::Any = self.inner.driver.as_ref();
        driver.downcast_ref::<T>()
    }

    /// A bucket named `name` (the logical name from the infra config, used in
    /// messages) served by `driver`.
    pub fn new(name: impl Into<String>, driver: Arc<dyn BucketDriver>) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.into(),
                driver,
            }),
        }
    }

    /// The bucket's logical name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// What the provider can do.
    pub fn capabilities(&self) -> &ObjectCapabilities {
        self.inner.driver.capabilities()
    }

    /// The provider underneath, for provider-specific calls. Calls made on it
    /// bypass this type's validation.
    pub fn driver(&self) -> &Arc<dyn BucketDriver> {
        &self.inner.driver
    }

    /// Stores `body` under `key`, replacing any object there (subject to
    /// `opts.precondition`). Returns the new object's metadata.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad key or metadata name ([`validate_metadata`]),
    /// `ResourceExhausted` above the provider's size limit, `PreconditionFailed`
    /// when the precondition does not hold.
    pub async fn upload(
        &self,
        key: &str,
        body: impl Into<Bytes>,
        opts: PutOptions,
    ) -> Result<ObjectMeta> {
        let key = self.key(key)?;
        validate_metadata(&opts.metadata).map_err(|e| self.context("upload", &key, e))?;
        let body = body.into();
        self.check_size(&key, body.len() as u64)?;
        self.inner
            .driver
            .put(&key, body, &opts)
            .await
            .map_err(|e| self.context("upload", &key, e))
    }

    /// Stores a streamed body under `key`. Nothing becomes visible unless the
    /// whole stream was stored: if the stream yields an error, the upload fails
    /// with that error's code and no object (or the previous one) remains.
    pub async fn upload_stream(
        &self,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<ObjectMeta> {
        let key = self.key(key)?;
        validate_metadata(&opts.metadata).map_err(|e| self.context("upload", &key, e))?;
        let body = match self.capabilities().max_object_bytes {
            Some(max) => limit_stream(body, max, self.describe(&key)),
            None => body,
        };
        self.inner
            .driver
            .put_stream(&key, body, &opts)
            .await
            .map_err(|e| self.context("upload", &key, e))
    }

    /// Downloads the whole object into memory.
    ///
    /// # Errors
    /// `NotFound` when there is no object under `key`.
    pub async fn download(&self, key: &str) -> Result<Bytes> {
        let result = self.download_stream(key, GetOptions::default()).await?;
        let expected = result.meta.size;
        self.collect(key, result.body, expected).await
    }

    /// Downloads the bytes of `range`; an end past the object's end is clamped.
    ///
    /// # Errors
    /// `InvalidArgument` for an empty or reversed range or a start at or past
    /// the end of the object; `NotFound` when there is no object.
    pub async fn download_range(&self, key: &str, range: ByteRange) -> Result<Bytes> {
        let opts = GetOptions { range: Some(range) };
        let result = self.download_stream(key, opts).await?;
        let expected = range
            .resolve(result.meta.size)
            .map_err(|e| wrap(e, &format!("download of object `{}`", short(key))))?;
        self.collect(key, result.body, expected.end - expected.start)
            .await
    }

    /// Opens a streamed download: the metadata now, the body as it arrives.
    pub async fn download_stream(&self, key: &str, opts: GetOptions) -> Result<GetResult> {
        let key = self.key(key)?;
        if let Some(range) = &opts.range {
            range
                .check()
                .map_err(|e| self.context("download", &key, e))?;
        }
        let describe = self.describe(&key);
        let result = self
            .inner
            .driver
            .get(&key, &opts)
            .await
            .map_err(|e| self.context("download", &key, e))?;
        let body = result
            .body
            .map_err(move |e| wrap(e, &format!("reading {describe}")))
            .boxed();
        Ok(GetResult {
            meta: result.meta,
            body,
        })
    }

    /// The object's metadata.
    ///
    /// # Errors
    /// `NotFound` when there is no object under `key`.
    pub async fn attrs(&self, key: &str) -> Result<ObjectMeta> {
        let key = self.key(key)?;
        self.inner
            .driver
            .head(&key)
            .await
            .map_err(|e| self.context("read attributes of", &key, e))
    }

    /// Whether an object exists under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.attrs(key).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the object; deleting a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let key = self.key(key)?;
        match self.inner.driver.delete(&key).await {
            Err(e) if e.code() == ErrorCode::NotFound => Ok(()),
            other => other.map_err(|e| self.context("delete", &key, e)),
        }
    }

    /// Copies `from` to `to` within the bucket (content, content type and
    /// metadata); `precondition` applies to `to`.
    ///
    /// # Errors
    /// `NotFound` when `from` does not exist, `PreconditionFailed` when the
    /// precondition on `to` does not hold.
    pub async fn copy(
        &self,
        from: &str,
        to: &str,
        precondition: Precondition,
    ) -> Result<ObjectMeta> {
        let from = self.key(from)?;
        let to = self.key(to)?;
        self.inner
            .driver
            .copy(&from, &to, &precondition)
            .await
            .map_err(|e| {
                let what = format!("copy to `{}`", short(to.as_str()));
                self.context(&what, &from, e)
            })
    }

    /// Streams every entry matching `opts`, following pages transparently.
    /// Within a page, objects and common prefixes come merged in key order.
    pub fn list(&self, opts: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let bucket = self.clone();
        stream::try_unfold(Some(opts), move |next| {
            let bucket = bucket.clone();
            async move {
                let Some(opts) = next else {
                    return Ok(None);
                };
                let page = bucket.list_page(opts.clone()).await?;
                let next = match &page.next_page_token {
                    None => None,
                    Some(token) if opts.page_token.as_ref() == Some(token) => {
                        return Err(Error::internal(format!(
                            "listing bucket `{}` returned the same page token twice",
                            bucket.name()
                        )));
                    }
                    Some(token) => Some(ListOptions {
                        page_token: Some(token.clone()),
                        ..opts
                    }),
                };
                Ok(Some((page, next)))
            }
        })
        .map_ok(|page| stream::iter(merge_page(page).into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    /// One page of a listing; pass its `next_page_token` back for the next.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad prefix or a page size of 0.
    pub async fn list_page(&self, mut opts: ListOptions) -> Result<ListPage> {
        let prefix = opts.prefix.as_deref().unwrap_or("");
        validate_prefix(prefix).map_err(|e| self.bucket_error(e))?;
        if opts.page_size == Some(0) {
            return Err(self.bucket_error(Error::invalid_argument(
                "a list page size must be at least 1",
            )));
        }
        if opts.delimiter.as_deref() == Some("") {
            opts.delimiter = None;
        }
        self.inner.driver.list_page(&opts).await.map_err(|e| {
            let msg = format!(
                "listing bucket `{}` (prefix {})",
                self.name(),
                quote(prefix)
            );
            wrap(e, &msg)
        })
    }

    /// A URL that lets its holder download or upload `key` until `opts.ttl`
    /// passes, where [`ObjectCapabilities::signed_urls`] is true.
    ///
    /// # Errors
    /// `InvalidArgument` for a zero TTL or one above [`MAX_SIGNED_URL_TTL`];
    /// `Unsupported` where the provider has no signed URLs.
    pub async fn signed_url(&self, key: &str, opts: SignedUrlOptions) -> Result<String> {
        let key = self.key(key)?;
        if opts.ttl.is_zero() || opts.ttl > MAX_SIGNED_URL_TTL {
            return Err(self.context(
                "sign a URL for",
                &key,
                Error::invalid_argument(format!(
                    "the TTL must be between 1 second and 7 days, got {:?}",
                    opts.ttl
                )),
            ));
        }
        self.inner
            .driver
            .signed_url(&key, &opts)
            .await
            .map_err(|e| self.context("sign a URL for", &key, e))
    }

    /// The object's public URL, where [`ObjectCapabilities::public_urls`] is true.
    ///
    /// # Errors
    /// `Unsupported` where the provider has no public URLs.
    pub fn public_url(&self, key: &str) -> Result<String> {
        let key = self.key(key)?;
        self.inner
            .driver
            .public_url(&key)
            .map_err(|e| self.context("make a public URL for", &key, e))
    }

    fn key(&self, key: &str) -> Result<ObjectKey> {
        ObjectKey::new(key).map_err(|e| self.bucket_error(e))
    }

    fn check_size(&self, key: &ObjectKey, len: u64) -> Result<()> {
        match self.capabilities().max_object_bytes {
            Some(max) if len > max => Err(Error::resource_exhausted(format!(
                "{} is {len} bytes, above the provider's limit of {max}",
                self.describe(key)
            ))),
            _ => Ok(()),
        }
    }

    fn describe(&self, key: &ObjectKey) -> String {
        format!(
            "object `{}` in bucket `{}`",
            short(key.as_str()),
            self.name()
        )
    }

    fn bucket_error(&self, err: Error) -> Error {
        let msg = format!("bucket `{}`", self.name());
        wrap(err, &msg)
    }

    /// Puts the operation, key and bucket in front of a provider's error.
    fn context(&self, op: &str, key: &ObjectKey, err: Error) -> Error {
        if err.code() == ErrorCode::NotFound {
            let msg = format!(
                "object `{}` not found in bucket `{}`",
                short(key.as_str()),
                self.name()
            );
            // A copy can fail on a missing source; say which call it was.
            if op.starts_with("copy") {
                return wrap(err, &format!("{op}: {msg}"));
            }
            return wrap(err, &msg);
        }
        wrap(err, &format!("{op} {}", self.describe(key)))
    }

    async fn collect(&self, key: &str, mut body: ByteStream, expected: u64) -> Result<Bytes> {
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut total: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            total += chunk.len() as u64;
            chunks.push(chunk);
        }
        if total != expected {
            return Err(Error::unavailable(format!(
                "the download of object `{}` in bucket `{}` ended after {total} of {expected} bytes",
                short(key),
                self.name(),
            )));
        }
        // One chunk (the common case for in-memory and small objects) is
        // returned as is, without a copy.
        if chunks.len() == 1 {
            return Ok(chunks.swap_remove(0));
        }
        let mut buf = BytesMut::with_capacity(total as usize);
        for chunk in chunks {
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

impl ByteRange {
    /// The bytes `start..end` (`end` exclusive).
    pub const fn new(start: u64, end: u64) -> Self {
        Self {
            start,
            end: Some(end),
        }
    }

    /// The bytes from `start` to the end of the object.
    pub const fn starting_at(start: u64) -> Self {
        Self { start, end: None }
    }

    /// Checks what can be checked without the object: the range is not empty
    /// or reversed.
    ///
    /// # Errors
    /// `InvalidArgument` when `end <= start`.
    pub fn check(&self) -> Result<()> {
        match self.end {
            Some(end) if end <= self.start => Err(Error::invalid_argument(format!(
                "the byte range {}..{end} is empty or reversed",
                self.start
            ))),
            _ => Ok(()),
        }
    }

    /// The concrete byte positions for an object of `size` bytes, with the end
    /// clamped to `size`. For providers that serve ranges themselves.
    ///
    /// # Errors
    /// `InvalidArgument` when the range is empty or reversed, or starts at or
    /// past the end of the object.
    pub fn resolve(&self, size: u64) -> Result<Range<u64>> {
        self.check()?;
        if self.start >= size {
            return Err(Error::invalid_argument(format!(
                "the byte range starts at {} but the object is {size} bytes long",
                self.start
            )));
        }
        let end = self.end.map_or(size, |end| end.min(size));
        Ok(self.start..end)
    }
}

/// Keeps `err`'s code and puts it behind a message with more context.
fn wrap(err: Error, context: &str) -> Error {
    let message = format!("{context}: {}", err.message());
    Error::new(err.code(), message).with_source(err)
}

/// A key short enough for a message.
fn short(key: &str) -> String {
    const MAX_CHARS: usize = 120;
    match key.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &key[..cut]),
        None => key.to_owned(),
    }
}

/// Fails the stream once it has yielded more than `max` bytes, so the
/// provider aborts the upload instead of storing an oversized object.
fn limit_stream(body: ByteStream, max: u64, describe: String) -> ByteStream {
    let mut total: u64 = 0;
    body.map(move |chunk| {
        let chunk = chunk?;
        total = total.saturating_add(chunk.len() as u64);
        if total > max {
            return Err(Error::resource_exhausted(format!(
                "{describe} is above the provider's limit of {max} bytes"
            )));
        }
        Ok(chunk)
    })
    .boxed()
}

/// The entries of a page, objects and common prefixes merged in key order.
fn merge_page(page: ListPage) -> VecDeque<ListEntry> {
    let mut out = VecDeque::with_capacity(page.objects.len() + page.common_prefixes.len());
    let mut objects = page.objects.into_iter().peekable();
    let mut prefixes = page.common_prefixes.into_iter().peekable();
    loop {
        let take_object = match (objects.peek(), prefixes.peek()) {
            (Some(o), Some(p)) => o.key.as_str() <= p.as_str(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        let entry = if take_object {
            objects.next().map(ListEntry::Object)
        } else {
            prefixes.next().map(ListEntry::Prefix)
        };
        out.extend(entry);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "bucket_tests.rs"]
mod tests;
