//! In-memory objects: a sorted map under a lock.
//!
//! Complete and atomic (preconditions, copies and streamed uploads all take
//! effect in one critical section), meant for tests and single-process apps.
//! Signed and public URLs are [`Unsupported`](strata_core::ErrorCode): there is
//! no server that could answer them.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, stream};
use md5::{Digest, Md5};
use strata_core::objects::listing::{ListPageBuilder, Offer};
use strata_core::objects::{
    BucketDriver, ByteStream, GetOptions, GetResult, ListOptions, ListPage, ObjectCapabilities,
    ObjectKey, ObjectMeta, Precondition, PutOptions, SignedUrlOptions,
};
use strata_core::sync::lock;
use strata_core::{Error, Result};

/// A bucket held in process memory. Cloning is not offered: share it through
/// an `Arc` (as [`Bucket`](strata_core::objects::Bucket) does).
///
/// ```
/// # use std::sync::Arc;
/// use strata_core::objects::{Bucket, PutOptions};
/// use strata_providers::memory::objects::MemoryBucket;
/// # futures::executor::block_on(async {
/// let bucket = Bucket::new("scratch", Arc::new(MemoryBucket::new()));
/// let meta = bucket.upload("k", "v", PutOptions::default()).await?;
/// assert_eq!(meta.etag, "\"9e3669d19b675bd57058fd4664205d2a\""); // MD5 of "v"
/// assert_eq!(bucket.download("k").await?, "v".as_bytes());
/// # Ok::<(), strata_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct MemoryBucket {
    objects: Mutex<BTreeMap<String, Stored>>,
    capabilities: ObjectCapabilities,
}

#[derive(Debug, Clone)]
struct Stored {
    data: Bytes,
    meta: ObjectMeta,
}

impl Default for MemoryBucket {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBucket {
    /// An empty bucket.
    pub fn new() -> Self {
        Self {
            objects: Mutex::new(BTreeMap::new()),
            capabilities: ObjectCapabilities {
                conditional_put: true,
                range_reads: true,
                signed_urls: false,
                public_urls: false,
                max_object_bytes: None,
            },
        }
    }

    /// How many objects the bucket holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the bucket holds no object.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The map. A panic elsewhere while holding the lock cannot leave it half
    /// updated (every update is a single insert or remove), so poisoning is
    /// ignored rather than turned into a panic here.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Stored>> {
        lock(&self.objects)
    }

    fn store(&self, key: &ObjectKey, data: Bytes, opts: &PutOptions) -> Result<ObjectMeta> {
        // Hash before taking the lock: it is the slow part.
        let meta = ObjectMeta {
            key: key.as_str().to_owned(),
            size: data.len() as u64,
            etag: etag_of(&data),
            content_type: opts.content_type.clone(),
            last_modified: SystemTime::now(),
            metadata: opts.metadata.clone(),
        };
        let mut objects = self.lock();
        check_precondition(&opts.precondition, objects.get(key.as_str()), key)?;
        objects.insert(
            key.as_str().to_owned(),
            Stored {
                data,
                meta: meta.clone(),
            },
        );
        Ok(meta)
    }

    fn stored(&self, key: &ObjectKey) -> Result<Stored> {
        self.lock()
            .get(key.as_str())
            .cloned()
            .ok_or_else(|| Error::not_found(format!("no object `{key}` in the memory bucket")))
    }
}

#[async_trait]
impl BucketDriver for MemoryBucket {
    fn capabilities(&self) -> &ObjectCapabilities {
        &self.capabilities
    }

    async fn put(&self, key: &ObjectKey, body: Bytes, opts: &PutOptions) -> Result<ObjectMeta> {
        self.store(key, body, opts)
    }

