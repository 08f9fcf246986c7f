//! Uploads: one Put Blob for small bodies, staged blocks committed by one
//! Put Block List for large and streamed ones; server-side copies.

use std::num::NonZero;
use std::sync::Arc;
use std::time::Duration;

use azure_core::Uuid;
use azure_core::http::{Body, Etag};
use azure_storage_blob::models::{
    BlobClientStartCopyFromUrlOptions, BlobClientStartCopyFromUrlResultHeaders,
    BlockBlobClientCommitBlockListOptions, BlockBlobClientCommitBlockListResultHeaders,
    BlockBlobClientUploadOptions, BlockLookupList, CopyStatus,
};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use strata_core::objects::{ByteStream, ObjectKey, ObjectMeta, Precondition, PutOptions};
use strata_core::{Error, Result};

use super::{BLOCK_BYTES, BlobBucket, check_metadata, conditions, system_time};
use crate::settings::AzureCredentials;

/// Blocks of one upload staged at once by the crate's managed upload.
const PARALLEL_BLOCKS: usize = 4;
/// The most blocks one blob may have.
const MAX_BLOCKS: usize = 50_000;
/// How long a copy the service runs in the background is waited for.
const COPY_PATIENCE: Duration = Duration::from_secs(60);

/// What Blob Storage stores when no content type is given.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

impl BlobBucket {
    /// What an upload of `size` bytes with `opts` stored, from the answer's
    /// ETag and time.
    fn written(
        key: &ObjectKey,
        size: u64,
        opts: &PutOptions,
        etag: Option<Etag>,
        last_modified: Option<azure_core::time::OffsetDateTime>,
    ) -> Result<ObjectMeta> {
        let etag = etag.ok_or_else(|| {
            Error::internal(format!("Blob Storage stored `{key}` but returned no ETag"))
        })?;
        Ok(ObjectMeta {
            key: key.as_str().to_owned(),
            size,
            etag: etag.to_string(),
            content_type: Some(content_type(opts)),
            last_modified: system_time(last_modified),
            metadata: opts.metadata.clone(),
        })
    }

    /// Stores a body held in memory: one Put Blob up to [`BLOCK_BYTES`],
    /// staged blocks (several at once) above, through the crate's managed
    /// upload, which commits with the same conditions.
    pub(super) async fn put_bytes(
        &self,
        key: &ObjectKey,
        body: Bytes,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        check_metadata(opts)?;
        let (if_match, if_none_match) = conditions(&opts.precondition);
        let options = BlockBlobClientUploadOptions {
            blob_content_type: Some(content_type(opts)),
            metadata: Some(opts.metadata.clone().into_iter().collect()),
            if_match: if_match.map(Etag::from),
            if_none_match: if_none_match.map(Etag::from),
            parallel: NonZero::new(PARALLEL_BLOCKS),
            partition_size: NonZero::new(BLOCK_BYTES as u64),
            ..BlockBlobClientUploadOptions::default()
        };
        let size = body.len() as u64;
        let client = self.blob(key);
        let stored = client
            .block_blob_client()
            .upload(Body::Bytes(body).into(), Some(options))
            .await
            .map_err(|e| self.fail(e, "uploading", key.as_str()))?;
        Self::written(key, size, opts, stored.etag, stored.last_modified)
    }

