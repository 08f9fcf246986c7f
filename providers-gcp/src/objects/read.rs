//! Downloads (whole, streamed, ranged), attributes, deletes and listing.

use futures::{StreamExt, TryStreamExt};
use gcloud_storage::http::objects::Object;
use gcloud_storage::http::objects::delete::DeleteObjectRequest;
use gcloud_storage::http::objects::download::Range;
use gcloud_storage::http::objects::get::GetObjectRequest;
use gcloud_storage::http::objects::list::ListObjectsRequest;
use strata_core::objects::{GetOptions, GetResult, ListOptions, ListPage, ObjectKey, ObjectMeta};
use strata_core::{Error, ErrorCode, Result};

use super::{GcsBucket, meta_of};

/// Cloud Storage's largest page of a listing.
const MAX_PAGE: usize = 1000;
/// How Strata's page tokens start; the rest is the last entry listed.
const AFTER_TOKEN: &str = "after:";

impl GcsBucket {
    fn get_request(&self, key: &ObjectKey) -> GetObjectRequest {
        GetObjectRequest {
            bucket: self.inner.name.clone(),
            object: key.as_str().to_owned(),
            ..GetObjectRequest::default()
        }
    }

    /// The object resource of `key`.
    pub(super) async fn attributes(&self, key: &ObjectKey) -> Result<Object> {
        let client = self.inner.clients.storage().await?;
        client
            .get_object(&self.get_request(key))
            .await
            .map_err(|e| self.fail(e, "reading", key.as_str()))
    }

    pub(super) async fn download(&self, key: &ObjectKey, opts: &GetOptions) -> Result<GetResult> {
        let object = self.attributes(key).await?;
        let generation = object.generation;
        let meta = meta_of(object);
        let range = match opts.range {
            None => Range::default(),
            Some(range) => {
                if range.start > meta.size {
                    return Err(Error::invalid_argument(format!(
                        "range starts at byte {} of `{key}`, which has {} bytes",
                        range.start, meta.size
                    )));
                }
                let end = range.end.map_or(meta.size, |end| end.min(meta.size));
                if end <= range.start {
                    let empty = futures::stream::empty().boxed();
                    return Ok(GetResult { meta, body: empty });
                }
                Range(Some(range.start), Some(end - 1))
            }
        };
        if meta.size == 0 {
            // A ranged GET of an empty object is refused (416): nothing to fetch.
            let empty = futures::stream::empty().boxed();
            return Ok(GetResult { meta, body: empty });
        }
        // Pinned to the generation just read: the body is that version,
        // even if the object is overwritten meanwhile.
        let request = GetObjectRequest {
            generation: Some(generation),
            ..self.get_request(key)
        };
        let client = self.inner.clients.storage().await?;
        let stream = client
            .download_streamed_object(&request, &range)
            .await
            .map_err(|e| self.fail(e, "downloading", key.as_str()))?;
        let (bucket, target, name) = (self.inner.name.clone(), self.target(), key.to_string());
        let body = stream
            .map_err(move |e| {
                crate::error::storage_error(
                    e,
                    &format!("downloading `{name}` in bucket `{bucket}`"),
                    &target,
                )
            })
            .boxed();
        Ok(GetResult { meta, body })
    }

    pub(super) async fn remove(&self, key: &ObjectKey) -> Result<()> {
        let request = DeleteObjectRequest {
            bucket: self.inner.name.clone(),
            object: key.as_str().to_owned(),
            ..DeleteObjectRequest::default()
        };
        let client = self.inner.clients.storage().await?;
        match client.delete_object(&request).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = self.fail(e, "deleting", key.as_str());
                // Deleting what is not there succeeds.
                if err.code() == ErrorCode::NotFound {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    /// One page of a listing. Page tokens are Strata's own: the last entry
    /// of the page, continued from with `startOffset`. fake-gcs-server
    /// counts `maxResults` over objects only (not prefixes) and repeats
    /// prefixes across its pages; merging, truncating and skipping what was
    /// already listed here gives the same pages on it as on Cloud Storage.
    pub(super) async fn list(&self, opts: &ListOptions) -> Result<ListPage> {
        let page_size = opts.page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
        let after = match opts.page_token.as_deref() {
            None => None,
            Some(token) => Some(
                token
                    .strip_prefix(AFTER_TOKEN)
                    .ok_or_else(|| {
                        Error::invalid_argument(format!(
                            "`{token}` is not a page token of this bucket's listing"
                        ))
                    })?
                    .to_owned(),
            ),
        };
        let client = self.inner.clients.storage().await?;
        let what = opts.prefix.as_deref().unwrap_or("");
        let mut server_token = None;
        loop {
            let request = ListObjectsRequest {
                bucket: self.inner.name.clone(),
                prefix: opts.prefix.clone().filter(|p| !p.is_empty()),
                delimiter: opts.delimiter.clone().filter(|d| !d.is_empty()),
                // Always a full page from the server, cut to `page_size`
                // here: fake-gcs-server counts only objects against
                // `maxResults`, so a small one there covers too little to
                // place the prefixes around it.
                max_results: Some(MAX_PAGE as i32),
                page_token: server_token.take(),
                start_offset: after.clone(),
                ..ListObjectsRequest::default()
            };
            let response = client
                .list_objects(&request)
                .await
                .map_err(|e| self.fail(e, "listing the prefix", what))?;
            let more = response.next_page_token.filter(|t| !t.is_empty());
            let items = response.items.unwrap_or_default();
            // With more to come, only what sorts up to the last object is
            // known to be complete (fake-gcs-server returns every prefix
            // at once); the rest is listed again from the next offset.
            let covered = more
                .as_ref()
                .and_then(|_| items.last().map(|o| o.name.clone()));
            let mut entries: Vec<(String, Option<ObjectMeta>)> = items
                .into_iter()
                .map(|o| {
                    let meta = meta_of(o);
                    (meta.key.clone(), Some(meta))
                })
                .chain(
                    response
                        .prefixes
                        .unwrap_or_default()
                        .into_iter()
                        .map(|p| (p, None)),
                )
                .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a))
                .filter(|(key, _)| covered.as_ref().is_none_or(|c| key <= c))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
            if entries.is_empty() && more.is_some() {
                server_token = more;
                continue;
            }
            let truncated = entries.len() > page_size;
            entries.truncate(page_size);
            let next_page_token = match entries.last() {
                Some((last, _)) if truncated || more.is_some() => {
                    Some(format!("{AFTER_TOKEN}{last}"))
                }
                _ => None,
            };
            let mut page = ListPage {
                next_page_token,
                ..ListPage::default()
            };
            for (key, meta) in entries {
                match meta {
                    Some(meta) => page.objects.push(meta),
                    None => page.common_prefixes.push(key),
                }
            }
            return Ok(page);
        }
    }
}
