//! Buckets across the boundary: whole-body calls, streamed uploads and
//! downloads (one chunk per call, with backpressure), and listings fetched a
//! batch of entries per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use strata_core::objects::{
    Bucket, ByteRange, ByteStream, GetOptions, ListEntry, ListOptions, ObjectMeta, Precondition,
    PutOptions, SignedUrlMethod, SignedUrlOptions,
};
use strata_core::sync::lock;
use strata_core::{Error, Result};
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot};

use crate::bridge::{Ctx, guarded};
use crate::errors::{Code, invalid, js_error};
use crate::out::Out;
use crate::runtime::runtime;

/// Chunks buffered between a JS `Readable` and a streamed upload.
const UPLOAD_CHANNEL_CHUNKS: usize = 4;

/// One bucket.
#[napi]
pub struct NativeBucket {
    bucket: Bucket,
    ctx: Ctx,
}

/// What a bucket's provider can do, as JS reads it
/// (`strata_core::objects::ObjectCapabilities`).
#[napi(object)]
pub struct NativeBucketCapabilities {
    /// `ifNotExists` and `ifMatch` are atomic.
    pub conditional_put: bool,
    /// Range downloads read only the range.
    pub range_reads: bool,
    /// `signedUrl` works.
    pub signed_urls: bool,
    /// `publicUrl` works.
    pub public_urls: bool,
    /// The largest object accepted, if bounded.
    pub max_object_bytes: Option<f64>,
}

/// Upload options as JS passes them.
#[napi(object)]
pub struct NativePutOptions {
    /// Stored and returned on download.
    pub content_type: Option<String>,
    /// User metadata.
    pub metadata: Option<HashMap<String, String>>,
    /// Fail with `PreconditionFailed` if the key exists.
    pub if_not_exists: Option<bool>,
    /// Fail with `PreconditionFailed` unless the current etag is this.
    pub if_match: Option<String>,
}

fn precondition(if_not_exists: Option<bool>, if_match: Option<String>) -> Result<Precondition> {
    match (if_not_exists.unwrap_or(false), if_match) {
        (true, Some(_)) => Err(Error::invalid_argument(
            "ifNotExists and ifMatch cannot both be set",
        )),
        (true, None) => Ok(Precondition::IfNotExists),
        (false, Some(etag)) => Ok(Precondition::IfMatch(etag)),
        (false, None) => Ok(Precondition::None),
    }
}

fn put_options(opts: Option<NativePutOptions>) -> Result<PutOptions> {
    let Some(o) = opts else {
        return Ok(PutOptions::default());
    };
    Ok(PutOptions {
        content_type: o.content_type,
        metadata: o.metadata.unwrap_or_default().into_iter().collect(),
        precondition: precondition(o.if_not_exists, o.if_match)?,
    })
}

/// A byte range from JS numbers: `start` inclusive, `end` exclusive or absent.
fn byte_range(start: f64, end: Option<f64>) -> Result<ByteRange> {
    let offset = |what: &str, n: f64| {
        if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= 2f64.powi(53) {
            Ok(n as u64)
        } else {
            Err(Error::invalid_argument(format!(
                "range {what} must be a non-negative integer, got {n}"
            )))
        }
    };
    let start = offset("start", start)?;
    Ok(match end {
        Some(end) => ByteRange::new(start, offset("end", end)?),
        None => ByteRange::starting_at(start),
    })
}

impl NativeBucket {
    pub(crate) fn new(bucket: Bucket, ctx: Ctx) -> Self {
        Self { bucket, ctx }
    }
}

#[napi]
impl NativeBucket {
    /// Uploads a body held in memory; answers with the object's metadata.
    ///
    /// The Buffer is not copied: the I/O runtime reads the JS memory through a
    /// reference that keeps it alive until the upload is done (the JS API
    /// documents that the Buffer must not change meanwhile, as `fs.write` does).
    #[napi]
    pub fn upload(&self, id: u32, key: String, body: Buffer, opts: Option<NativePutOptions>) {
        let bucket = self.bucket.clone();
        let body = Bytes::from_owner(body);
        let opts = put_options(opts);
        self.ctx.spawn(id, async move {
            Ok(Out::meta(bucket.upload(&key, body, opts?).await?))
        });
    }

