//! ObjectStore: buckets of objects addressed by validated keys.
//!
//! A provider implements [`BucketDriver`], one network (or file) operation per
//! method. The portable [`Bucket`] on top validates keys,
//! reads whole bodies, answers `exists`, and turns paginated listing into a stream.

use std::any::Any;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::Result;

mod bucket;
mod key;
pub mod listing;
mod metadata;
pub mod metadata_words;

pub use bucket::{Bucket, ListEntry, MAX_SIGNED_URL_TTL};
pub use key::{MAX_KEY_BYTES, validate_prefix};
pub use metadata::{MAX_METADATA_NAME_BYTES, validate_metadata};

/// A stream of body chunks, as uploaded or downloaded.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// User metadata stored with an object: names follow [`validate_metadata`],
/// values are any text.
pub type Metadata = BTreeMap<String, String>;

/// What is known about a stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    /// The object's key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Opaque version tag; changes whenever the content changes. Used by
    /// [`Precondition::IfMatch`].
    pub etag: String,
    /// The content type given at upload, if any.
    pub content_type: Option<String>,
    /// When it was last written.
    pub last_modified: SystemTime,
    /// User metadata given at upload.
    pub metadata: Metadata,
}

/// A condition a write must meet, checked atomically by the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Precondition {
    /// Write unconditionally.
    #[default]
    None,
    /// Write only if no object has the key (S3 `If-None-Match: *`, GCS
    /// `ifGenerationMatch=0`, Azure `If-None-Match: *`).
    IfNotExists,
    /// Write only if the current object's etag is this one.
    IfMatch(String),
}

/// Options for an upload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutOptions {
    /// Stored and returned on download.
    pub content_type: Option<String>,
    /// User metadata.
    pub metadata: Metadata,
    /// Checked atomically; a failure is [`ErrorCode::PreconditionFailed`](crate::ErrorCode).
    pub precondition: Precondition,
}

/// A byte range: `start..end`, `end` exclusive; `None` means to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte, or the end of the object.
    pub end: Option<u64>,
}

/// Options for a download.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GetOptions {
    /// Only these bytes. A start past the end is [`ErrorCode::InvalidArgument`](crate::ErrorCode);
    /// an end past the end is clamped.
    pub range: Option<ByteRange>,
}

/// A download: metadata first, then the body as a stream.
pub struct GetResult {
    /// The whole object's metadata (`size` is the full size even for a range).
    pub meta: ObjectMeta,
    /// The requested bytes.
    pub body: ByteStream,
}

/// Options for listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListOptions {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Group keys by the part after the prefix up to this (usually `/`) into
    /// [`ListPage::common_prefixes`].
    pub delimiter: Option<String>,
    /// Most entries (objects plus common prefixes) per page; the provider may return
    /// fewer. `None` is the provider's default (1000 on every cloud).
    pub page_size: Option<usize>,
    /// Continue after a previous page ([`ListPage::next_page_token`]).
    pub page_token: Option<String>,
}

/// One page of a listing, in lexicographic key order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListPage {
    /// Objects in this page.
    pub objects: Vec<ObjectMeta>,
    /// With a delimiter: the distinct `prefix + segment + delimiter` groups.
    pub common_prefixes: Vec<String>,
    /// Present when there is more.
    pub next_page_token: Option<String>,
}

/// Which request a signed URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedUrlMethod {
    /// Download.
    Get,
    /// Upload.
    Put,
}

/// Options for a signed URL.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedUrlOptions {
    /// Download or upload.
    pub method: SignedUrlMethod,
    /// How long the URL works.
    pub ttl: Duration,
    /// For uploads: the content type the uploader must send.
    pub content_type: Option<String>,
}

/// What an object store provider can do.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectCapabilities {
    /// [`Precondition::IfNotExists`] and [`Precondition::IfMatch`] are atomic.
    pub conditional_put: bool,
    /// Range downloads are served without reading the whole object.
    pub range_reads: bool,
    /// [`BucketDriver::signed_url`] works.
    pub signed_urls: bool,
    /// [`BucketDriver::public_url`] works.
    pub public_urls: bool,
    /// The largest object it accepts, if bounded.
    pub max_object_bytes: Option<u64>,
}

/// One bucket of one provider. Keys arrive validated ([`ObjectKey`]).
#[async_trait]
pub trait BucketDriver: Any + Send + Sync {
    /// What this provider can do.
    fn capabilities(&self) -> &ObjectCapabilities;

    /// Stores a body held in memory.
    async fn put(&self, key: &ObjectKey, body: Bytes, opts: &PutOptions) -> Result<ObjectMeta>;

    /// Stores a streamed body. Nothing is visible under `key` unless the whole
    /// stream was stored; a failed upload leaves no partial object behind.
    async fn put_stream(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        opts: &PutOptions,
    ) -> Result<ObjectMeta>;

    /// Opens a download. A missing object is [`ErrorCode::NotFound`](crate::ErrorCode).
    async fn get(&self, key: &ObjectKey, opts: &GetOptions) -> Result<GetResult>;

    /// Reads metadata. A missing object is [`ErrorCode::NotFound`](crate::ErrorCode).
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta>;

    /// Deletes; deleting a missing object succeeds.
    async fn delete(&self, key: &ObjectKey) -> Result<()>;

    /// Copies within the bucket, with the destination's precondition.
    async fn copy(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        precondition: &Precondition,
    ) -> Result<ObjectMeta>;

    /// One page of keys.
    async fn list_page(&self, opts: &ListOptions) -> Result<ListPage>;

    /// A URL that lets anyone holding it download or upload `key` until it expires.
    async fn signed_url(&self, key: &ObjectKey, opts: &SignedUrlOptions) -> Result<String> {
        let _ = (key, opts);
        Err(crate::Error::unsupported("signed URLs"))
    }

    /// The object's public URL (meaningful when the bucket is public).
    fn public_url(&self, key: &ObjectKey) -> Result<String> {
        let _ = key;
        Err(crate::Error::unsupported("public URLs"))
    }
}

/// An object key that passed the portable validation rules (see [`ObjectKey::new`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `/`-separated segments.
    pub fn segments(&self) -> std::str::Split<'_, char> {
        self.0.split('/')
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ObjectKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
