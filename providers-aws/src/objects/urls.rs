//! Presigned and public URLs.

use aws_sdk_s3::presigning::PresigningConfig;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use strata_core::objects::{SignedUrlMethod, SignedUrlOptions};
use strata_core::{Error, Result};

use super::S3Bucket;
use crate::error::sdk_error;

/// What stays as is in a key inside a URL path: RFC 3986 unreserved
/// characters and the `/` separators.
const KEY_IN_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// `key` percent-encoded for a URL path (and for `x-amz-copy-source`).
pub(crate) fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY_IN_PATH).to_string()
}

impl S3Bucket {
    /// A SigV4 presigned GET or PUT URL.
    pub(super) async fn presign(&self, key: &str, opts: &SignedUrlOptions) -> Result<String> {
        if !self.inner.capabilities.signed_urls {
            return Err(Error::unsupported(
                "signed URLs need credentials (providers.aws.credentials is anonymous)",
            ));
        }
        let config = PresigningConfig::expires_in(opts.ttl).map_err(|e| {
            Error::invalid_argument(format!("signed URL TTL {:?}: {e}", opts.ttl)).with_source(e)
        })?;
        let bucket = &self.inner.bucket;
        let request = match opts.method {
            SignedUrlMethod::Get => self
                .s3()
                .get_object()
                .bucket(bucket)
                .key(key)
                .presigned(config)
                .await
                .map_err(|e| {
                    sdk_error(e, &self.what("presigning GetObject", key), &self.target())
                })?,
            SignedUrlMethod::Put => self
                .s3()
                .put_object()
                .bucket(bucket)
                .key(key)
                .set_content_type(opts.content_type.clone())
                .presigned(config)
                .await
                .map_err(|e| {
                    sdk_error(e, &self.what("presigning PutObject", key), &self.target())
                })?,
        };
        Ok(request.uri().to_owned())
    }

    /// The object's URL: under `public_base_url` when configured, path-style
    /// on emulators (`endpoint/bucket/key`), virtual-hosted on AWS.
    pub(super) fn url_of(&self, key: &str) -> String {
        let key = encode_key(key);
        if let Some(base) = &self.inner.public_base_url {
            return format!("{}/{key}", base.trim_end_matches('/'));
        }
        let settings = self.inner.clients.settings();
        let region = self.inner.clients.region();
        let bucket = &self.inner.bucket;
        let endpoint = settings
            .s3_endpoint()
            .map(|e| e.trim_end_matches('/').to_owned());
        match (endpoint, settings.path_style()) {
            (Some(endpoint), true) => format!("{endpoint}/{bucket}/{key}"),
            (None, true) => format!("https://s3.{region}.amazonaws.com/{bucket}/{key}"),
            (Some(endpoint), false) => match endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{bucket}.{host}/{key}"),
                None => format!("{endpoint}/{bucket}/{key}"),
            },
            (None, false) => format!("https://{bucket}.s3.{region}.amazonaws.com/{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_slashes_and_encode_the_rest() {
        assert_eq!(encode_key("a/b c/ü+%.txt"), "a/b%20c/%C3%BC%2B%25.txt");
        assert_eq!(encode_key("x-y_z~1"), "x-y_z~1");
    }
}