    /// Starts a streamed upload fed by `NativeUpload.write`.
    #[napi]
    pub fn start_upload(
        &self,
        key: String,
        opts: Option<NativePutOptions>,
    ) -> napi::Result<NativeUpload, Code> {
        self.ctx.check_open()?;
        let opts = put_options(opts).map_err(js_error)?;
        let rt = runtime().map_err(js_error)?;
        let (chunks, rx) = mpsc::channel::<Result<Bytes>>(UPLOAD_CHANNEL_CHUNKS);
        let body: ByteStream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        })
        .boxed();
        let (done, result) = oneshot::channel();
        let bucket = self.bucket.clone();
        rt.spawn(async move {
            let _ = done.send(bucket.upload_stream(&key, body, opts).await);
        });
        Ok(NativeUpload {
            chunks: Mutex::new(Some(chunks)),
            result: Mutex::new(Some(result)),
            ctx: self.ctx.clone(),
        })
    }

    /// Downloads the whole object (or `start..end`) as a Buffer.
    #[napi]
    pub fn download(&self, id: u32, key: String, start: Option<f64>, end: Option<f64>) {
        let bucket = self.bucket.clone();
        let range = start.map(|s| byte_range(s, end)).transpose();
        self.ctx.spawn(id, async move {
            let body = match range? {
                Some(range) => bucket.download_range(&key, range).await?,
                None => bucket.download(&key).await?,
            };
            Ok(Out::Bytes(body))
        });
    }

    /// Opens a streamed download; answers with `[NativeDownload, meta]`.
    #[napi]
    pub fn open_download(&self, id: u32, key: String, start: Option<f64>, end: Option<f64>) {
        let bucket = self.bucket.clone();
        let range = start.map(|s| byte_range(s, end)).transpose();
        let ctx = self.ctx.clone();
        self.ctx.spawn(id, async move {
            let opts = GetOptions { range: range? };
            let result = bucket.download_stream(&key, opts).await?;
            let download = NativeDownload {
                body: Arc::new(AsyncMutex::new(Some(result.body))),
                ctx,
            };
            Ok(Out::List(vec![
                Out::class(download),
                Out::meta(result.meta),
            ]))
        });
    }

    /// The object's metadata.
    #[napi]
    pub fn attrs(&self, id: u32, key: String) {
        let bucket = self.bucket.clone();
        self.ctx
            .spawn(id, async move { Ok(Out::meta(bucket.attrs(&key).await?)) });
    }

    /// Whether the object exists.
    #[napi]
    pub fn exists(&self, id: u32, key: String) {
        let bucket = self.bucket.clone();
        self.ctx
            .spawn(id, async move { bucket.exists(&key).await.map(Out::Bool) });
    }

    /// Deletes the object (a missing one is fine).
    #[napi]
    pub fn delete(&self, id: u32, key: String) {
        let bucket = self.bucket.clone();
        self.ctx.spawn(id, async move {
            bucket.delete(&key).await.map(|()| Out::Undefined)
        });
    }

    /// Copies `from` to `to`; answers with the copy's metadata.
    #[napi]
    pub fn copy(
        &self,
        id: u32,
        from: String,
        to: String,
        if_not_exists: Option<bool>,
        if_match: Option<String>,
    ) {
        let bucket = self.bucket.clone();
        let pre = precondition(if_not_exists, if_match);
        self.ctx.spawn(id, async move {
            Ok(Out::meta(bucket.copy(&from, &to, pre?).await?))
        });
    }

    /// A signed URL for `GET` (`upload` false) or `PUT`.
    #[napi]
    pub fn signed_url(
        &self,
        id: u32,
        key: String,
        upload: bool,
        ttl_seconds: f64,
        content_type: Option<String>,
    ) {
        let bucket = self.bucket.clone();
        self.ctx.spawn(id, async move {
            if !ttl_seconds.is_finite() || ttl_seconds <= 0.0 {
                return Err(Error::invalid_argument(format!(
                    "a signed URL's TTL must be a positive number of seconds, got {ttl_seconds}"
                )));
            }
            let opts = SignedUrlOptions {
                method: if upload {
                    SignedUrlMethod::Put
                } else {
                    SignedUrlMethod::Get
                },
                ttl: Duration::try_from_secs_f64(ttl_seconds)
                    .map_err(|_| Error::invalid_argument("signed URL TTL is too large"))?,
                content_type,
            };
            bucket.signed_url(&key, opts).await.map(Out::Str)
        });
    }

    /// What the provider can do (synchronous: no I/O).
    #[napi]
    pub fn capabilities(&self) -> NativeBucketCapabilities {
        let caps = self.bucket.capabilities();
        NativeBucketCapabilities {
            conditional_put: caps.conditional_put,
            range_reads: caps.range_reads,
            signed_urls: caps.signed_urls,
            public_urls: caps.public_urls,
            max_object_bytes: caps.max_object_bytes.map(|n| n as f64),
        }
    }

    /// The object's public URL (synchronous: no I/O).
    #[napi]
    pub fn public_url(&self, key: String) -> napi::Result<String, Code> {
        self.ctx.check_open()?;
        guarded(|| self.bucket.public_url(&key))
    }

    /// A listing, read with `NativeListing.next`.
    #[napi]
    pub fn list(
        &self,
        prefix: Option<String>,
        delimiter: Option<String>,
        page_size: Option<u32>,
    ) -> napi::Result<NativeListing, Code> {
        self.ctx.check_open()?;
        if page_size == Some(0) {
            return Err(invalid("pageSize must be at least 1"));
        }
        let opts = ListOptions {
            prefix,
            delimiter,
            page_size: page_size.map(|n| n as usize),
            page_token: None,
        };
        Ok(NativeListing {
            entries: Arc::new(AsyncMutex::new(Some(self.bucket.list(opts)))),
            ctx: self.ctx.clone(),
        })
    }

    /// The bucket's logical name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.bucket.name().to_owned()
    }
}

