//! [`GcpSettings`]: how strata-gcp reaches Google Cloud or its emulators,
//! read from the infra config's `providers.gcp` ([`GcpAccount`]) and the
//! emulator variables Google's own clients read.

use std::fmt;

use strata_core::{Error, Result};

use crate::account::{GcpAccount, GcpCredentialsConfig, check_project};

/// `host:port` of a Pub/Sub emulator, as `gcloud beta emulators pubsub
/// env-init` prints it. Google's clients in other languages read it; the Rust
/// one does not, so Strata does.
pub const PUBSUB_EMULATOR_HOST: &str = "PUBSUB_EMULATOR_HOST";
/// Base URL (or `host:port`) of a Cloud Storage emulator, read by Google's
/// Python and Go clients; Strata reads it too.
pub const STORAGE_EMULATOR_HOST: &str = "STORAGE_EMULATOR_HOST";
/// Where the project id comes from when the config names none.
pub const PROJECT_VARIABLES: [&str; 3] = [
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "CLOUDSDK_CORE_PROJECT",
];

/// Where credentials come from.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum GcpCredentials {
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, the
    /// gcloud user credentials, or the metadata server.
    #[default]
    ApplicationDefault,
    /// A service-account key: the JSON document itself (usually given
    /// through `{"$env": NAME}`). It authenticates requests and signs V4
    /// signed URLs. With a plain `http://` storage endpoint (an emulator such
    /// as fake-gcs-server), Cloud Storage requests go without credentials and
    /// the key only signs URLs: see [`GcpSettings::storage_endpoint`].
    ServiceAccountJson(String),
    /// No credentials: for emulators.
    Anonymous,
}

impl fmt::Debug for GcpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Settings get logged: the private key never reaches a log line.
        match self {
            GcpCredentials::ApplicationDefault => f.write_str("ApplicationDefault"),
            GcpCredentials::ServiceAccountJson(_) => f.write_str("ServiceAccountJson(<redacted>)"),
            GcpCredentials::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// How to reach Google Cloud (or the Pub/Sub emulator and fake-gcs-server).
///
/// ```
/// use strata_gcp::{GcpCredentials, GcpSettings};
/// let settings = GcpSettings {
///     project: "demo".into(),
///     pubsub_endpoint: Some("http://127.0.0.1:8085".into()),
///     credentials: GcpCredentials::Anonymous,
///     ..GcpSettings::default()
/// };
/// assert_eq!(settings.pubsub_endpoint(), Some("http://127.0.0.1:8085"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpSettings {
    /// The project id that owns topics and subscriptions (and new buckets).
    pub project: String,
    /// One endpoint for every service.
    pub endpoint: Option<String>,
    /// The Pub/Sub endpoint, overriding `endpoint`.
    pub pubsub_endpoint: Option<String>,
    /// The Cloud Storage endpoint (JSON API base URL), overriding `endpoint`.
    pub storage_endpoint: Option<String>,
    /// Where credentials come from.
    pub credentials: GcpCredentials,
    /// Create missing topics, subscriptions and buckets.
    pub provision: bool,
    /// The service account that signs URLs through IAM `signBlob`
    /// (`providers.gcp.signing_service_account`).
    pub signing_service_account: Option<String>,
    /// The IAM Credentials API base URL `signBlob` goes to; `None` is
    /// Google's (`https://iamcredentials.googleapis.com`). Not in the config:
    /// for private endpoints and tests.
    pub iam_endpoint: Option<String>,
}

impl Default for GcpSettings {
    fn default() -> Self {
        Self {
            project: String::new(),
            endpoint: None,
            pubsub_endpoint: None,
            storage_endpoint: None,
            credentials: GcpCredentials::ApplicationDefault,
            provision: false,
            signing_service_account: None,
            iam_endpoint: None,
        }
    }
}

impl GcpSettings {
    /// Reads `providers.gcp` of the infra config, filling the gaps from the
    /// environment: the project from `GOOGLE_CLOUD_PROJECT` (and its older
    /// names), emulator endpoints from `PUBSUB_EMULATOR_HOST` and
    /// `STORAGE_EMULATOR_HOST`. Without explicit credentials, a plain
    /// `http://` endpoint (an emulator) is used anonymously and anything
    /// else with Application Default Credentials.
    ///
    /// # Errors
    /// `InvalidConfig` naming the field for a missing project, an endpoint
    /// that is not an `http(s)://` URL, or conflicting credentials.
    pub fn from_account(account: &GcpAccount) -> Result<GcpSettings> {
        Self::from_account_and_env(account, |name| std::env::var(name).ok())
    }

