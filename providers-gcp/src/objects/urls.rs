//! Public URLs and V4 signed URLs.
//!
//! Signed URLs are path-style (`ENDPOINT/BUCKET/KEY?X-Goog-...`) and point
//! at the configured storage endpoint, Google Cloud's by default. The
//! signature is made by `gcloud-storage` for that very host: V4 signing
//! covers the `host` header, so the host is chosen before signing (through
//! the crate's [`URLStyle`]) rather than rewritten afterwards.

use gcloud_storage::sign::{SignedURLError, SignedURLMethod, SignedURLOptions, URLStyle};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use strata_core::objects::{ObjectKey, SignedUrlMethod, SignedUrlOptions};
use strata_core::{Error, Result};

use crate::error::storage_error;

use super::GcsBucket;

/// Cloud Storage's own endpoint, where URLs point unless one is configured.
const GOOGLE_ENDPOINT: &str = "https://storage.googleapis.com";

/// What stays as it is in a URL path: unreserved characters and `/`, so
/// `a/b c.txt` becomes `a/b%20c.txt`. This is also the encoding V4 signing
/// expects in the canonical request.
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

/// Where signed URLs point, split the way the signer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SigningEndpoint {
    /// `http://` (an emulator) rather than `https://`.
    insecure: bool,
    /// `host[:port]` as an HTTP client sends it in `Host`: lowercase, without
    /// the scheme's default port. It is signed, so it must match exactly.
    host: String,
    /// A path the endpoint is mounted under, with a trailing `/`, or empty.
    prefix: String,
}

impl SigningEndpoint {
    /// Splits `http(s)://host[:port][/prefix]`.
    fn parse(endpoint: &str) -> Result<SigningEndpoint> {
        let (insecure, rest) = if let Some(rest) = endpoint.strip_prefix("http://") {
            (true, rest)
        } else if let Some(rest) = endpoint.strip_prefix("https://") {
            (false, rest)
        } else {
            return Err(Error::invalid_config(format!(
                "the storage endpoint `{endpoint}` is not an http:// or https:// URL, so no \
                 signed URL can point at it"
            )));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let default_port = if insecure { ":80" } else { ":443" };
        let authority = authority.to_ascii_lowercase();
        let host = authority
            .strip_suffix(default_port)
            .unwrap_or(&authority)
            .to_owned();
        if host.is_empty() {
            return Err(Error::invalid_config(format!(
                "the storage endpoint `{endpoint}` names no host"
            )));
        }
        let path = path.trim_matches('/');
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        Ok(SigningEndpoint {
            insecure,
            host,
            prefix,
        })
    }
}

/// Path-style URLs on a [`SigningEndpoint`], the key percent-encoded so the
/// path in the URL and the one in the signed canonical request are the same
/// string.
impl URLStyle for SigningEndpoint {
    fn host(&self, _bucket: &str) -> String {
        self.host.clone()
    }

    fn path(&self, bucket: &str, object: &str) -> String {
        format!(
            "{}{bucket}/{}",
            self.prefix,
            utf8_percent_encode(object, PATH)
        )
    }
}

impl GcsBucket {
    /// A V4 signed URL (GOOG4-RSA-SHA256) pointing at the storage endpoint.
    /// Signed locally with a service-account key (given as credentials, also
    /// with an emulator endpoint), or by the IAM Credentials `signBlob` call
    /// as `signing_service_account` or, with Application Default Credentials
    /// on Google Cloud, as the metadata server's service account. Clients
    /// with none of these cannot sign (`Unsupported`).
    pub(super) async fn sign(&self, key: &ObjectKey, opts: &SignedUrlOptions) -> Result<String> {
        if !self.inner.capabilities.signed_urls {
            return Err(Error::unsupported(
                "signed URLs need credentials that can sign: set \
                 providers.gcp.credentials.service_account_json to a service-account key (it \
                 signs for an emulator endpoint too), or providers.gcp.signing_service_account \
                 to a service account these credentials may call IAM signBlob on; on Google \
                 Cloud, Application Default Credentials sign as the metadata server's account",
            ));
        }
        let settings = self.inner.clients.settings();
        let endpoint =
            SigningEndpoint::parse(settings.storage_endpoint().unwrap_or(GOOGLE_ENDPOINT))?;
        let method = match opts.method {
            SignedUrlMethod::Get => SignedURLMethod::GET,
            SignedUrlMethod::Put => SignedURLMethod::PUT,
        };
        let options = SignedURLOptions {
            method,
            expires: opts.ttl,
            content_type: opts.content_type.clone(),
            insecure: endpoint.insecure,
            style: Box::new(endpoint),
            ..SignedURLOptions::default()
        };
        let client = self.inner.clients.storage().await?;
        let what = format!("signing a URL for `{key}` in bucket `{}`", self.inner.name);
        client
            .signed_url(&self.inner.name, key.as_str(), None, None, options)
            .await
            .map_err(|e| match e {
                // No key and no service account: user credentials from
                // `gcloud auth application-default login`, say.
                SignedURLError::InvalidOption(why) if why.starts_with("No default") => {
                    Error::unsupported(format!(
                        "{what}: these Application Default Credentials cannot sign ({why}); \
                         set providers.gcp.signing_service_account, or \
                         providers.gcp.credentials.service_account_json to a service-account key"
                    ))
                }
                // IAM refused or failed the signBlob call.
                SignedURLError::SignBlob(err) => storage_error(
                    err,
                    &format!("{what} through IAM signBlob"),
                    &self
                        .inner
                        .clients
                        .settings()
                        .iam_endpoint
                        .clone()
                        .unwrap_or_else(|| {
                            "IAM Credentials (iamcredentials.googleapis.com)".to_owned()
                        }),
                ),
                SignedURLError::InvalidOption(why) => {
                    Error::invalid_argument(format!("{what}: {why}"))
                }
                other => Error::invalid_config(format!("{what}: {other}")),
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strata_core::ErrorCode;

    #[test]
    fn signing_endpoints_keep_the_host_a_client_sends() {
        let emulator = SigningEndpoint::parse("http://127.0.0.1:4443").unwrap();
        assert_eq!(
            emulator,
            SigningEndpoint {
                insecure: true,
                host: "127.0.0.1:4443".into(),
                prefix: String::new(),
            }
        );
        let google = SigningEndpoint::parse("https://Storage.googleapis.com:443/").unwrap();
        assert!(!google.insecure);
        assert_eq!(google.host, "storage.googleapis.com");
        assert_eq!(google.prefix, "");
        let mounted = SigningEndpoint::parse("http://proxy:80/gcs/").unwrap();
        assert_eq!(mounted.host, "proxy");
        assert_eq!(mounted.path("b", "k"), "gcs/b/k");
    }

    #[test]
    fn signed_paths_are_percent_encoded_like_the_canonical_request() {
        let endpoint = SigningEndpoint::parse("https://storage.googleapis.com").unwrap();
        assert_eq!(
            endpoint.path("bkt", "a/b c+d~é.txt"),
            "bkt/a/b%20c%2Bd~%C3%A9.txt"
        );
    }

    #[test]
    fn endpoints_that_are_not_urls_are_invalid_config() {
        for bad in ["127.0.0.1:4443", "ftp://x", "http://", "https:///path"] {
            let err = SigningEndpoint::parse(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidConfig, "{bad}");
        }
    }
}
