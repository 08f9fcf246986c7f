//! Public URLs and V4 signed URLs.

use gcloud_storage::sign::{SignedURLMethod, SignedURLOptions};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use strata_core::objects::{ObjectKey, SignedUrlMethod, SignedUrlOptions};
use strata_core::{Error, Result};

use super::GcsBucket;

/// What stays as it is in a URL path: unreserved characters and `/`, so
/// `a/b c.txt` becomes `a/b%20c.txt`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// `base/key`, with the key percent-encoded.
pub(super) fn public_url(base: &str, key: &ObjectKey) -> String {
    format!("{base}/{}", utf8_percent_encode(key.as_str(), PATH))
}

impl GcsBucket {
    /// A V4 signed URL. Signing needs a service-account key (given as
    /// credentials) or, with Application Default Credentials on Google Cloud,
    /// the IAM `signBlob` call; anonymous clients (emulators) cannot sign.
    pub(super) async fn sign(&self, key: &ObjectKey, opts: &SignedUrlOptions) -> Result<String> {
        if !self.inner.capabilities.signed_urls {
            return Err(Error::unsupported(
                "signed URLs need credentials that can sign (a service-account key, or \
                 Application Default Credentials on Google Cloud); these clients are anonymous",
            ));
        }
        let method = match opts.method {
            SignedUrlMethod::Get => SignedURLMethod::GET,
            SignedUrlMethod::Put => SignedURLMethod::PUT,
        };
        let options = SignedURLOptions {
            method,
            expires: opts.ttl,
            content_type: opts.content_type.clone(),
            ..SignedURLOptions::default()
        };
        let client = self.inner.clients.storage().await?;
        client
            .signed_url(&self.inner.name, key.as_str(), None, None, options)
            .await
            .map_err(|e| {
                Error::invalid_config(format!(
                    "signing a URL for `{key}` in bucket `{}`: {e}",
                    self.inner.name
                ))
            })
    }
}