    async fn put_stream(
        &self,
        key: &ObjectKey,
        mut body: ByteStream,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        // Collect first, store once: a failing stream stores nothing.
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk?);
        }
        self.store(key, buf.freeze(), opts)
    }

    async fn get(&self, key: &ObjectKey, opts: &GetOptions) -> Result<GetResult> {
        let stored = self.stored(key)?;
        let data = match &opts.range {
            Some(range) => {
                let r = range.resolve(stored.meta.size)?;
                // Both ends are within `data.len()`, which fits in usize.
                stored.data.slice(r.start as usize..r.end as usize)
            }
            None => stored.data,
        };
        let chunks: Vec<Result<Bytes>> = if data.is_empty() {
            Vec::new()
        } else {
            vec![Ok(data)]
        };
        Ok(GetResult {
            meta: stored.meta,
            body: stream::iter(chunks).boxed(),
        })
    }

    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta> {
        Ok(self.stored(key)?.meta)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.lock().remove(key.as_str());
        Ok(())
    }

    async fn copy(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        precondition: &Precondition,
    ) -> Result<ObjectMeta> {
        let mut objects = self.lock();
        let source = objects
            .get(from.as_str())
            .ok_or_else(|| Error::not_found(format!("no source object `{from}` to copy")))?;
        let copy = Stored {
            data: source.data.clone(),
            meta: ObjectMeta {
                key: to.as_str().to_owned(),
                last_modified: SystemTime::now(),
                ..source.meta.clone()
            },
        };
        check_precondition(precondition, objects.get(to.as_str()), to)?;
        let meta = copy.meta.clone();
        objects.insert(to.as_str().to_owned(), copy);
        Ok(meta)
    }

    async fn list_page(&self, opts: &ListOptions) -> Result<ListPage> {
        let mut builder = ListPageBuilder::new(opts);
        let prefix = builder.prefix();
        let objects = self.lock();
        // Start at the prefix or just after the token, whichever is later.
        let mut cursor: Bound<String> = match builder.token() {
            Some(token) if token >= prefix => Bound::Excluded(token.to_owned()),
            _ => Bound::Included(prefix.to_owned()),
        };
        loop {
            let bounds = (cursor.as_ref().map(String::as_str), Bound::Unbounded);
            let Some((key, stored)) = objects.range::<str, _>(bounds).next() else {
                break;
            };
            if !key.starts_with(prefix) {
                break;
            }
            if let Some(group) = builder.group_of(key) {
                if builder.offer_common_prefix(&group) == Offer::Full {
                    break;
                }
                // Jump over the rest of the group instead of walking it.
                cursor = match successor(&group) {
                    Some(next) => Bound::Included(next),
                    None => Bound::Excluded(key.clone()),
                };
                continue;
            }
            match builder.offer_key(key) {
                Offer::Full => break,
                Offer::Object => builder.push_object(stored.meta.clone()),
                Offer::Skip => {}
            }
            cursor = Bound::Excluded(key.clone());
        }
        Ok(builder.finish())
    }

    async fn signed_url(&self, _key: &ObjectKey, _opts: &SignedUrlOptions) -> Result<String> {
        Err(Error::unsupported(
            "the memory provider has no server to answer signed URLs",
        ))
    }

    fn public_url(&self, _key: &ObjectKey) -> Result<String> {
        Err(Error::unsupported(
            "the memory provider has no server to answer public URLs",
        ))
    }
}

/// Checks `precondition` against the object currently under `key`.
fn check_precondition(
    precondition: &Precondition,
    current: Option<&Stored>,
    key: &ObjectKey,
) -> Result<()> {
    match (precondition, current) {
        (Precondition::None, _) | (Precondition::IfNotExists, None) => Ok(()),
        (Precondition::IfNotExists, Some(_)) => Err(Error::precondition_failed(format!(
            "an object `{key}` already exists"
        ))),
        (Precondition::IfMatch(_), None) => Err(Error::precondition_failed(format!(
            "if-match: there is no object `{key}`"
        ))),
        (Precondition::IfMatch(expected), Some(stored)) => {
            if etags_match(expected, &stored.meta.etag) {
                Ok(())
            } else {
                Err(Error::precondition_failed(format!(
                    "if-match: object `{key}` has etag {}, not {expected}",
                    stored.meta.etag
                )))
            }
        }
    }
}

/// Whether two etags name the same version; quotes are optional (HTTP quotes
/// them, users often strip them).
pub(crate) fn etags_match(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

/// The smallest string greater than every string starting with `prefix`
/// (its last character incremented), or `None` if there is none.
fn successor(prefix: &str) -> Option<String> {
    let mut chars = prefix.chars();
    let last = chars.next_back()?;
    let next = match u32::from(last) + 1 {
        0xD800 => '\u{E000}', // skip the surrogate gap
        n => char::from_u32(n)?,
    };
    let mut out = chars.as_str().to_owned();
    out.push(next);
    Some(out)
}

/// An etag like S3's for a single-part upload: the quoted hex MD5 of the content.
pub(crate) fn etag_of(data: &[u8]) -> String {
    let mut hasher = EtagHasher::new();
    hasher.update(data);
    hasher.finish()
}

/// Computes [`etag_of`] over a body that arrives in chunks.
#[derive(Default)]
pub(crate) struct EtagHasher(Md5);

impl EtagHasher {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }

    pub(crate) fn finish(self) -> String {
        use std::fmt::Write;
        let digest = self.0.finalize();
        let mut out = String::with_capacity(2 + 2 * digest.len());
        out.push('"');
        for byte in digest.iter() {
            // Writing to a String cannot fail.
            let _ = write!(out, "{byte:02x}");
        }
        out.push('"');
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn etag_is_the_quoted_hex_md5() {
        assert_eq!(etag_of(b""), "\"d41d8cd98f00b204e9800998ecf8427e\"");
        let mut h = EtagHasher::new();
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish(), etag_of(b"hello world"));
        assert_eq!(
            etag_of(b"hello world"),
            "\"5eb63bbbe01eeed093cb22bb8f5acdc3\""
        );
    }

    #[test]
    fn successor_bounds_every_string_with_the_prefix() {
        assert_eq!(successor("a/").as_deref(), Some("a0"));
        assert_eq!(successor("").as_deref(), None);
        assert_eq!(successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(successor("x\u{10FFFF}"), None);
        let s = successor("ü/").unwrap();
        assert!("ü/zzz" < s.as_str() && "ü0" >= s.as_str());
    }

    #[test]
    fn etags_match_with_or_without_quotes() {
        assert!(etags_match("\"abc\"", "abc"));
        assert!(!etags_match("\"abc\"", "\"abd\""));
    }
}
