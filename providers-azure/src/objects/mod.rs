//! ObjectStore on Azure Blob Storage, through Microsoft's `azure_storage_blob`.
//!
//! - [`BlobBucket`] is one container; keys are blob names (block blobs).
//! - Versions: a blob's ETag is Strata's etag; `IfNotExists` is
//!   `If-None-Match: *` and `IfMatch(etag)` is `If-Match`, checked by the
//!   service on the write itself (Put Blob, Put Block List, Copy Blob).
//! - Writes: bodies up to [`BLOCK_BYTES`] in one Put Blob; larger and
//!   streamed ones as staged blocks (Put Block) committed by one Put Block
//!   List. A stream that fails is never committed: its staged blocks stay
//!   invisible and the service drops them (within a week).
//! - Reads are one GET each (ranged when asked), pinned by the ETag their
//!   metadata came with.
//! - Listing with a delimiter is the service's hierarchical List Blobs,
//!   sent by hand through the same pipeline: `azure_storage_blob` 1.1 has
//!   only the flat listing, which it serves.
//! - URLs: `public_url` is the blob's URL (or under
//!   [`BlobBucketOptions::public_base_url`]); signed URLs are service SAS
//!   signed with the account key, or user-delegation SAS with Entra ID.

mod list;
mod read;
mod urls;
mod write;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use azure_core::time::OffsetDateTime;
use azure_storage_blob::{BlobClient, BlobContainerClient};
use bytes::Bytes;
use strata_core::objects::{
    BucketDriver, ByteStream, GetOptions, GetResult, ListOptions, ListPage, ObjectCapabilities,
    ObjectKey, ObjectMeta, Precondition, PutOptions, SignedUrlOptions,
};
use strata_core::registry::cloud::found_or_provisioned;
use strata_core::{Error, ErrorCode, Result};

use crate::clients::AzureClients;
use crate::error::blob_error;
use crate::settings::AzureCredentials;

/// The size of each staged block, and the largest body sent in one Put Blob.
pub const BLOCK_BYTES: usize = 8 * 1024 * 1024;
/// Blob Storage takes at most 50,000 blocks per blob; at [`BLOCK_BYTES`]
/// each that is the largest object Strata writes.
pub const MAX_OBJECT_BYTES: u64 = 50_000 * BLOCK_BYTES as u64;

/// How to open a [`BlobBucket`].
#[derive(Debug, Clone, Default)]
pub struct BlobBucketOptions {
    /// Base of public URLs (a CDN, say); default the container's URL.
    pub public_base_url: Option<String>,
    /// Create the container if it is missing.
    pub provision: bool,
}

/// One Blob Storage container. Cheap to clone.
///
/// ```no_run
/// # async fn demo(clients: strata_azure::AzureClients) -> strata_core::Result<()> {
/// use std::sync::Arc;
/// use strata_core::objects::Bucket;
/// let driver = strata_azure::BlobBucket::open(&clients, "uploads", Default::default()).await?;
/// let uploads = Bucket::new("uploads", Arc::new(driver));
/// uploads.upload("a.txt", "hello", Default::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BlobBucket {
    inner: Arc<Inner>,
}

struct Inner {
    clients: AzureClients,
    container: BlobContainerClient,
    name: String,
    public_base_url: String,
    capabilities: ObjectCapabilities,
}

impl std::fmt::Debug for BlobBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobBucket")
            .field("name", &self.inner.name)
            .finish()
    }
}

