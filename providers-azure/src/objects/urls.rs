//! Public URLs and signed URLs (SAS).
//!
//! A service SAS is signed here with the account key (the official crates
//! build only user-delegation SAS); with Entra ID credentials a
//! user-delegation key is fetched and `azure_storage_sas` builds the SAS.
//! An upload through a signed URL is a Put Blob: the uploader sends
//! `x-ms-blob-type: BlockBlob`. A user-delegation SAS binds the content type
//! of an upload (signed request headers); a service SAS cannot bind request
//! headers, so there the type is the uploader's to send.

use std::time::Duration;

use azure_core::hmac::hmac_sha256;
use azure_core::time::OffsetDateTime;
use azure_storage_blob::BlobServiceClient;
use azure_storage_blob::BlobServiceClientOptions;
use azure_storage_blob::models::KeyInfo;
use azure_storage_sas::SasBuilder;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use strata_core::objects::{ObjectKey, SignedUrlMethod, SignedUrlOptions};
use strata_core::{Error, Result};

use super::BlobBucket;
use crate::settings::AzureCredentials;

/// The service SAS version signed here (its string to sign has the
/// encryption-scope line, since 2020-12-06).
const SAS_VERSION: &str = "2022-11-02";

/// What a key's path segments keep unescaped: RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `base/key`, each segment of the key percent-encoded.
pub(super) fn public_url(base: &str, key: &ObjectKey) -> String {
    let path: Vec<String> = key
        .segments()
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect();
    format!("{base}/{}", path.join("/"))
}

/// Seconds-precision UTC time, as SAS fields take it.
fn sas_time(t: OffsetDateTime) -> Result<String> {
    let t = t
        .replace_nanosecond(0)
        .map_err(|e| Error::internal(format!("a SAS time: {e}")))?;
    Ok(azure_core::time::to_rfc3339(&t))
}

impl BlobBucket {
    pub(super) async fn sign(&self, key: &ObjectKey, opts: &SignedUrlOptions) -> Result<String> {
        let ttl = azure_core::time::Duration::try_from(opts.ttl)
            .map_err(|_| Error::invalid_argument("the signed URL's lifetime is too long"))?;
        let expiry = OffsetDateTime::now_utc() + ttl;
        let mut url = self.blob(key).url().clone();
        match &self.inner.clients.settings().credentials {
            AzureCredentials::SharedKey(_) => self.service_sas(&mut url, key, opts, expiry).await?,
            AzureCredentials::Entra(_) => {
                let token = self.user_delegation_sas(key, opts, expiry).await?;
                url.set_query(Some(&token));
            }
            AzureCredentials::Sas(_) | AzureCredentials::Anonymous => {
                return Err(Error::unsupported(
                    "signed URLs on Blob Storage need an account key or Entra ID credentials \
                     (providers.azure.credentials)",
                ));
            }
        }
        Ok(url.to_string())
    }

    /// A service SAS for one blob, signed with the account key.
    async fn service_sas(
        &self,
        url: &mut azure_core::http::Url,
        key: &ObjectKey,
        opts: &SignedUrlOptions,
        expiry: OffsetDateTime,
    ) -> Result<()> {
        let blob = self.inner.clients.blob().await?;
        let (Some(account_key), Some(account)) =
            (&blob.account_key, &self.inner.clients.settings().account)
        else {
            return Err(Error::unsupported("signed URLs without an account key"));
        };
        let permissions = match opts.method {
            SignedUrlMethod::Get => "r",
            SignedUrlMethod::Put => "cw",
        };
        let expiry = sas_time(expiry)?;
        let resource = format!("/blob/{account}/{}/{key}", self.inner.name);
        // The response content type is only meaningful for a download.
        let rsct = match opts.method {
            SignedUrlMethod::Get => opts.content_type.clone().unwrap_or_default(),
            SignedUrlMethod::Put => String::new(),
        };
        // permissions, start, expiry, resource, identifier, IP, protocol,
        // version, resource type, snapshot, encryption scope, then the five
        // response headers (cache control, disposition, encoding, language,
        // content type).
        let fields = [
            permissions,
            "",
            &expiry,
            &resource,
            "",
            "",
            "",
            SAS_VERSION,
            "b",
            "",
            "",
            "",
            "",
            "",
            "",
            &rsct,
        ];
        let signature = hmac_sha256(&fields.join("\n"), account_key).map_err(|_| {
            Error::invalid_config(
                "at `providers.azure.credentials.account_key`: not a storage account key",
            )
        })?;
        let mut query = url.query_pairs_mut();
        query
            .append_pair("sv", SAS_VERSION)
            .append_pair("se", &expiry)
            .append_pair("sr", "b")
            .append_pair("sp", permissions);
        if !rsct.is_empty() {
            query.append_pair("rsct", &rsct);
        }
        query.append_pair("sig", &signature);
        Ok(())
    }

    /// A user-delegation SAS: a key from the service for the Entra ID
    /// principal, then `azure_storage_sas`.
    async fn user_delegation_sas(
        &self,
        key: &ObjectKey,
        opts: &SignedUrlOptions,
        expiry: OffsetDateTime,
    ) -> Result<String> {
        let blob = self.inner.clients.blob().await?;
        let options = BlobServiceClientOptions {
            client_options: blob.options.clone(),
            ..BlobServiceClientOptions::default()
        };
        let fail = |e| self.fail(e, "getting a user delegation key to sign", key.as_str());
        let service =
            BlobServiceClient::new(blob.url.clone(), None, Some(options)).map_err(fail)?;
        // Valid from a little before now: clocks differ.
        let start = OffsetDateTime::now_utc() - Duration::from_secs(300);
        let info = KeyInfo {
            start: Some(start),
            expiry: Some(expiry),
            ..KeyInfo::default()
        };
        let udk = service
            .get_user_delegation_key(info.try_into().map_err(fail)?, None)
            .await
            .map_err(fail)?
            .into_model()
            .map_err(fail)?;
        let account = self.inner.clients.settings().account()?;
        let builder = SasBuilder::new(account, &udk, expiry)
            .map_err(fail)?
            .blob(self.inner.name.clone(), key.as_str());
        let builder = match opts.method {
            SignedUrlMethod::Get => {
                let b = builder.read();
                match &opts.content_type {
                    Some(ct) => b.content_type(ct.clone()),
                    None => b,
                }
            }
            SignedUrlMethod::Put => {
                let b = builder.create().write();
                match &opts.content_type {
                    Some(ct) => b.signed_request_header("Content-Type", ct.clone()),
                    None => b,
                }
            }
        };
        Ok(builder.build())
    }
}
