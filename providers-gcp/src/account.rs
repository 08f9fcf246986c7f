//! `providers.gcp` of the infra config: [`GcpAccount`], Google Cloud's own
//! settings type, shared by the Pub/Sub and Cloud Storage providers and the
//! Cloud SQL auth tokens.

use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use strata_core::registry::cloud::check_endpoints;
use strata_core::registry::{FieldError, ProviderOptions, Registry};

/// How to reach one Google Cloud project (or its emulators).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GcpAccount {
    /// The project id, owner of topics, subscriptions and new buckets
    /// (default: `GOOGLE_CLOUD_PROJECT` from the environment).
    #[serde(default)]
    pub project: Option<String>,
    /// One endpoint for every service, e.g. `http://127.0.0.1:8085` for an
    /// emulator. A plain `http://` endpoint is taken for an emulator and used
    /// without credentials unless `credentials` says otherwise;
    /// `PUBSUB_EMULATOR_HOST` and `STORAGE_EMULATOR_HOST` are read too.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Per-service endpoints, overriding `endpoint`.
    #[serde(default)]
    pub endpoints: GcpEndpoints,
    /// Explicit credentials; without them, Application Default Credentials.
    /// A service-account key beside a plain `http://` (emulator) endpoint
    /// never reaches Google: Cloud Storage requests then carry no token and
    /// the key only signs URLs locally.
    #[serde(default)]
    pub credentials: Option<GcpCredentialsConfig>,
    /// The service account (its email) that signs V4 signed URLs through the
    /// IAM Credentials `signBlob` call, for credentials without a private key:
    /// Application Default Credentials of a user or of workload identity
    /// federation, or another account than the one the metadata server
    /// serves. The credentials need `iam.serviceAccounts.signBlob` on it
    /// (`roles/iam.serviceAccountTokenCreator`). Without it, URLs are signed
    /// with the key of `credentials.service_account_json`, or on Google Cloud
    /// by `signBlob` as the metadata server's default service account;
    /// otherwise `signedUrl` is `Unsupported`.
    #[serde(default)]
    pub signing_service_account: Option<String>,
    /// Create missing topics, subscriptions and buckets at startup.
    #[serde(default)]
    pub provision: bool,
}

/// Per-service endpoint overrides, for emulators that serve one service each.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GcpEndpoints {
    /// The Pub/Sub endpoint: a URL with its scheme (`http://127.0.0.1:8085`
    /// for the emulator, `https://…` otherwise); a bare `host:port` is
    /// refused here but is what `PUBSUB_EMULATOR_HOST` takes.
    #[serde(default)]
    pub pubsub: Option<String>,
    /// The Cloud Storage JSON API base URL (`http://127.0.0.1:4443`).
    #[serde(default)]
    pub storage: Option<String>,
}

/// Explicit GCP credentials. Put secrets in the environment: `{"$env": "NAME"}`.
///
/// `Debug` never shows the key.
#[derive(Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GcpCredentialsConfig {
    /// A service-account key: the JSON document itself, usually
    /// `{"$env": "NAME"}`. Also what signs V4 signed URLs.
    #[serde(default)]
    pub service_account_json: Option<String>,
    /// Use no credentials (emulators that accept anonymous requests).
    #[serde(default)]
    pub anonymous: bool,
}

impl fmt::Debug for GcpCredentialsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpCredentialsConfig")
            .field(
                "service_account_json",
                &self.service_account_json.as_ref().map(|_| "<redacted>"),
            )
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

impl ProviderOptions for GcpAccount {
    fn check(&self, _registry: &Registry) -> Result<(), FieldError> {
        self.validate()
    }
}

impl GcpAccount {
    /// The checks the config parser runs: the field (relative to
    /// `providers.gcp`) and what is wrong there.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(project) = &self.project {
            check_project(project).map_err(|msg| ("project".to_owned(), msg))?;
        }
        check_endpoints([
            ("endpoint", &self.endpoint),
            ("endpoints.pubsub", &self.endpoints.pubsub),
            ("endpoints.storage", &self.endpoints.storage),
        ])?;
        if let Some(email) = &self.signing_service_account
            && !(email.contains('@')
                && !email.contains(char::is_whitespace)
                && !email.contains('/'))
        {
            return Err((
                "signing_service_account".into(),
                "not a service account email (`name@project.iam.gserviceaccount.com`)".into(),
            ));
        }
        if let Some(creds) = &self.credentials
            && creds.anonymous
            && creds.service_account_json.is_some()
        {
            return Err((
                "credentials".into(),
                "`anonymous` and `service_account_json` exclude each other".into(),
            ));
        }
        Ok(())
    }
}

/// GCP project ids are 6 to 30 lowercase letters, digits and hyphens; older
/// projects may carry a `domain:` prefix. Emulators accept any id, so only
/// what can never be valid is refused here (a path separator, a blank).
pub(crate) fn check_project(project: &str) -> Result<(), String> {
    let ok = !project.is_empty()
        && project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '_'));
    if ok {
        Ok(())
    } else {
        Err("not a project id (letters, digits and hyphens, e.g. `my-project-123`)".into())
    }
}
