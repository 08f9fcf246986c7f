//! Uploads (single and multipart) and copies.

use std::collections::VecDeque;
use std::time::SystemTime;

use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use strata_core::objects::{ByteStream, ObjectMeta, Precondition, PutOptions};
use strata_core::{Error, Result};
use tokio::task::JoinSet;

use super::urls::encode_key;
use super::{PART_SIZE, PARTS_IN_FLIGHT, S3Bucket, SINGLE_PUT_MAX};
use crate::error::sdk_error;

/// The size of part `number` (1-based): [`PART_SIZE`], doubling every 1,000
/// parts.
fn part_size(number: i32) -> usize {
    let doublings = ((number.max(1) - 1) / 1000).min(9) as u32;
    PART_SIZE << doublings
}

/// Body chunks waiting to become parts; hands out parts without copying when a
/// chunk is large enough on its own.
#[derive(Default)]
struct PartBuffer {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl PartBuffer {
    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// The first `n` bytes (or all, if fewer).
    fn take(&mut self, n: usize) -> Bytes {
        let n = n.min(self.len);
        self.len -= n;
        if let Some(front) = self.chunks.front_mut()
            && front.len() >= n
        {
            let part = front.split_to(n);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            return part;
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let take = (n - out.len()).min(front.len());
            out.extend_from_slice(&front.split_to(take));
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        out.freeze()
    }
}

/// Aborts a multipart upload that was not completed, even when the upload's
/// future is dropped midway (the abort then runs as a task of its own).
struct AbortGuard {
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    upload_id: String,
    armed: bool,
}

impl AbortGuard {
    async fn abort(mut self) {
        self.armed = false;
        abort_upload(&self.s3, &self.bucket, &self.key, &self.upload_id).await;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (s3, bucket, key, id) = (
                self.s3.clone(),
                self.bucket.clone(),
                self.key.clone(),
                self.upload_id.clone(),
            );
            runtime.spawn(async move { abort_upload(&s3, &bucket, &key, &id).await });
        }
    }
}

async fn abort_upload(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, upload_id: &str) {
    let result = s3
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await;
    if let Err(err) = result {
        // S3 keeps the parts (and bills them) until a lifecycle rule removes
        // them; nothing is visible under the key either way.
        tracing::warn!(
            bucket,
            key,
            "aborting multipart upload {upload_id} failed: {}",
            aws_sdk_s3::error::DisplayErrorContext(&err)
        );
    }
}

impl S3Bucket {
    /// One `PutObject`.
    pub(super) async fn put_single(
        &self,
        key: &str,
        body: Bytes,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        let size = body.len() as u64;
        let mut request = self
            .s3()
            .put_object()
            .bucket(&self.inner.bucket)
            .key(key)
            .set_content_type(opts.content_type.clone())
            .set_metadata(metadata(opts)?)
            .content_length(size as i64)
            .body(SdkBody::from(body));
        match &opts.precondition {
            Precondition::None => {}
            Precondition::IfNotExists => request = request.if_none_match("*"),
            Precondition::IfMatch(etag) => request = request.if_match(etag),
        }
        let output = request.send().await.map_err(|e| {
            self.write_error(
                sdk_error(e, &self.what("PutObject", key), &self.target()),
                &opts.precondition,
            )
        })?;
        Ok(written(key, size, output.e_tag, opts))
    }

    /// A streamed upload: one `PutObject` when the stream ends within
    /// [`SINGLE_PUT_MAX`] bytes, a multipart upload otherwise.
    pub(super) async fn put_multipart(
        &self,
        key: &str,
        mut body: ByteStream,
        opts: &PutOptions,
    ) -> Result<ObjectMeta> {
        // Refuse metadata S3 would change before reading the stream.
        metadata(opts)?;
        let mut buffer = PartBuffer::default();
        while buffer.len <= SINGLE_PUT_MAX {
            match body.next().await {
                None => {
                    let whole = buffer.take(buffer.len);
                    return self.put_single(key, whole, opts).await;
                }
                Some(chunk) => buffer.push(chunk?),
            }
        }
        let created = self
            .s3()
            .create_multipart_upload()
            .bucket(&self.inner.bucket)
            .key(key)
            .set_content_type(opts.content_type.clone())
            .set_metadata(metadata(opts)?)
            .send()
            .await
            .map_err(|e| sdk_error(e, &self.what("CreateMultipartUpload", key), &self.target()))?;
        let upload_id = created.upload_id.ok_or_else(|| {
            Error::internal(format!(
                "S3 started a multipart upload of `{key}` without an id"
            ))
        })?;
        let guard = AbortGuard {
            s3: self.s3().clone(),
            bucket: self.inner.bucket.clone(),
            key: key.to_owned(),
            upload_id: upload_id.clone(),
            armed: true,
        };
        // Dropping the set (on error or cancellation) stops unfinished parts.
        let mut parts = JoinSet::new();
        let result = self
            .upload_parts(key, &upload_id, buffer, body, &mut parts)
            .await;
        let (completed, size) = match result {
            Ok(done) => done,
            Err(err) => {
                parts.abort_all();
                guard.abort().await;
                return Err(err);
            }
        };
        let mut complete = self
            .s3()
            .complete_multipart_upload()
            .bucket(&self.inner.bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            );
        match &opts.precondition {
            Precondition::None => {}
            Precondition::IfNotExists => complete = complete.if_none_match("*"),
            Precondition::IfMatch(etag) => complete = complete.if_match(etag),
        }
        match complete.send().await {
            Ok(output) => {
                let mut guard = guard;
                guard.armed = false;
                Ok(written(key, size, output.e_tag, opts))
            }
            Err(err) => {
                let what = self.what("CompleteMultipartUpload", key);
                let err =
                    self.write_error(sdk_error(err, &what, &self.target()), &opts.precondition);
                guard.abort().await;
                Err(err)
            }
        }
    }

