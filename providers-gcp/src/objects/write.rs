//! Uploads: one multipart request for small bodies, a resumable session in
//! chunks for large and streamed ones; copies.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use gcloud_storage::http::objects::Object;
use gcloud_storage::http::objects::copy::CopyObjectRequest;
use gcloud_storage::http::objects::patch::PatchObjectRequest;
use gcloud_storage::http::objects::upload::{Media, UploadObjectRequest, UploadType};
use gcloud_storage::http::resumable_upload_client::{
    ChunkSize, ResumableUploadClient, UploadStatus,
};
use strata_core::objects::{ByteStream, ObjectKey, ObjectMeta, Precondition, PutOptions};
use strata_core::{Error, Result};

use super::{GcsBucket, generation_match, meta_of};

/// Bodies up to this size go in one request; larger ones through a
/// resumable session.
pub(super) const RESUMABLE_THRESHOLD: usize = 8 * 1024 * 1024;
/// The size of each resumable chunk but the last: a multiple of 256 KiB, as
/// Cloud Storage requires.
const CHUNK: usize = 8 * 1024 * 1024;

impl GcsBucket {
    fn upload_request(&self, opts: &PutOptions) -> Result<UploadObjectRequest> {
        Ok(UploadObjectRequest {
            bucket: self.inner.name.clone(),
            if_generation_match: generation_match(&opts.precondition)?,
            ..UploadObjectRequest::default()
        })
    }

    /// The object resource sent with the data: name, type and metadata.
    fn resource(key: &ObjectKey, opts: &PutOptions) -> UploadType {
        let object = Object {
            name: key.as_str().to_owned(),
            content_type: Some(content_type(opts)),
            metadata: Some(opts.metadata.clone().into_iter().collect()),
            ..Object::default()
        };
        UploadType::Multipart(Box::new(object))
    }

    /// Stores a body held in memory: one multipart upload (object resource
    /// and data together), or above [`RESUMABLE_THRESHOLD`] a resumable
    /// session.
    ///
    /// `gcloud-storage` sends the data part of a multipart upload without a
    /// content type, and fake-gcs-server stores that (none) instead of the
    /// one in the object resource; Cloud Storage keeps the resource's. Once
    /// a server has been seen doing that, uploads without a precondition go
    /// as a simple upload (type in the request header) or, with user
    /// metadata, a resumable session; conditional ones stay multipart (the
    /// only upload fake-gcs-server checks `ifGenerationMatch` on) and have
    /// their type set afterwards on the very generation written.
    pub(super) async fn put_bytes(
        &self,
        key: &ObjectKey,
        body: Bytes,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        let drops_type = self.inner.multipart_drops_type.load(Ordering::Relaxed);
        let unconditional = opts.precondition == Precondition::None;
        if body.len() > RESUMABLE_THRESHOLD
            || (drops_type && unconditional && !opts.metadata.is_empty())
        {
            let chunks =
                futures::stream::iter(chunked(body).into_iter().map(Ok::<Bytes, Error>)).boxed();
            return self.resumable(key, chunks, BytesMut::new(), opts).await;
        }
        let request = self.upload_request(opts)?;
        let client = self.inner.clients.storage().await?;
        let upload = if drops_type && unconditional {
            let media = Media {
                content_type: content_type(opts).into(),
                content_length: Some(body.len() as u64),
                ..Media::new(key.as_str().to_owned())
            };
            UploadType::Simple(media)
        } else {
            Self::resource(key, opts)
        };
        let object = client
            .upload_object(&request, body, &upload)
            .await
            .map_err(|e| self.fail(e, "uploading", key.as_str()))?;
        let wanted = content_type(opts);
        if object.content_type.as_deref() == Some(wanted.as_str()) {
            return Ok(meta_of(object));
        }
        self.inner
            .multipart_drops_type
            .store(true, Ordering::Relaxed);
        self.set_content_type(key, object.generation, wanted).await
    }

    /// Sets the content type of generation `generation` of `key`.
    async fn set_content_type(
        &self,
        key: &ObjectKey,
        generation: i64,
        wanted: String,
    ) -> Result<ObjectMeta> {
        let request = PatchObjectRequest {
            bucket: self.inner.name.clone(),
            object: key.as_str().to_owned(),
            if_generation_match: Some(generation),
            metadata: Some(Object {
                content_type: Some(wanted),
                ..Object::default()
            }),
            ..PatchObjectRequest::default()
        };
        let client = self.inner.clients.storage().await?;
        match client.patch_object(&request).await {
            Ok(patched) => Ok(meta_of(patched)),
            // fake-gcs-server answers a patch in a shape of its own, which
            // does not decode; the patch itself was applied: read it back.
            Err(gcloud_storage::http::Error::HttpClient(e)) if e.is_decode() => {
                self.attributes(key).await.map(meta_of)
            }
            Err(e) => Err(self.fail(e, "setting the content type of", key.as_str())),
        }
    }

