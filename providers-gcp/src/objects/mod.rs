//! ObjectStore on Cloud Storage, through the JSON API (`gcloud-storage`).
//!
//! - [`GcsBucket`] is one bucket; keys are object names.
//! - Versions: an object's `generation` is Strata's etag. It changes with
//!   every write, and `ifGenerationMatch` makes preconditions atomic:
//!   `IfNotExists` is `ifGenerationMatch=0`, `IfMatch(etag)` is
//!   `ifGenerationMatch=etag`.
//! - Writes: small bodies in one multipart upload (data and metadata
//!   together); larger and streamed ones through a resumable session in
//!   8 MiB chunks, cancelled when the stream fails, so no partial object is
//!   ever visible.
//! - Reads pin the generation they looked up, so a range or a stream never
//!   mixes two versions.
//! - URLs: public URLs are `ENDPOINT/BUCKET/KEY` (or under
//!   [`GcsBucketOptions::public_base_url`]). V4 signed URLs point at the
//!   storage endpoint too and are signed for its host, with a
//!   service-account key (which also signs for an emulator endpoint, where
//!   requests stay anonymous) or IAM `signBlob` on Google Cloud; anonymous
//!   clients have none (`Unsupported`).
//!
//! The official `google-cloud-storage` crate is not used: it lists and
//! deletes over gRPC, which no local emulator serves.

mod read;
mod urls;
mod write;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use gcloud_storage::http::buckets::get::GetBucketRequest;
use gcloud_storage::http::buckets::insert::{InsertBucketParam, InsertBucketRequest};
use gcloud_storage::http::objects::Object;
use strata_core::objects::{
    BucketDriver, ByteStream, GetOptions, GetResult, ListOptions, ListPage, ObjectCapabilities,
    ObjectKey, ObjectMeta, Precondition, PutOptions, SignedUrlOptions,
};
use strata_core::registry::cloud::found_or_provisioned;
use strata_core::{Error, ErrorCode, Result};

use crate::clients::{GcpClients, Service};
use crate::error::storage_error;

/// Cloud Storage's largest object (5 TiB).
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// How to open a [`GcsBucket`].
#[derive(Debug, Clone)]
pub struct GcsBucketOptions {
    /// Base of public URLs (a CDN, say); default
    /// `https://storage.googleapis.com/BUCKET` or the emulator's endpoint.
    pub public_base_url: Option<String>,
    /// Create the bucket in the configured project if it is missing.
    pub provision: bool,
    /// Copy with a precondition on the destination in one server-side
    /// `copyTo` with `ifGenerationMatch` (atomic, no bytes through the
    /// client). fake-gcs-server ignores that precondition on `copyTo` and
    /// `rewriteTo`; with `false`, a conditional copy downloads the source and
    /// uploads it with the precondition instead (still atomic on the
    /// destination).
    pub server_side_conditional_copy: bool,
}

impl Default for GcsBucketOptions {
    fn default() -> Self {
        Self {
            public_base_url: None,
            provision: false,
            server_side_conditional_copy: true,
        }
    }
}

/// One Cloud Storage bucket. Cheap to clone.
///
/// ```no_run
/// # async fn demo(clients: strata_gcp::GcpClients) -> strata_core::Result<()> {
/// use std::sync::Arc;
/// use strata_core::objects::Bucket;
/// let driver = strata_gcp::GcsBucket::open(&clients, "uploads", Default::default()).await?;
/// let uploads = Bucket::new("uploads", Arc::new(driver));
/// uploads.upload("a.txt", "hello", Default::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GcsBucket {
    inner: Arc<Inner>,
}

struct Inner {
    clients: GcpClients,
    name: String,
    public_base_url: String,
    server_side_conditional_copy: bool,
    /// The server was seen storing no content type from a multipart upload
    /// (see `write.rs`).
    multipart_drops_type: AtomicBool,
    capabilities: ObjectCapabilities,
}