    /// Uploads every part: what `buffer` holds, then the rest of `body`.
    /// Returns the completed parts in order and the total size.
    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        mut buffer: PartBuffer,
        mut body: ByteStream,
        parts: &mut JoinSet<Result<CompletedPart>>,
    ) -> Result<(Vec<CompletedPart>, u64)> {
        let mut done = Vec::new();
        let mut number: i32 = 1;
        let mut size: u64 = 0;
        let mut ended = false;
        loop {
            while buffer.len >= part_size(number) || (ended && buffer.len > 0) {
                let part = buffer.take(part_size(number));
                size += part.len() as u64;
                parts.spawn(self.upload_part(key, upload_id, number, part));
                number += 1;
                while parts.len() >= PARTS_IN_FLIGHT {
                    done.push(joined(parts.join_next().await)?);
                }
            }
            if ended {
                break;
            }
            match body.next().await {
                None => ended = true,
                Some(chunk) => buffer.push(chunk?),
            }
        }
        while let Some(part) = parts.join_next().await {
            done.push(joined(Some(part))?);
        }
        done.sort_by_key(|part| part.part_number);
        Ok((done, size))
    }

    /// A future uploading one part; spawned so parts progress while the body
    /// is read.
    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        part: Bytes,
    ) -> impl Future<Output = Result<CompletedPart>> + Send + 'static {
        let request = self
            .s3()
            .upload_part()
            .bucket(&self.inner.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(part.len() as i64)
            .body(SdkBody::from(part));
        let what = self.what(&format!("UploadPart {number}"), key);
        let target = self.target();
        async move {
            let output = request
                .send()
                .await
                .map_err(|e| sdk_error(e, &what, &target))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(output.e_tag)
                .build())
        }
    }

    /// A copy within the bucket, keeping content type and metadata.
    ///
    /// Without a precondition it is one `CopyObject`. With one, the copy is a
    /// multipart upload of one `UploadPartCopy` part whose completion carries
    /// the condition: S3 honours conditions on `CopyObject` too, but
    /// emulators and S3-compatible stores get those wrong (LocalStack writes
    /// the object and then answers 412; moto ignores them), while conditional
    /// completion is what conditional multipart uploads already rely on.
    pub(super) async fn copy_object(
        &self,
        from: &str,
        to: &str,
        precondition: &Precondition,
    ) -> Result<ObjectMeta> {
        let source = format!("{}/{}", self.inner.bucket, encode_key(from));
        let what = format!(
            "S3 copy of `{from}` to `{to}` in bucket `{}`",
            self.inner.bucket
        );
        if *precondition == Precondition::None {
            self.s3()
                .copy_object()
                .bucket(&self.inner.bucket)
                .key(to)
                .copy_source(source)
                .metadata_directive(MetadataDirective::Copy)
                .send()
                .await
                .map_err(|e| sdk_error(e, &what, &self.target()))?;
            return self.head_object(to).await;
        }
        let original = self.head_object(from).await?;
        let opts = PutOptions {
            content_type: original.content_type.clone(),
            metadata: original.metadata.clone(),
            precondition: precondition.clone(),
        };
        if original.size == 0 {
            // No part can be copied from an empty object.
            return self.put_single(to, Bytes::new(), &opts).await;
        }
        let created = self
            .s3()
            .create_multipart_upload()
            .bucket(&self.inner.bucket)
            .key(to)
            .set_content_type(opts.content_type.clone())
            .set_metadata(metadata(&opts)?)
            .send()
            .await
            .map_err(|e| sdk_error(e, &what, &self.target()))?;
        let upload_id = created.upload_id.ok_or_else(|| {
            Error::internal(format!(
                "S3 started a multipart upload of `{to}` without an id"
            ))
        })?;
        let guard = AbortGuard {
            s3: self.s3().clone(),
            bucket: self.inner.bucket.clone(),
            key: to.to_owned(),
            upload_id: upload_id.clone(),
            armed: true,
        };
        let copied = self
            .s3()
            .upload_part_copy()
            .bucket(&self.inner.bucket)
            .key(to)
            .upload_id(&upload_id)
            .part_number(1)
            .copy_source(source)
            // The content type and metadata read above must be this version's.
            .copy_source_if_match(&original.etag)
            .send()
            .await;
        let part = match copied {
            Ok(output) => CompletedPart::builder()
                .part_number(1)
                .set_e_tag(output.copy_part_result.and_then(|r| r.e_tag))
                .build(),
            Err(err) => {
                let err = sdk_error(err, &what, &self.target());
                guard.abort().await;
                if err.code() == strata_core::ErrorCode::PreconditionFailed {
                    return Err(Error::new(
                        strata_core::ErrorCode::Conflict,
                        format!("{what}: the source changed during the copy; retry"),
                    )
                    .with_source(err));
                }
                return Err(err);
            }
        };
        let mut complete = self
            .s3()
            .complete_multipart_upload()
            .bucket(&self.inner.bucket)
            .key(to)
            .upload_id(&upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().parts(part).build());
        match precondition {
            Precondition::None => {}
            Precondition::IfNotExists => complete = complete.if_none_match("*"),
            Precondition::IfMatch(etag) => complete = complete.if_match(etag),
        }
        match complete.send().await {
            Ok(output) => {
                let mut guard = guard;
                guard.armed = false;
                Ok(written(to, original.size, output.e_tag, &opts))
            }
            Err(err) => {
                let err = self.write_error(sdk_error(err, &what, &self.target()), precondition);
                guard.abort().await;
                Err(err)
            }
        }
    }

    /// Explains a precondition failure, keeping the code.
    fn write_error(&self, err: Error, precondition: &Precondition) -> Error {
        let code = err.code();
        if code != strata_core::ErrorCode::PreconditionFailed {
            return err;
        }
        let why = match precondition {
            Precondition::IfNotExists => {
                "an object already exists under the key (or is being written)"
            }
            Precondition::IfMatch(_) => {
                "the object's etag is no longer the one given (or it is being written)"
            }
            Precondition::None => "S3 refused the write",
        };
        Error::new(code, format!("{}: {why}", err.message())).with_source(err)
    }
}