    /// [`GcpSettings::from_account`] with the environment given as a
    /// function, for tests.
    pub fn from_account_and_env(
        account: &GcpAccount,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<GcpSettings> {
        account.validate().map_err(|(field, message)| {
            Error::invalid_config(format!("at `providers.gcp.{field}`: {message}"))
        })?;
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let project = account
            .project
            .clone()
            .filter(|p| !p.is_empty())
            .or_else(|| PROJECT_VARIABLES.iter().find_map(|v| env(v)))
            .ok_or_else(|| {
                Error::invalid_config(
                    "no GCP project: set providers.gcp.project in the infra config, \
                     or GOOGLE_CLOUD_PROJECT in the environment",
                )
            })?;
        check_project(&project).map_err(|message| {
            Error::invalid_config(format!("the GCP project from the environment: {message}"))
        })?;
        let trimmed =
            |url: &Option<String>| url.as_ref().map(|u| u.trim_end_matches('/').to_owned());
        let mut settings = GcpSettings {
            project,
            endpoint: account.endpoint.clone(),
            pubsub_endpoint: trimmed(&account.endpoints.pubsub),
            storage_endpoint: trimmed(&account.endpoints.storage),
            provision: account.provision,
            signing_service_account: account.signing_service_account.clone(),
            ..GcpSettings::default()
        };
        if settings.pubsub_endpoint().is_none()
            && let Some(host) = env(PUBSUB_EMULATOR_HOST)
        {
            settings.pubsub_endpoint = Some(with_scheme(&host));
        }
        if settings.storage_endpoint().is_none()
            && let Some(host) = env(STORAGE_EMULATOR_HOST)
        {
            settings.storage_endpoint = Some(with_scheme(&host));
        }
        settings.credentials = match &account.credentials {
            Some(creds) if creds.anonymous => GcpCredentials::Anonymous,
            Some(GcpCredentialsConfig {
                service_account_json: Some(json),
                ..
            }) => GcpCredentials::ServiceAccountJson(json.clone()),
            Some(_) => GcpCredentials::ApplicationDefault,
            None if settings.uses_plain_http() => GcpCredentials::Anonymous,
            None => GcpCredentials::ApplicationDefault,
        };
        Ok(settings)
    }

    /// The endpoint Pub/Sub requests go to, if overridden.
    pub fn pubsub_endpoint(&self) -> Option<&str> {
        self.pubsub_endpoint.as_deref().or(self.endpoint.as_deref())
    }

    /// The endpoint Cloud Storage requests go to, if overridden. Signed URLs
    /// point there too, and so do public URLs unless a bucket is given its
    /// own `public_base_url`.
    ///
    /// A plain `http://` endpoint is an emulator. With a
    /// [`GcpCredentials::ServiceAccountJson`] key, requests to it carry no
    /// token (the emulator ignores it, it would travel in clear, and minting
    /// it would call the key's `token_uri`), while the key still signs URLs
    /// locally: signed URLs can be tested against fake-gcs-server with a
    /// throwaway key.
    pub fn storage_endpoint(&self) -> Option<&str> {
        self.storage_endpoint
            .as_deref()
            .or(self.endpoint.as_deref())
    }

    /// Whether Cloud Storage is an emulator reached over plain HTTP.
    pub(crate) fn storage_uses_plain_http(&self) -> bool {
        self.storage_endpoint()
            .is_some_and(|url| url.starts_with("http://"))
    }

    /// Whether a service is reached over plain HTTP: an emulator, which
    /// takes no credentials (and must not be sent real ones in clear).
    fn uses_plain_http(&self) -> bool {
        [self.pubsub_endpoint(), self.storage_endpoint()]
            .into_iter()
            .flatten()
            .any(|url| url.starts_with("http://"))
    }
}

/// `127.0.0.1:8085` → `http://127.0.0.1:8085`: emulator variables name a
/// host, and emulators speak plain HTTP.
fn with_scheme(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_owned()
    } else {
        format!("http://{host}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::account::GcpEndpoints;
    use strata_core::ErrorCode;

    fn account() -> GcpAccount {
        GcpAccount {
            project: Some("demo".into()),
            ..GcpAccount::default()
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn emulator_endpoints_are_anonymous_and_real_gcp_uses_adc() {
        let mut a = account();
        a.endpoints = GcpEndpoints {
            pubsub: Some("http://127.0.0.1:8085/".into()),
            ..GcpEndpoints::default()
        };
        let s = GcpSettings::from_account_and_env(&a, no_env).unwrap();
        assert_eq!(s.pubsub_endpoint(), Some("http://127.0.0.1:8085"));
        assert_eq!(s.storage_endpoint(), None);
        assert_eq!(s.credentials, GcpCredentials::Anonymous);
        let s = GcpSettings::from_account_and_env(&account(), no_env).unwrap();
        assert_eq!(s.credentials, GcpCredentials::ApplicationDefault);
    }

    #[test]
    fn emulator_variables_fill_in_what_the_config_leaves_out() {
        let env = |name: &str| match name {
            "PUBSUB_EMULATOR_HOST" => Some("127.0.0.1:8085".to_owned()),
            "STORAGE_EMULATOR_HOST" => Some("http://127.0.0.1:4443".to_owned()),
            "GOOGLE_CLOUD_PROJECT" => Some("from-env".to_owned()),
            _ => None,
        };
        let s = GcpSettings::from_account_and_env(&GcpAccount::default(), env).unwrap();
        assert_eq!(s.project, "from-env");
        assert_eq!(s.pubsub_endpoint(), Some("http://127.0.0.1:8085"));
        assert_eq!(s.storage_endpoint(), Some("http://127.0.0.1:4443"));
        assert_eq!(s.credentials, GcpCredentials::Anonymous);
        let mut a = account();
        a.endpoint = Some("http://127.0.0.1:9999".into());
        let s = GcpSettings::from_account_and_env(&a, env).unwrap();
        assert_eq!(
            s.pubsub_endpoint(),
            Some("http://127.0.0.1:9999"),
            "config wins"
        );
    }

    #[test]
    fn missing_project_and_bad_urls_are_invalid_config() {
        let err = GcpSettings::from_account_and_env(&GcpAccount::default(), no_env).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        assert!(err.message().contains("providers.gcp.project"), "{err}");
        let mut a = account();
        a.endpoint = Some("127.0.0.1:8085".into());
        let err = GcpSettings::from_account_and_env(&a, no_env).unwrap_err();
        assert!(err.message().contains("providers.gcp.endpoint"), "{err}");
        let mut a = account();
        a.project = Some("a/b".into());
        let err = GcpSettings::from_account_and_env(&a, no_env).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        assert!(err.message().contains("providers.gcp.project"), "{err}");
    }

    #[test]
    fn credentials_are_redacted_and_conflicts_refused() {
        let mut a = account();
        a.credentials = Some(GcpCredentialsConfig {
            service_account_json: Some("{\"private_key\":\"SECRET\"}".into()),
            ..GcpCredentialsConfig::default()
        });
        let s = GcpSettings::from_account_and_env(&a, no_env).unwrap();
        assert!(!format!("{s:?}").contains("SECRET"));
        assert!(!format!("{a:?}").contains("SECRET"));
        a.credentials = Some(GcpCredentialsConfig {
            service_account_json: Some("{}".into()),
            anonymous: true,
        });
        let err = GcpSettings::from_account_and_env(&a, no_env).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        assert!(err.message().contains("providers.gcp.credentials"), "{err}");
    }

    #[test]
    fn the_signing_service_account_is_carried_and_must_be_an_email() {
        let mut a = account();
        a.signing_service_account = Some("signer@demo.iam.gserviceaccount.com".into());
        let settings = GcpSettings::from_account_and_env(&a, no_env).unwrap();
        assert_eq!(
            settings.signing_service_account.as_deref(),
            Some("signer@demo.iam.gserviceaccount.com")
        );
        assert_eq!(settings.iam_endpoint, None, "Google's unless set in code");
        for bad in ["signer", "a b@c", "projects/-/serviceAccounts/x@y"] {
            a.signing_service_account = Some(bad.into());
            let err = GcpSettings::from_account_and_env(&a, no_env).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidConfig, "{bad}");
            assert!(err.message().contains("signing_service_account"), "{err}");
            assert!(!err.message().contains(bad), "the value is not repeated");
        }
    }
}
