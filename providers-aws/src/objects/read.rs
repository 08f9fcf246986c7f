//! Downloads, metadata and listing.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_s3::primitives::{ByteStream as SdkBody, DateTime};
use futures::StreamExt;
use strata_core::objects::{GetOptions, GetResult, ListOptions, ListPage, Metadata, ObjectMeta};
use strata_core::{Error, ErrorCode, Result};

use super::S3Bucket;
use crate::error::sdk_error;

/// S3's largest page.
const MAX_PAGE: usize = 1000;

impl S3Bucket {
    /// `GetObject`, with a `Range` header for ranged reads.
    pub(super) async fn get_object(&self, key: &str, opts: &GetOptions) -> Result<GetResult> {
        let mut request = self.s3().get_object().bucket(&self.inner.bucket).key(key);
        if let Some(range) = &opts.range {
            range.check()?;
            request = request.range(match range.end {
                Some(end) => format!("bytes={}-{}", range.start, end - 1),
                None => format!("bytes={}-", range.start),
            });
        }
        let output = request.send().await.map_err(|e| {
            let err = sdk_error(e, &self.what("GetObject", key), &self.target());
            if err.code() == ErrorCode::InvalidArgument && opts.range.is_some() {
                let start = opts.range.map_or(0, |r| r.start);
                Error::invalid_argument(format!(
                    "the byte range starts at {start}, at or past the end of the object"
                ))
                .with_source(err)
            } else {
                err
            }
        })?;
        let length = output.content_length.map_or(0, |n| n.max(0) as u64);
        // A ranged response says the whole size after the slash:
        // `bytes 10-19/1000`.
        let size = output
            .content_range
            .as_deref()
            .and_then(|range| range.rsplit('/').next())
            .and_then(|total| total.parse::<u64>().ok())
            .unwrap_or(length);
        let meta = ObjectMeta {
            key: key.to_owned(),
            size,
            etag: output.e_tag.unwrap_or_default(),
            content_type: output.content_type,
            last_modified: time_of(output.last_modified.as_ref()),
            metadata: metadata_of(output.metadata),
        };
        let what = self.what("GetObject", key);
        Ok(GetResult {
            meta,
            body: body_stream(output.body, what),
        })
    }

    /// `HeadObject`.
    pub(super) async fn head_object(&self, key: &str) -> Result<ObjectMeta> {
        let output = self
            .s3()
            .head_object()
            .bucket(&self.inner.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error(e, &self.what("HeadObject", key), &self.target()))?;
        Ok(ObjectMeta {
            key: key.to_owned(),
            size: output.content_length.map_or(0, |n| n.max(0) as u64),
            etag: output.e_tag.unwrap_or_default(),
            content_type: output.content_type,
            last_modified: time_of(output.last_modified.as_ref()),
            metadata: metadata_of(output.metadata),
        })
    }

    /// One `ListObjectsV2` page.
    pub(super) async fn list_objects(&self, opts: &ListOptions) -> Result<ListPage> {
        let page_size = opts.page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
        let output = self
            .s3()
            .list_objects_v2()
            .bucket(&self.inner.bucket)
            .set_prefix(opts.prefix.clone().filter(|p| !p.is_empty()))
            .set_delimiter(opts.delimiter.clone().filter(|d| !d.is_empty()))
            .set_continuation_token(opts.page_token.clone())
            .max_keys(page_size as i32)
            .send()
            .await
            .map_err(|e| {
                let what = format!("S3 ListObjectsV2 of bucket `{}`", self.inner.bucket);
                sdk_error(e, &what, &self.target())
            })?;
        let objects = output
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|object| {
                Some(ObjectMeta {
                    key: object.key?,
                    size: object.size.map_or(0, |n| n.max(0) as u64),
                    etag: object.e_tag.unwrap_or_default(),
                    content_type: None,
                    last_modified: time_of(object.last_modified.as_ref()),
                    metadata: Metadata::new(),
                })
            })
            .collect();
        let common_prefixes = output
            .common_prefixes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.prefix)
            .collect();
        let truncated = output.is_truncated.unwrap_or(false);
        Ok(ListPage {
            objects,
            common_prefixes,
            next_page_token: output.next_continuation_token.filter(|_| truncated),
        })
    }
}

fn time_of(time: Option<&DateTime>) -> SystemTime {
    time.and_then(|t| SystemTime::try_from(*t).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn metadata_of(metadata: Option<HashMap<String, String>>) -> Metadata {
    super::metadata::from_headers(metadata)
}

/// The SDK's body as a stream of chunks; a failure midway is `Unavailable`.
fn body_stream(body: SdkBody, what: String) -> strata_core::objects::ByteStream {
    futures::stream::try_unfold(Some(body), move |body| {
        let what = what.clone();
        async move {
            let Some(mut body) = body else {
                return Ok(None);
            };
            match body.try_next().await {
                Ok(Some(chunk)) => Ok(Some((chunk, Some(body)))),
                Ok(None) => Ok(None),
                Err(err) => Err(Error::unavailable(format!(
                    "{what}: the download broke off: {err}"
                ))
                .with_source(err)),
            }
        }
    })
    .boxed()
}