fn joined(
    part: Option<std::result::Result<Result<CompletedPart>, tokio::task::JoinError>>,
) -> Result<CompletedPart> {
    match part {
        Some(Ok(result)) => result,
        Some(Err(err)) => Err(Error::internal(format!("a part upload task failed: {err}"))),
        None => Err(Error::internal("a part upload went missing")),
    }
}

fn metadata(opts: &PutOptions) -> Result<Option<std::collections::HashMap<String, String>>> {
    super::metadata::to_headers(&opts.metadata)
}

/// What is known of a just-written object without asking S3 again
/// (`last_modified` is this machine's clock).
fn written(key: &str, size: u64, etag: Option<String>, opts: &PutOptions) -> ObjectMeta {
    ObjectMeta {
        key: key.to_owned(),
        size,
        etag: etag.unwrap_or_default(),
        content_type: opts.content_type.clone(),
        last_modified: SystemTime::now(),
        metadata: opts.metadata.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_double_every_thousand_and_cover_five_tib() {
        assert_eq!(part_size(1), PART_SIZE);
        assert_eq!(part_size(1000), PART_SIZE);
        assert_eq!(part_size(1001), PART_SIZE * 2);
        let total: u64 = (1..=10_000).map(|n| part_size(n) as u64).sum();
        assert!(total >= 5 * 1024 * 1024 * 1024 * 1024, "{total}");
        assert!(
            part_size(10_000) <= 5 * 1024 * 1024 * 1024,
            "S3's largest part"
        );
    }

    #[test]
    fn part_buffer_slices_big_chunks_and_joins_small_ones() {
        let mut buffer = PartBuffer::default();
        buffer.push(Bytes::from(vec![1u8; 10]));
        buffer.push(Bytes::new());
        buffer.push(Bytes::from(vec![2u8; 5]));
        assert_eq!(buffer.take(4).as_ref(), &[1u8; 4]);
        let joined = buffer.take(8);
        assert_eq!(joined.as_ref(), &[1, 1, 1, 1, 1, 1, 2, 2]);
        assert_eq!(buffer.len, 3);
        assert_eq!(buffer.take(100).as_ref(), &[2u8; 3]);
        assert_eq!(buffer.len, 0);
        assert!(buffer.take(1).is_empty());
    }
}