/// A streamed upload in progress.
#[napi]
pub struct NativeUpload {
    /// `None` once finished or aborted.
    chunks: Mutex<Option<mpsc::Sender<Result<Bytes>>>>,
    result: Mutex<Option<oneshot::Receiver<Result<ObjectMeta>>>>,
    ctx: Ctx,
}

#[napi]
impl NativeUpload {
    /// Sends one chunk; answers once it is accepted (backpressure).
    #[napi]
    pub fn write(&self, id: u32, chunk: Buffer) {
        let chunk = Bytes::from_owner(chunk);
        let sender = lock(&self.chunks).clone();
        self.ctx.spawn(id, async move {
            let sender = sender.ok_or_else(|| {
                Error::invalid_argument("write after the upload was finished or aborted")
            })?;
            // A closed channel means the upload already failed: `finish` says why.
            let _ = sender.send(Ok(chunk)).await;
            Ok(Out::Undefined)
        });
    }

    /// Ends the body; answers with the stored object's metadata, or the
    /// upload's error.
    #[napi]
    pub fn finish(&self, id: u32) {
        drop(lock(&self.chunks).take());
        let result = lock(&self.result).take();
        self.ctx.spawn(id, async move {
            let result =
                result.ok_or_else(|| Error::invalid_argument("the upload was already finished"))?;
            match result.await {
                Ok(meta) => Ok(Out::meta(meta?)),
                Err(_) => Err(Error::internal("the upload task stopped without an answer")),
            }
        });
    }

    /// Fails the upload (nothing is stored) with `reason`.
    #[napi]
    pub fn abort(&self, reason: String) {
        if let Some(sender) = lock(&self.chunks).take() {
            // Ending the stream cleanly would store what was sent so far: an
            // error item makes the upload fail and store nothing.
            let err = Err(Error::invalid_argument(format!("upload aborted: {reason}")));
            if let Ok(rt) = runtime() {
                rt.spawn(async move {
                    let _ = sender.send(err).await;
                });
            }
        }
    }
}

/// A streamed download in progress.
#[napi]
pub struct NativeDownload {
    body: Arc<AsyncMutex<Option<ByteStream>>>,
    ctx: Ctx,
}

#[napi]
impl NativeDownload {
    /// Answers with the next chunk, or `null` at the end.
    #[napi]
    pub fn read(&self, id: u32) {
        let body = self.body.clone();
        self.ctx.spawn(id, async move {
            let mut guard = body.lock().await;
            let Some(stream) = guard.as_mut() else {
                return Ok(Out::Null);
            };
            match stream.next().await {
                Some(chunk) => Ok(Out::Bytes(chunk?)),
                None => {
                    *guard = None;
                    Ok(Out::Null)
                }
            }
        });
    }

    /// Stops the download early.
    #[napi]
    pub fn cancel(&self) {
        if let Ok(mut guard) = self.body.try_lock() {
            *guard = None;
        } else if let Ok(rt) = runtime() {
            let body = self.body.clone();
            rt.spawn(async move {
                *body.lock().await = None;
            });
        }
    }
}

/// A listing in progress.
#[napi]
pub struct NativeListing {
    entries: Arc<AsyncMutex<Option<BoxStream<'static, Result<ListEntry>>>>>,
    ctx: Ctx,
}

#[napi]
impl NativeListing {
    /// Answers with up to `max` entries (at least one unless the listing is
    /// over): objects as `[0, …meta]`, common prefixes as `[1, prefix]`.
    #[napi]
    pub fn next(&self, id: u32, max: u32) {
        let entries = self.entries.clone();
        self.ctx.spawn(id, async move {
            let mut guard = entries.lock().await;
            let Some(stream) = guard.as_mut() else {
                return Ok(Out::List(Vec::new()));
            };
            let mut out = Vec::new();
            while out.len() < max.max(1) as usize {
                // After the first entry, take only what is ready now.
                let next = if out.is_empty() {
                    stream.next().await
                } else {
                    match futures::poll!(stream.next()) {
                        std::task::Poll::Ready(next) => next,
                        std::task::Poll::Pending => break,
                    }
                };
                match next {
                    Some(Ok(ListEntry::Object(meta))) => {
                        out.push(Out::List(vec![Out::Num(0.0), Out::meta(meta)]));
                    }
                    Some(Ok(ListEntry::Prefix(prefix))) => {
                        out.push(Out::List(vec![Out::Num(1.0), Out::Str(prefix)]));
                    }
                    Some(Err(err)) => {
                        *guard = None;
                        return Err(err);
                    }
                    None => {
                        *guard = None;
                        break;
                    }
                }
            }
            Ok(Out::List(out))
        });
    }
}