    pub(super) async fn put_streamed(
        &self,
        key: &ObjectKey,
        mut body: ByteStream,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        // Read up to the threshold first: a small stream is one request.
        let mut head = BytesMut::new();
        while head.len() <= RESUMABLE_THRESHOLD {
            match body.next().await {
                Some(chunk) => head.extend_from_slice(&chunk?),
                None => return self.put_bytes(key, head.freeze(), opts).await,
            }
        }
        self.resumable(key, body, head, opts).await
    }

    /// Uploads `head` then the rest of `body` through a resumable session,
    /// cancelling the session if the body fails, so nothing becomes visible.
    async fn resumable(
        &self,
        key: &ObjectKey,
        mut body: ByteStream,
        mut pending: BytesMut,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        let request = self.upload_request(opts)?;
        let client = self.inner.clients.storage().await?;
        let session = client
            .prepare_resumable_upload(&request, &Self::resource(key, opts))
            .await
            .map_err(|e| self.fail(e, "starting the resumable upload of", key.as_str()))?;
        let mut sent: u64 = 0;
        let outcome: Result<ObjectMeta> = async {
            // Keep more than a chunk back, so the last request (which
            // carries the total size) is never empty.
            loop {
                while pending.len() > CHUNK {
                    let chunk = pending.split_to(CHUNK).freeze();
                    sent = self.send_chunk(&session, key, chunk, sent).await?;
                }
                match body.next().await {
                    Some(chunk) => pending.extend_from_slice(&chunk?),
                    None => break,
                }
            }
            let last = pending.split().freeze();
            let total = sent + last.len() as u64;
            match self.finish(&session, key, last, sent, total).await? {
                Some(object) => Ok(meta_of(object)),
                None => Err(Error::internal(format!(
                    "the resumable upload of `{key}` ended without an object"
                ))),
            }
        }
        .await;
        if outcome.is_err() {
            // Best effort: an abandoned session expires after a week anyway,
            // and an unfinished one never shows as an object.
            let _ = session.cancel().await;
        }
        outcome
    }

    /// Sends one full chunk; returns the bytes sent so far.
    async fn send_chunk(
        &self,
        session: &ResumableUploadClient,
        key: &ObjectKey,
        chunk: Bytes,
        sent: u64,
    ) -> Result<u64> {
        let len = chunk.len() as u64;
        let size = ChunkSize::new(sent, sent + len - 1, None);
        session
            .upload_multiple_chunk(chunk, &size)
            .await
            .map_err(|e| self.fail(e, "uploading a chunk of", key.as_str()))?;
        Ok(sent + len)
    }

    /// Sends the last chunk (possibly empty) with the total size.
    async fn finish(
        &self,
        session: &ResumableUploadClient,
        key: &ObjectKey,
        last: Bytes,
        sent: u64,
        total: u64,
    ) -> Result<Option<Object>> {
        let status = if last.is_empty() {
            session
                .status(Some(total))
                .await
                .map_err(|e| self.fail(e, "finishing the upload of", key.as_str()))?
        } else {
            let size = ChunkSize::new(sent, total - 1, Some(total));
            session
                .upload_multiple_chunk(last, &size)
                .await
                .map_err(|e| self.fail(e, "uploading the last chunk of", key.as_str()))?
        };
        Ok(match status {
            UploadStatus::Ok(object) => Some(object),
            _ => None,
        })
    }

    pub(super) async fn copy_within(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        precondition: &Precondition,
    ) -> Result<ObjectMeta> {
        if *precondition != Precondition::None && !self.inner.server_side_conditional_copy {
            return self.copy_through_client(from, to, precondition).await;
        }
        let request = CopyObjectRequest {
            source_bucket: self.inner.name.clone(),
            source_object: from.as_str().to_owned(),
            destination_bucket: self.inner.name.clone(),
            destination_object: to.as_str().to_owned(),
            if_generation_match: generation_match(precondition)?,
            ..CopyObjectRequest::default()
        };
        let client = self.inner.clients.storage().await?;
        let object = client
            .copy_object(&request)
            .await
            .map_err(|e| self.fail(e, "copying", &format!("{from}` to `{to}")))?;
        Ok(meta_of(object))
    }
}

impl GcsBucket {
    /// A conditional copy as a download of the source and an upload with the
    /// precondition: for servers that ignore `ifGenerationMatch` on
    /// `copyTo` (see [`GcsBucketOptions`](super::GcsBucketOptions)).
    async fn copy_through_client(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        precondition: &Precondition,
    ) -> Result<ObjectMeta> {
        let source = self.download(from, &Default::default()).await?;
        let opts = PutOptions {
            content_type: source.meta.content_type.clone(),
            metadata: source.meta.metadata.clone(),
            precondition: precondition.clone(),
        };
        self.put_streamed(to, source.body, &opts).await
    }
}

/// The content type to store: the given one, else Cloud Storage's default.
fn content_type(opts: &PutOptions) -> String {
    opts.content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_owned())
}

/// `body` in chunks of [`CHUNK`] bytes (no copy: slices of one buffer).
fn chunked(body: Bytes) -> Vec<Bytes> {
    let mut chunks = Vec::with_capacity(body.len() / CHUNK + 1);
    let mut rest = body;
    while rest.len() > CHUNK {
        chunks.push(rest.split_to(CHUNK));
    }
    chunks.push(rest);
    chunks
}