    /// Stores a stream: up to [`BLOCK_BYTES`] as one Put Blob, more as
    /// blocks staged while the stream is read and committed only once it
    /// has ended well. A failed stream commits nothing.
    pub(super) async fn put_streamed(
        &self,
        key: &ObjectKey,
        mut body: ByteStream,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        check_metadata(opts)?;
        let mut pending = BytesMut::new();
        while pending.len() <= BLOCK_BYTES {
            match body.next().await {
                Some(chunk) => pending.extend_from_slice(&chunk?),
                None => return self.put_bytes(key, pending.freeze(), opts).await,
            }
        }
        let client = Arc::new(self.blob(key).block_blob_client());
        // Block ids are this upload's own (all of a blob's must have one
        // length), so concurrent uploads to one key never mix blocks.
        let upload = Uuid::new_v4();
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let mut size: u64 = 0;
        let mut ended = false;
        // Blocks in flight while the stream is read on; dropped (aborted)
        // with the upload if anything fails.
        let mut staging = tokio::task::JoinSet::new();
        while !ended || !pending.is_empty() {
            while !ended && pending.len() < BLOCK_BYTES {
                match body.next().await {
                    Some(chunk) => pending.extend_from_slice(&chunk?),
                    None => ended = true,
                }
            }
            if pending.is_empty() {
                break;
            }
            let block = pending.split_to(pending.len().min(BLOCK_BYTES)).freeze();
            if blocks.len() == MAX_BLOCKS {
                return Err(Error::invalid_argument(format!(
                    "`{key}` is larger than Blob Storage's {MAX_BLOCKS} blocks of {BLOCK_BYTES} \
                     bytes"
                )));
            }
            let mut id = upload.as_bytes().to_vec();
            id.extend_from_slice(&(blocks.len() as u32).to_be_bytes());
            blocks.push(id.clone());
            size += block.len() as u64;
            while staging.len() >= PARALLEL_BLOCKS {
                self.staged(&mut staging, key).await?;
            }
            let client = Arc::clone(&client);
            staging.spawn(async move {
                let len = block.len() as u64;
                client
                    .stage_block(&id, len, Body::Bytes(block).into(), None)
                    .await
                    .map(drop)
            });
        }
        while !staging.is_empty() {
            self.staged(&mut staging, key).await?;
        }
        let list = BlockLookupList {
            latest: Some(blocks),
            ..BlockLookupList::default()
        };
        let (if_match, if_none_match) = conditions(&opts.precondition);
        let options = BlockBlobClientCommitBlockListOptions {
            blob_content_type: Some(content_type(opts)),
            metadata: Some(opts.metadata.clone().into_iter().collect()),
            if_match: if_match.map(Etag::from),
            if_none_match: if_none_match.map(Etag::from),
            ..BlockBlobClientCommitBlockListOptions::default()
        };
        let list = list
            .try_into()
            .map_err(|e| self.fail(e, "listing the blocks of", key.as_str()))?;
        let committed = client
            .commit_block_list(list, Some(options))
            .await
            .map_err(|e| self.fail(e, "committing the blocks of", key.as_str()))?;
        let etag = committed
            .etag()
            .map_err(|e| self.fail(e, "reading the answer for", key.as_str()))?;
        let last_modified = committed
            .last_modified()
            .map_err(|e| self.fail(e, "reading the answer for", key.as_str()))?;
        Self::written(key, size, opts, etag, last_modified)
    }

    /// Waits for one staged block.
    async fn staged(
        &self,
        staging: &mut tokio::task::JoinSet<azure_core::Result<()>>,
        key: &ObjectKey,
    ) -> Result<()> {
        match staging.join_next().await {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(self.fail(e, "staging a block of", key.as_str())),
            Some(Err(e)) => Err(Error::internal(format!(
                "staging a block of `{key}` stopped: {e}"
            ))),
        }
    }

    /// Copy Blob within the container: the service copies the bytes, type
    /// and metadata, checking `precondition` on the destination. A copy the
    /// service finishes later (rare within an account) is waited for.
    pub(super) async fn copy_within(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        precondition: &Precondition,
    ) -> Result<ObjectMeta> {
        let what = format!("{from}` to `{to}");
        let mut source = self.blob(from).url().clone();
        if let AzureCredentials::Sas(token) = &self.inner.clients.settings().credentials {
            // The source is read with the destination request's rights only
            // under Shared Key or Entra ID; a SAS must come along.
            source.set_query(Some(token.secret()));
        }
        let (if_match, if_none_match) = conditions(precondition);
        let options = BlobClientStartCopyFromUrlOptions {
            if_match: if_match.map(Etag::from),
            if_none_match: if_none_match.map(Etag::from),
            ..BlobClientStartCopyFromUrlOptions::default()
        };
        let dest = self.blob(to);
        let started = dest
            .start_copy_from_url(source.to_string(), Some(options))
            .await
            .map_err(|e| self.fail(e, "copying", &what))?;
        let mut status = started
            .copy_status()
            .map_err(|e| self.fail(e, "copying", &what))?;
        let deadline = tokio::time::Instant::now() + COPY_PATIENCE;
        while status == Some(CopyStatus::Pending) {
            if tokio::time::Instant::now() > deadline {
                return Err(Error::new(
                    strata_core::ErrorCode::Timeout,
                    format!("copying `{what}`: still pending after {COPY_PATIENCE:?}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let props = dest
                .get_properties(None)
                .await
                .map_err(|e| self.fail(e, "copying", &what))?;
            status = azure_storage_blob::models::BlobClientGetPropertiesResultHeaders::copy_status(
                &props,
            )
            .map_err(|e| self.fail(e, "copying", &what))?;
        }
        match status {
            None | Some(CopyStatus::Success) => self.properties(to).await,
            Some(other) => Err(Error::unavailable(format!(
                "copying `{what}` in container `{}` ended as {other:?}",
                self.inner.name
            ))),
        }
    }
}

/// The content type to store: the given one, else Blob Storage's default.
fn content_type(opts: &PutOptions) -> String {
    opts.content_type
        .clone()
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned())
}
