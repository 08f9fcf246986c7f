//! Listing. Flat pages come from the crate's List Blobs; with a delimiter
//! the same call in its hierarchical form is sent by hand through the same
//! pipeline (`azure_storage_blob` 1.1 has no `delimiter`), and read into the
//! crate's own blob item type. Page tokens are the service's `NextMarker`.

use azure_core::http::PipelineSendOptions;
use azure_core::http::{Method, Request};
use azure_storage_blob::models::{
    BlobContainerClientListBlobsOptions, BlobItem, BlobName, ListBlobsIncludeItem,
};
use futures::StreamExt;
use serde::Deserialize;
use strata_core::objects::{ListOptions, ListPage, ObjectMeta};
use strata_core::{Error, Result};

use super::{BlobBucket, system_time};

/// The largest page Strata asks for (the service takes up to 5,000; the
/// other clouds' maximum is 1,000).
const MAX_PAGE: usize = 1000;

/// A hierarchical List Blobs answer: blobs and prefixes interleaved, in
/// key order.
#[derive(Deserialize)]
#[serde(rename = "EnumerationResults")]
struct HierarchyPage {
    #[serde(rename = "Blobs", default)]
    entries: HierarchyEntries,
    #[serde(rename = "NextMarker", default)]
    next_marker: Option<String>,
}

#[derive(Deserialize, Default)]
struct HierarchyEntries {
    #[serde(rename = "$value", default)]
    items: Vec<HierarchyItem>,
}

#[derive(Deserialize)]
enum HierarchyItem {
    Blob(Box<BlobItem>),
    BlobPrefix(Prefix),
}

#[derive(Deserialize)]
struct Prefix {
    /// As a blob's name: percent-encoded when `Encoded="true"` (a name with
    /// characters XML cannot carry).
    #[serde(rename = "Name")]
    name: BlobName,
}

impl Prefix {
    fn into_name(self) -> Option<String> {
        let content = self.name.content?;
        if self.name.encoded.unwrap_or(false) {
            percent_encoding::percent_decode_str(&content)
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        } else {
            Some(content)
        }
    }
}

impl BlobBucket {
    pub(super) async fn list(&self, opts: &ListOptions) -> Result<ListPage> {
        let page_size = opts.page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
        let prefix = opts.prefix.clone().filter(|p| !p.is_empty());
        match opts.delimiter.as_deref().filter(|d| !d.is_empty()) {
            None => {
                self.list_flat(prefix, page_size, opts.page_token.clone())
                    .await
            }
            Some(delimiter) => {
                self.list_hierarchy(prefix, delimiter, page_size, opts.page_token.as_deref())
                    .await
            }
        }
    }

    async fn list_flat(
        &self,
        prefix: Option<String>,
        page_size: usize,
        marker: Option<String>,
    ) -> Result<ListPage> {
        let what = prefix.clone().unwrap_or_default();
        let fail = |e| self.fail(e, "listing the prefix", &what);
        let options = BlobContainerClientListBlobsOptions {
            include: Some(vec![ListBlobsIncludeItem::Metadata]),
            marker,
            maxresults: Some(page_size as i32),
            prefix,
            ..BlobContainerClientListBlobsOptions::default()
        };
        let mut pages = self
            .inner
            .container
            .list_blobs(Some(options))
            .map_err(fail)?
            .into_pages();
        let Some(page) = pages.next().await else {
            return Ok(ListPage::default());
        };
        let page = page.map_err(fail)?.into_model().map_err(fail)?;
        Ok(ListPage {
            objects: page.blob_items.into_iter().filter_map(meta_of).collect(),
            common_prefixes: Vec::new(),
            next_page_token: page.next_marker.filter(|m| !m.is_empty()),
        })
    }

