//! Shared Key authorization for Blob Storage, as a per-try policy of
//! `azure_core`'s pipeline: `azure_storage_blob` 1.x signs nothing itself
//! (Entra ID only), so this policy dates and signs each attempt of each
//! request just before it is sent, after every header is set.
//!
//! The string to sign is the one of the Blob service's Shared Key scheme
//! (<https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key>):
//! the verb, eleven standard headers, the `x-ms-` headers and the resource.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::Secret;
use azure_core::hmac::hmac_sha256;
use azure_core::http::headers::{AUTHORIZATION, HeaderName, MS_DATE};
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request, Url};
use azure_core::time::{OffsetDateTime, to_rfc7231};

/// Signs requests with a storage account's shared key.
pub(crate) struct SharedKeyPolicy {
    account: String,
    key: Secret,
}

/// Names the account, never the key.
impl fmt::Debug for SharedKeyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKeyPolicy")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl SharedKeyPolicy {
    /// Signs for `account` with `key` (base64, as Azure gives it).
    pub(crate) fn new(account: &str, key: Secret) -> Self {
        Self {
            account: account.to_owned(),
            key,
        }
    }
}

#[async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        // A fresh date per attempt: a retry after a pause must not present
        // a stale one (the service allows 15 minutes of skew).
        request.insert_header(MS_DATE, to_rfc7231(&OffsetDateTime::now_utc()));
        let signature = hmac_sha256(&string_to_sign(&self.account, request), &self.key)?;
        request.insert_header(
            AUTHORIZATION,
            format!("SharedKey {}:{signature}", self.account),
        );
        match next.split_first() {
            Some((first, rest)) => first.send(ctx, request, rest).await,
            None => Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                "the Shared Key policy must not be the last of the pipeline",
            )),
        }
    }
}

/// The standard headers signed, in their order.
const SIGNED_HEADERS: [&str; 11] = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
];

/// The Shared Key string to sign of `request` for `account`.
fn string_to_sign(account: &str, request: &Request) -> String {
    let headers = request.headers();
    let value = |name: &'static str| {
        headers
            .get_optional_str(&HeaderName::from_static(name))
            .unwrap_or_default()
            .to_owned()
    };
    let mut out = String::with_capacity(256);
    out.push_str(request.method().as_ref());
    out.push('\n');
    for name in SIGNED_HEADERS {
        let mut v = value(name);
        if name == "content-length" {
            // Unset or zero is the empty string (versions since 2015-02-21).
            if v.is_empty()
                && let Some(len) = request.body().len().filter(|len| *len > 0)
            {
                v = len.to_string();
            }
            if v == "0" {
                v.clear();
            }
        }
        out.push_str(&v);
        out.push('\n');
    }
    let mut ms: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_ascii_lowercase(), value.as_str()))
        .filter(|(name, _)| name.starts_with("x-ms-"))
        .map(|(name, value)| (name, value.trim().to_owned()))
        .collect();
    ms.sort();
    for (name, value) in ms {
        out.push_str(&name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str(&canonical_resource(account, request.url()));
    out
}

/// `/<account><path>` and each query parameter as `\nname:v1,v2`, names
/// lowercased and sorted, values decoded and sorted.
fn canonical_resource(account: &str, url: &Url) -> String {
    let mut out = format!("/{account}{}", url.path());
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in url.query_pairs() {
        params
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.into_owned());
    }
    for (name, mut values) in params {
        values.sort();
        out.push('\n');
        out.push_str(&name);
        out.push(':');
        out.push_str(&values.join(","));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use azure_core::http::Method;

    use super::*;

    #[test]
    fn the_string_to_sign_follows_the_shared_key_scheme() {
        let url = Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1/c/a%20b.txt?comp=block&blockid=QUE%3D",
        )
        .unwrap();
        let mut request = Request::new(url, Method::Put);
        request.insert_header("x-ms-version", "2025-11-05");
        request.insert_header("x-ms-date", "Mon, 07 Dec 2026 16:00:00 GMT");
        request.insert_header("content-length", "0");
        request.insert_header("if-none-match", "*");
        let expected = "PUT\n\n\n\n\n\n\n\n\n*\n\n\n\
                        x-ms-date:Mon, 07 Dec 2026 16:00:00 GMT\nx-ms-version:2025-11-05\n\
                        /devstoreaccount1/devstoreaccount1/c/a%20b.txt\nblockid:QUE=\ncomp:block";
        assert_eq!(string_to_sign("devstoreaccount1", &request), expected);
    }

    #[test]
    fn debug_shows_the_account_not_the_key() {
        let policy = SharedKeyPolicy::new("acct1", Secret::new("s3cr3t"));
        let shown = format!("{policy:?}");
        assert!(
            shown.contains("acct1") && !shown.contains("s3cr3t"),
            "{shown}"
        );
    }
}