impl std::fmt::Debug for GcsBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsBucket")
            .field("name", &self.inner.name)
            .finish()
    }
}

impl GcsBucket {
    /// Opens bucket `name`, creating it with `opts.provision`.
    ///
    /// # Errors
    /// `NotFound` when the bucket is missing and `provision` is false,
    /// `InvalidArgument` for a name Cloud Storage refuses, `PermissionDenied`
    /// for bad credentials, `Unavailable` when Cloud Storage cannot be
    /// reached.
    pub async fn open(
        clients: &GcpClients,
        name: &str,
        opts: GcsBucketOptions,
    ) -> Result<GcsBucket> {
        check_bucket_name(name)?;
        let client = clients.storage().await?;
        let target = clients.describe(Service::Storage);
        let get = GetBucketRequest {
            bucket: name.to_owned(),
            ..GetBucketRequest::default()
        };
        let found = client
            .get_bucket(&get)
            .await
            .map(drop)
            .map_err(|e| storage_error(e, &format!("reading bucket `{name}`"), &target));
        found_or_provisioned(
            found,
            opts.provision,
            || create_bucket(clients, name),
            || {
                format!(
                    "bucket `{name}` does not exist ({target}): create it, or set \
                     \"provision\": true under providers.gcp"
                )
            },
        )
        .await?;
        let settings = clients.settings();
        let base = opts.public_base_url.unwrap_or_else(|| {
            let host = settings
                .storage_endpoint()
                .unwrap_or("https://storage.googleapis.com");
            format!("{host}/{name}")
        });
        let signed_urls = clients.storage_signs().await?;
        Ok(GcsBucket {
            inner: Arc::new(Inner {
                clients: clients.clone(),
                name: name.to_owned(),
                public_base_url: base.trim_end_matches('/').to_owned(),
                server_side_conditional_copy: opts.server_side_conditional_copy,
                multipart_drops_type: AtomicBool::new(false),
                capabilities: ObjectCapabilities {
                    conditional_put: true,
                    range_reads: true,
                    signed_urls,
                    public_urls: true,
                    max_object_bytes: Some(MAX_OBJECT_BYTES),
                },
            }),
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    fn target(&self) -> String {
        self.inner.clients.describe(Service::Storage)
    }

    fn fail(&self, e: gcloud_storage::http::Error, call: &str, key: &str) -> Error {
        storage_error(
            e,
            &format!("{call} `{key}` in bucket `{}`", self.inner.name),
            &self.target(),
        )
    }
}

async fn create_bucket(clients: &GcpClients, name: &str) -> Result<()> {
    let target = clients.describe(Service::Storage);
    let request = InsertBucketRequest {
        name: name.to_owned(),
        param: InsertBucketParam {
            project: clients.project().to_owned(),
            ..InsertBucketParam::default()
        },
        ..InsertBucketRequest::default()
    };
    match clients.storage().await?.insert_bucket(&request).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = storage_error(e, &format!("creating bucket `{name}`"), &target);
            // Created meanwhile by another process (409): use it.
            if err.code() == ErrorCode::Conflict {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// Bucket names: 3 to 63 characters (222 with dots, 63 between them) of
/// lowercase letters, digits, `-`, `_` and `.`, starting and ending with a
/// letter or digit, not an IP address, not starting with `goog` nor
/// containing `google`.
fn check_bucket_name(name: &str) -> Result<()> {
    match bucket_name_rule(name) {
        None => Ok(()),
        Some(rule) => Err(Error::invalid_argument(format!(
            "bucket name `{name}` is {rule}"
        ))),
    }
}

/// The Cloud Storage bucket name rule `name` breaks, if any; the message
/// never repeats the name.
pub fn bucket_name_rule(name: &str) -> Option<&'static str> {
    let len_ok = (3..=222).contains(&name.len()) && name.split('.').all(|p| p.len() <= 63);
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    let ends_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !(len_ok && chars_ok && ends_ok) {
        Some(
            "not valid on Cloud Storage: 3 to 63 lowercase letters, digits, `-`, `_` or `.`, \
             starting and ending with a letter or digit",
        )
    } else if name.starts_with("goog") || name.contains("google") {
        Some("not valid on Cloud Storage: it must not start with `goog` nor contain `google`")
    } else if name.parse::<std::net::Ipv4Addr>().is_ok() {
        Some("not valid on Cloud Storage: it must not look like an IP address")
    } else {
        None
    }
}

/// The `ifGenerationMatch` of a precondition.
fn generation_match(precondition: &Precondition) -> Result<Option<i64>> {
    match precondition {
        Precondition::None => Ok(None),
        Precondition::IfNotExists => Ok(Some(0)),
        Precondition::IfMatch(etag) => etag.parse::<i64>().map(Some).map_err(|_| {
            // Not a generation of ours: no object can match it.
            Error::precondition_failed(format!(
                "etag `{etag}` is not a Cloud Storage generation, so no object matches it"
            ))
        }),
    }
}

/// Strata's metadata of a Cloud Storage object.
fn meta_of(object: Object) -> ObjectMeta {
    let last_modified = object
        .updated
        .or(object.time_created)
        .map_or(SystemTime::UNIX_EPOCH, SystemTime::from);
    ObjectMeta {
        key: object.name,
        size: u64::try_from(object.size).unwrap_or(0),
        etag: object.generation.to_string(),
        content_type: object.content_type,
        last_modified,
        metadata: object.metadata.unwrap_or_default().into_iter().collect(),
    }
}

#[async_trait]
impl BucketDriver for GcsBucket {
    fn capabilities(&self) -> &ObjectCapabilities {
        &self.inner.capabilities
    }

    async fn put(&self, key: &ObjectKey, body: Bytes, opts: &PutOptions) -> Result<ObjectMeta> {
        self.put_bytes(key, body, opts).await
    }

    async fn put_stream(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        self.put_streamed(key, body, opts).await
    }

    async fn get(&self, key: &ObjectKey, opts: &GetOptions) -> Result<GetResult> {
        self.download(key, opts).await
    }

    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta> {
        self.attributes(key).await.map(meta_of)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.remove(key).await
    }

    async fn copy(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        precondition: &Precondition,
    ) -> Result<ObjectMeta> {
        self.copy_within(from, to, precondition).await
    }

    async fn list_page(&self, opts: &ListOptions) -> Result<ListPage> {
        self.list(opts).await
    }

    async fn signed_url(&self, key: &ObjectKey, opts: &SignedUrlOptions) -> Result<String> {
        self.sign(key, opts).await
    }

    fn public_url(&self, key: &ObjectKey) -> Result<String> {
        Ok(urls::public_url(&self.inner.public_base_url, key))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_the_gcs_rules() {
        for good in ["abc", "my-bucket_1", "a.b.c"] {
            assert!(check_bucket_name(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Upper", "-lead", "trail-", "goog-x", "has space"] {
            let err = check_bucket_name(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidArgument, "{bad}");
        }
        for bad in [
            "UPPER_case!!",
            "my-google-bucket",
            "10.0.0.1",
            &"a".repeat(64),
        ] {
            let rule = bucket_name_rule(bad).expect(bad);
            assert!(!rule.contains(bad), "{rule}");
        }
    }

    #[test]
    fn preconditions_become_generation_matches() {
        assert_eq!(generation_match(&Precondition::None).unwrap(), None);
        assert_eq!(
            generation_match(&Precondition::IfNotExists).unwrap(),
            Some(0)
        );
        assert_eq!(
            generation_match(&Precondition::IfMatch("17".into())).unwrap(),
            Some(17)
        );
        let err = generation_match(&Precondition::IfMatch("\"abc\"".into())).unwrap_err();
        assert_eq!(err.code(), ErrorCode::PreconditionFailed);
    }
}