impl BlobBucket {
    /// Opens container `name`, creating it with `opts.provision`.
    ///
    /// # Errors
    /// `NotFound` when the container is missing and `provision` is false,
    /// `InvalidArgument` for a name Blob Storage refuses, `PermissionDenied`
    /// for refused credentials, `Unavailable` when the service cannot be
    /// reached, `InvalidConfig` for settings it cannot use.
    pub async fn open(
        clients: &AzureClients,
        name: &str,
        opts: BlobBucketOptions,
    ) -> Result<BlobBucket> {
        if let Some(rule) = container_name_rule(name) {
            return Err(Error::invalid_argument(format!(
                "container name `{name}` is {rule}"
            )));
        }
        let container = clients.container(name).await?;
        let target = clients.describe_blob();
        let found = container
            .get_properties(None)
            .await
            .map(drop)
            .map_err(|e| blob_error(e, &format!("reading container `{name}`"), &target));
        found_or_provisioned(
            found,
            opts.provision,
            || create_container(&container, name, &target),
            || {
                format!(
                    "container `{name}` does not exist ({target}): create it, or set \
                     \"provision\": true under providers.azure"
                )
            },
        )
        .await?;
        let base = opts
            .public_base_url
            .unwrap_or_else(|| container.url().to_string());
        let signed_urls = matches!(
            clients.settings().credentials,
            AzureCredentials::SharedKey(_) | AzureCredentials::Entra(_)
        );
        Ok(BlobBucket {
            inner: Arc::new(Inner {
                clients: clients.clone(),
                container,
                name: name.to_owned(),
                public_base_url: base.trim_end_matches('/').to_owned(),
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

    /// The container's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The crate's client of this container, for a call Strata does not wrap.
    pub fn container_client(&self) -> &BlobContainerClient {
        &self.inner.container
    }

    /// The client of blob `key`. The core key rules already refuse a
    /// segment ending in `.`, which the service would drop from the name.
    fn blob(&self, key: &ObjectKey) -> BlobClient {
        self.inner.container.blob_client(key.as_str())
    }

    fn fail(&self, e: azure_core::Error, call: &str, key: &str) -> Error {
        blob_error(
            e,
            &format!("{call} `{key}` in container `{}`", self.inner.name),
            &self.inner.clients.describe_blob(),
        )
    }
}

async fn create_container(container: &BlobContainerClient, name: &str, target: &str) -> Result<()> {
    match container.create(None).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = blob_error(e, &format!("creating container `{name}`"), target);
            // Created meanwhile by another process (409): use it.
            if err.code() == ErrorCode::Conflict {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// The Blob Storage container name rule `name` breaks, if any: 3 to 63
/// lowercase letters, digits and `-`, starting with a letter or digit, each
/// `-` between two letters or digits; or `$root`, `$web`. The message never
/// repeats the name.
pub fn container_name_rule(name: &str) -> Option<&'static str> {
    if matches!(name, "$root" | "$web") {
        return None;
    }
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let dashes_ok = !name.starts_with('-') && !name.ends_with('-') && !name.contains("--");
    if (3..=63).contains(&name.len()) && chars_ok && dashes_ok {
        None
    } else {
        Some(
            "not valid on Blob Storage: 3 to 63 lowercase letters, digits or `-`, starting and \
             ending with a letter or digit, no `--`",
        )
    }
}

/// The `If-Match` / `If-None-Match` of a write's precondition.
fn conditions(precondition: &Precondition) -> (Option<String>, Option<String>) {
    match precondition {
        Precondition::None => (None, None),
        Precondition::IfNotExists => (None, Some("*".to_owned())),
        Precondition::IfMatch(etag) => (Some(etag.clone()), None),
    }
}

/// A service timestamp as a `SystemTime` (the epoch when absent).
fn system_time(t: Option<OffsetDateTime>) -> SystemTime {
    t.map_or(SystemTime::UNIX_EPOCH, SystemTime::from)
}

/// Metadata names Blob Storage takes: C# identifiers (letters, digits and
/// `_`, not starting with a digit). Refused before the request, naming the
/// rule, rather than as the service's bare 400.
fn check_metadata(opts: &PutOptions) -> Result<()> {
    for (name, value) in &opts.metadata {
        let ident = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident {
            return Err(Error::invalid_argument(format!(
                "metadata name `{name}` is not valid on Blob Storage: letters, digits and `_`, \
                 not starting with a digit"
            )));
        }
        if !value.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
            return Err(Error::invalid_argument(format!(
                "the value of metadata `{name}` is not valid on Blob Storage: printable ASCII \
                 only (an HTTP header)"
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl BucketDriver for BlobBucket {
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
        self.properties(key).await
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
    fn container_names_follow_the_blob_storage_rules() {
        for good in ["abc", "my-container-1", "$root", &"a".repeat(63)] {
            assert_eq!(container_name_rule(good), None, "{good}");
        }
        for bad in [
            "ab",
            "Upper",
            "-lead",
            "trail-",
            "a--b",
            "under_score",
            "dot.ted",
            &"a".repeat(64),
        ] {
            let rule = container_name_rule(bad).expect(bad);
            assert!(!rule.contains(bad), "{rule}");
        }
    }

    #[test]
    fn metadata_names_must_be_identifiers() {
        let mut opts = PutOptions::default();
        opts.metadata.insert("purpose_tag".into(), "ok".into());
        assert!(check_metadata(&opts).is_ok());
        opts.metadata.insert("content-hash".into(), "x".into());
        let err = check_metadata(&opts).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
    }
}
