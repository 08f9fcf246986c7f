//! ObjectStore on S3: [`S3Bucket`].
//!
//! - Uploads up to [`SINGLE_PUT_MAX`] are one `PutObject`; larger ones, and
//!   streams that grow past it, are multipart uploads of [`PART_SIZE`] parts
//!   (up to [`PARTS_IN_FLIGHT`] at once), aborted on any failure so no partial
//!   object is ever visible.
//! - Preconditions are S3 conditional writes (`If-None-Match: *`,
//!   `If-Match: <etag>`) on `PutObject`, `CompleteMultipartUpload` and
//!   `CopyObject`.
//! - User metadata of any text travels as RFC 2047 encoded-words where an
//!   HTTP header cannot carry it (see `metadata`).
//! - Signed URLs are SigV4 presigned requests; public URLs are path-style for
//!   emulators, virtual-hosted on AWS, or under the config's `public_base_url`.

mod metadata;
mod read;
mod urls;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use bytes::Bytes;
use strata_core::objects::{
    BucketDriver, ByteStream, GetOptions, GetResult, ListOptions, ListPage, ObjectCapabilities,
    ObjectKey, ObjectMeta, Precondition, PutOptions, SignedUrlOptions,
};
use strata_core::registry::cloud::found_or_provisioned;
use strata_core::{ErrorCode, Result};

use crate::clients::{AwsClients, Service};
use crate::error::sdk_error;
use crate::settings::AwsCredentials;

/// Bodies up to this size are uploaded with one `PutObject`.
pub const SINGLE_PUT_MAX: usize = 8 * 1024 * 1024;
/// The size of multipart upload parts (doubling every 1,000 parts, so the
/// 10,000-part limit still allows objects of S3's 5 TiB maximum).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one upload sent at the same time.
pub const PARTS_IN_FLIGHT: usize = 4;
/// S3's largest object.
const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// How to open an [`S3Bucket`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3BucketOptions {
    /// Base of public URLs (a CDN or website endpoint in front of the bucket);
    /// without it they point at S3 itself.
    pub public_base_url: Option<String>,
    /// Create the bucket if it does not exist.
    pub provision: bool,
}

/// One S3 bucket. Cheap to clone.
///
/// ```no_run
/// # async fn demo(clients: strata_aws::AwsClients) -> strata_core::Result<()> {
/// use std::sync::Arc;
/// use strata_core::objects::{Bucket, PutOptions};
/// let driver = strata_aws::S3Bucket::open(&clients, "uploads", Default::default()).await?;
/// let uploads = Bucket::new("uploads", Arc::new(driver));
/// uploads.upload("a.txt", "hello", PutOptions::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct S3Bucket {
    inner: Arc<Inner>,
}

struct Inner {
    clients: AwsClients,
    bucket: String,
    public_base_url: Option<String>,
    capabilities: ObjectCapabilities,
}

impl std::fmt::Debug for S3Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Bucket")
            .field("bucket", &self.inner.bucket)
            .finish()
    }
}

impl S3Bucket {
    /// Opens bucket `bucket`, checking that it exists (creating it with
    /// `opts.provision`).
    ///
    /// # Errors
    /// `NotFound` when the bucket does not exist and `provision` is false,
    /// `PermissionDenied` for bad credentials or a bucket of another account,
    /// `Unavailable` when S3 cannot be reached.
    pub async fn open(
        clients: &AwsClients,
        bucket: &str,
        opts: S3BucketOptions,
    ) -> Result<S3Bucket> {
        let target = clients.describe(Service::S3);
        let head = clients.s3().head_bucket().bucket(bucket).send().await;
        let found = head
            .map(drop)
            .map_err(|err| sdk_error(err, &format!("S3 bucket `{bucket}`"), &target));
        found_or_provisioned(
            found,
            opts.provision,
            || create_bucket(clients, bucket, &target),
            || {
                format!(
                    "S3 bucket `{bucket}` does not exist ({target}): create it, or set \
                     \"provision\": true under providers.aws"
                )
            },
        )
        .await?;
        let signing = clients.settings().credentials != AwsCredentials::Anonymous;
        Ok(S3Bucket {
            inner: Arc::new(Inner {
                clients: clients.clone(),
                bucket: bucket.to_owned(),
                public_base_url: opts.public_base_url,
                capabilities: ObjectCapabilities {
                    conditional_put: true,
                    range_reads: true,
                    signed_urls: signing,
                    public_urls: true,
                    max_object_bytes: Some(MAX_OBJECT_BYTES),
                },
            }),
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.inner.bucket
    }

    fn s3(&self) -> &aws_sdk_s3::Client {
        self.inner.clients.s3()
    }

    /// "S3 <call> of `key` in bucket `b`", for error messages.
    fn what(&self, call: &str, key: &str) -> String {
        format!("S3 {call} of `{key}` in bucket `{}`", self.inner.bucket)
    }

    fn target(&self) -> String {
        self.inner.clients.describe(Service::S3)
    }
}

async fn create_bucket(clients: &AwsClients, bucket: &str, target: &str) -> Result<()> {
    let mut create = clients.s3().create_bucket().bucket(bucket);
    // us-east-1 is the default location and must not be named.
    if clients.region() != "us-east-1" {
        let constraint = BucketLocationConstraint::from(clients.region());
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(constraint)
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => Ok(()),
        Err(err) => {
            let err = sdk_error(err, &format!("creating S3 bucket `{bucket}`"), target);
            // Created meanwhile, by us: fine. (Owned by someone else is
            // PermissionDenied at the next call, with S3's message.)
            if err.code() == ErrorCode::AlreadyExists && err.message().contains("OwnedByYou") {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

#[async_trait]
impl BucketDriver for S3Bucket {
    fn capabilities(&self) -> &ObjectCapabilities {
        &self.inner.capabilities
    }

    async fn put(&self, key: &ObjectKey, body: Bytes, opts: &PutOptions) -> Result<ObjectMeta> {
        if body.len() <= SINGLE_PUT_MAX {
            self.put_single(key.as_str(), body, opts).await
        } else {
            let chunks = futures::stream::iter([Ok(body)]);
            self.put_multipart(key.as_str(), Box::pin(chunks), opts)
                .await
        }
    }

    async fn put_stream(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        self.put_multipart(key.as_str(), body, opts).await
    }

    async fn get(&self, key: &ObjectKey, opts: &GetOptions) -> Result<GetResult> {
        self.get_object(key.as_str(), opts).await
    }

    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta> {
        self.head_object(key.as_str()).await
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.s3()
            .delete_object()
            .bucket(&self.inner.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| sdk_error(e, &self.what("DeleteObject", key.as_str()), &self.target()))?;
        Ok(())
    }

    async fn copy(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        precondition: &Precondition,
    ) -> Result<ObjectMeta> {
        self.copy_object(from.as_str(), to.as_str(), precondition)
            .await
    }

    async fn list_page(&self, opts: &ListOptions) -> Result<ListPage> {
        self.list_objects(opts).await
    }

    async fn signed_url(&self, key: &ObjectKey, opts: &SignedUrlOptions) -> Result<String> {
        self.presign(key.as_str(), opts).await
    }

    fn public_url(&self, key: &ObjectKey) -> Result<String> {
        Ok(self.url_of(key.as_str()))
    }
}
