//! Downloads (whole, streamed, ranged), properties and deletes.

use std::num::NonZero;

use azure_core::http::headers::HeaderName;
use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlobClientGetPropertiesResultHeaders, HttpRange,
};
use futures::{StreamExt, TryStreamExt};
use strata_core::objects::{GetOptions, GetResult, ObjectKey, ObjectMeta};
use strata_core::{Error, ErrorCode, Result};

use super::{BlobBucket, system_time};
use crate::error::{blob_error, service_code};

/// A partition larger than any blob (1 EiB), so a download is one GET. Not
/// `usize::MAX`: the crate sends `bytes=START-(START+partition-1)`, which
/// must stay a signed 64-bit number for the service.
const ONE_PARTITION: usize = 1 << 60;

impl BlobBucket {
    /// Get Blob Properties of `key`.
    pub(super) async fn properties(&self, key: &ObjectKey) -> Result<ObjectMeta> {
        let client = self.blob(key);
        let props = client
            .get_properties(None)
            .await
            .map_err(|e| self.fail(e, "reading", key.as_str()))?;
        let read = |e| self.fail(e, "reading the properties of", key.as_str());
        Ok(ObjectMeta {
            key: key.as_str().to_owned(),
            size: props.content_length().map_err(read)?.unwrap_or(0),
            etag: props
                .etag()
                .map_err(read)?
                .map(|e| e.to_string())
                .unwrap_or_default(),
            content_type: props.content_type().map_err(read)?,
            last_modified: system_time(props.last_modified().map_err(read)?),
            metadata: props.metadata().map_err(read)?.into_iter().collect(),
        })
    }

    /// One GET (ranged when asked) whose body streams as it arrives.
    pub(super) async fn download(&self, key: &ObjectKey, opts: &GetOptions) -> Result<GetResult> {
        let range = match opts.range {
            None => None,
            Some(r) => Some(match r.end {
                // The portable layer refuses these first; a driver called
                // directly must not underflow.
                Some(end) if end <= r.start => {
                    return Err(Error::invalid_argument(format!(
                        "the byte range {}..{end} of `{key}` is empty or reversed",
                        r.start
                    )));
                }
                Some(end) => HttpRange::from(r.start..end),
                None => HttpRange::from(r.start..),
            }),
        };
        let options = BlobClientDownloadOptions {
            range,
            // One request for the whole range: the crate's partitioned
            // download would buffer partitions; Strata streams.
            parallel: NonZero::new(1),
            partition_size: NonZero::new(ONE_PARTITION),
            ..BlobClientDownloadOptions::default()
        };
        let client = self.blob(key);
        let response = client.download(Some(options)).await.map_err(|e| {
            let err = self.fail(e, "downloading", key.as_str());
            match (err.code(), opts.range) {
                // 416: the range starts at or past the end.
                (ErrorCode::InvalidArgument, Some(r)) => Error::invalid_argument(format!(
                    "the byte range of `{key}` starts at {}, at or past its end",
                    r.start
                ))
                .with_source(err),
                _ => err,
            }
        })?;
        let props = &response.properties;
        // A ranged answer says the whole size in `Content-Range: bytes a-b/size`.
        let size = response
            .headers
            .get_optional_str(&HeaderName::from_static("content-range"))
            .and_then(|v| v.rsplit_once('/'))
            .and_then(|(_, total)| total.parse::<u64>().ok())
            .or(props.content_length)
            .unwrap_or(0);
        if let Some(r) = opts.range
            && r.start >= size
        {
            // An empty blob answers a range with its whole (empty) body.
            return Err(Error::invalid_argument(format!(
                "the byte range of `{key}` starts at {}, but it has {size} bytes",
                r.start
            )));
        }
        let meta = ObjectMeta {
            key: key.as_str().to_owned(),
            size,
            etag: props
                .etag
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            content_type: props.content_type.clone(),
            last_modified: system_time(props.last_modified),
            metadata: props.metadata.clone().into_iter().collect(),
        };
        let (name, container, target) = (
            key.to_string(),
            self.inner.name.clone(),
            self.inner.clients.describe_blob(),
        );
        let body = response
            .body
            .map_err(move |e| {
                blob_error(
                    e,
                    &format!("downloading `{name}` in container `{container}`"),
                    &target,
                )
            })
            .boxed();
        Ok(GetResult { meta, body })
    }

    /// Delete Blob; a missing blob is already deleted (a missing container
    /// is still an error).
    pub(super) async fn remove(&self, key: &ObjectKey) -> Result<()> {
        let client = self.blob(key);
        match client.delete(None).await {
            Ok(_) => Ok(()),
            Err(e) if service_code(&e) == Some("BlobNotFound") => Ok(()),
            Err(e) => Err(self.fail(e, "deleting", key.as_str())),
        }
    }
}