    async fn list_hierarchy(
        &self,
        prefix: Option<String>,
        delimiter: &str,
        page_size: usize,
        marker: Option<&str>,
    ) -> Result<ListPage> {
        let what = prefix.clone().unwrap_or_default();
        let fail = |e| self.fail(e, "listing the prefix", &what);
        let blob = self.inner.clients.blob().await?;
        let mut url = self.inner.container.url().clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("restype", "container")
                .append_pair("comp", "list")
                .append_pair("include", "metadata")
                .append_pair("delimiter", delimiter)
                .append_pair("maxresults", &page_size.to_string());
            if let Some(prefix) = &prefix {
                query.append_pair("prefix", prefix);
            }
            if let Some(marker) = marker {
                query.append_pair("marker", marker);
            }
        }
        let mut request = Request::new(url, Method::Get);
        request.insert_header("accept", "application/xml");
        request.insert_header("x-ms-version", blob.version.clone());
        let ctx = azure_core::http::Context::new();
        let response = blob
            .pipeline
            .send(
                &ctx,
                &mut request,
                Some(PipelineSendOptions {
                    check_success: check_success_ok(),
                    ..PipelineSendOptions::default()
                }),
            )
            .await
            .map_err(fail)?;
        let page: HierarchyPage = azure_core::xml::from_xml(response.into_body())
            .map_err(|e| Error::internal(format!("reading a listing of `{what}`: {e}")))?;
        let mut out = ListPage {
            next_page_token: page.next_marker.filter(|m| !m.is_empty()),
            ..ListPage::default()
        };
        for item in page.entries.items {
            match item {
                HierarchyItem::Blob(item) => out.objects.extend(meta_of(*item)),
                HierarchyItem::BlobPrefix(p) => out.common_prefixes.extend(p.into_name()),
            }
        }
        Ok(out)
    }
}

fn check_success_ok() -> azure_core::error::CheckSuccessOptions {
    azure_core::error::CheckSuccessOptions {
        success_codes: &[200],
    }
}

/// Strata's metadata of a listed blob (`None` without a name).
fn meta_of(item: BlobItem) -> Option<ObjectMeta> {
    let key = item.name?;
    let props = item.properties.unwrap_or_default();
    Some(ObjectMeta {
        key,
        size: props.content_length.unwrap_or(0),
        // Listings give ETags bare; headers (and so every other call) quoted.
        etag: props
            .etag
            .map(|e| {
                let e = e.to_string();
                if e.starts_with('"') {
                    e
                } else {
                    format!("\"{e}\"")
                }
            })
            .unwrap_or_default(),
        content_type: props.content_type,
        last_modified: system_time(props.last_modified),
        metadata: item
            .metadata
            .and_then(|m| m.values)
            .unwrap_or_default()
            .into_iter()
            .collect(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_hierarchical_page_keeps_blobs_and_prefixes_in_order() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c">
  <Prefix>p/</Prefix><Delimiter>/</Delimiter>
  <Blobs>
    <BlobPrefix><Name>p/a/</Name></BlobPrefix>
    <Blob><Name>p/b.txt</Name><Properties><Content-Length>3</Content-Length>
      <Content-Type>text/plain</Content-Type><Etag>0x8D1</Etag></Properties>
      <Metadata><origin>strata</origin></Metadata></Blob>
    <BlobPrefix><Name Encoded="true">p/%EF%BF%BE/</Name></BlobPrefix>
  </Blobs>
  <NextMarker>m1</NextMarker>
</EnumerationResults>"#;
        let page: HierarchyPage = azure_core::xml::from_xml(xml.as_bytes()).unwrap();
        assert_eq!(page.next_marker.as_deref(), Some("m1"));
        let mut seen = Vec::new();
        for item in page.entries.items {
            match item {
                HierarchyItem::Blob(item) => {
                    let meta = meta_of(*item).unwrap();
                    assert_eq!(meta.etag, "\"0x8D1\"");
                    assert_eq!(
                        meta.metadata.get("origin").map(String::as_str),
                        Some("strata")
                    );
                    seen.push(meta.key);
                }
                HierarchyItem::BlobPrefix(p) => seen.push(p.into_name().unwrap()),
            }
        }
        assert_eq!(seen, ["p/a/", "p/b.txt", "p/\u{fffe}/"]);
    }
}
