//! The typed infra config: logical names mapped to providers and physical resources.
//!
//! The JSON Schema in `schema/infra.config.schema.json` is generated from these
//! types (see [`super::json_schema`]); a test fails when the two drift apart.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole infra config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Strata infra config")]
pub struct InfraConfig {
    /// Editors use this to find the schema; Strata ignores it.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Account-level settings per cloud, shared by every resource on that cloud.
    #[serde(default)]
    pub providers: ProviderSettings,
    /// Topics by logical name.
    #[serde(default)]
    pub pubsub: BTreeMap<String, TopicConfig>,
    /// Buckets by logical name.
    #[serde(default)]
    pub objects: BTreeMap<String, BucketConfig>,
    /// Cache keyspaces by logical name.
    #[serde(default)]
    pub caches: BTreeMap<String, CacheConfig>,
    /// SQL databases by logical name.
    #[serde(default)]
    pub databases: BTreeMap<String, DatabaseConfig>,
}

/// Account-level settings of each cloud. Only the clouds a config uses need one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Amazon Web Services (SNS+SQS, S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<CloudSettings>,
    /// Google Cloud (Pub/Sub, Cloud Storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<CloudSettings>,
    /// Microsoft Azure (Service Bus, Blob Storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<CloudSettings>,
}

/// How to reach one cloud account (or its local emulator).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudSettings {
    /// AWS region, e.g. `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// GCP project id, owner of topics, subscriptions and new buckets
    /// (default: `GOOGLE_CLOUD_PROJECT` from the environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Azure storage account or Service Bus namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Override the service endpoint, e.g. `http://127.0.0.1:4566` for an emulator.
    /// On `gcp`, a plain `http://` endpoint is taken for an emulator and used
    /// without credentials unless `credentials` says otherwise;
    /// `PUBSUB_EMULATOR_HOST` and `STORAGE_EMULATOR_HOST` are read too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Per-service endpoint overrides (`s3`, `sqs`, `pubsub`, `storage`, `blob`,
    /// `servicebus`), for emulators that serve one service each.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, String>,
    /// Explicit credentials; without them the cloud's standard chain is used
    /// (on `gcp`: Application Default Credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// Create missing topics, subscriptions, queues and buckets at startup.
    #[serde(default)]
    pub provision: bool,
}

/// Explicit credentials. Put secrets in the environment: `{"$env": "NAME"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// AWS access key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// AWS secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// AWS session token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// GCP service-account key: the JSON document itself, usually
    /// `{"$env": "NAME"}`. Also what signs V4 signed URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_json: Option<String>,
    /// Azure storage account key or Service Bus shared access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_key: Option<String>,
    /// Azure connection string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<String>,
    /// Use no credentials (emulators that accept anonymous requests).
    #[serde(default)]
    pub anonymous: bool,
}

/// Which provider serves a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PubSubProviderKind {
    /// In-process (embedded default).
    Memory,
    /// SNS topic, one SQS queue per subscription.
    Aws,
    /// Cloud Pub/Sub.
    Gcp,
    /// Service Bus topic and subscriptions.
    Azure,
}

/// A topic and its subscriptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// The provider.
    pub provider: PubSubProviderKind,
    /// Physical topic name; defaults to the logical name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Deliver messages with the same ordering key in order (SQS FIFO, Pub/Sub
    /// message ordering, Service Bus sessions).
    #[serde(default)]
    pub ordering: bool,
    /// Subscriptions by logical name.
    #[serde(default)]
    pub subscriptions: BTreeMap<String, SubscriptionConfig>,
}

/// A subscription: every subscription of a topic receives every message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    /// Physical subscription (or queue) name; defaults to `<topic>-<subscription>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Handlers running at once (default 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_concurrency: Option<u32>,
    /// First retry delay in milliseconds (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_backoff_ms: Option<u64>,
    /// Longest retry delay in milliseconds (default 60000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff_ms: Option<u64>,
    /// Deliveries before a message is dead-lettered; needs `dead_letter_topic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_attempts: Option<u32>,
    /// Logical name of the topic that receives dead-lettered messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
    /// How long a delivery is leased before redelivery, in seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub lease_seconds: Option<u32>,
    /// Longest a handler may run before it counts as failed, in seconds (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub handler_timeout_seconds: Option<u32>,
}

/// Which provider serves a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ObjectsProviderKind {
    /// In-process.
    Memory,
    /// A folder on the local disk (embedded default).
    Filesystem,
    /// S3.
    Aws,
    /// Cloud Storage.
    Gcp,
    /// Blob Storage.
    Azure,
}

/// A bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    /// The provider.
    pub provider: ObjectsProviderKind,
    /// Physical bucket (or container) name; defaults to the logical name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `filesystem` only: the folder holding the bucket (default `.strata/objects/<name>`),
    /// relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Base of public URLs, e.g. a CDN in front of the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_base_url: Option<String>,
}

/// Which provider serves a cache keyspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheProviderKind {
    /// In-process, bounded (embedded default).
    Memory,
    /// Redis: self-hosted, ElastiCache, Memorystore, Azure Cache for Redis.
    Redis,
}

/// A cache keyspace.
///
/// `Debug` hides the password and any credentials in the URL.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// The provider.
    pub provider: CacheProviderKind,
    /// Prefix of every key; defaults to `<logical name>:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// TTL of writes that give none, in milliseconds; none means keys persist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub default_ttl_ms: Option<u64>,
    /// `memory` only: most entries kept before eviction (default 100000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_entries: Option<u64>,
    /// `redis` only: `redis://` or `rediss://` (TLS) URL,
    /// `redis[s]://[user[:password]@]host[:port][/db]`. Keep credentials out of
    /// it with `username`/`password` or write the whole URL as `{"$env": "NAME"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `redis` only: ACL user name (Redis 6+); overrides a user in the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `redis` only: the ACL user's password, or without `username` the
    /// server's auth string (`requirepass`); overrides one in the URL. Use
    /// `{"$env": "NAME"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// `redis` only: database index; overrides the URL's path (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<u32>,
    /// `redis` with `rediss://` only: PEM file of the CA certificates to trust
    /// instead of the system's (e.g. Memorystore's server CA), relative to the
    /// config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<String>,
    /// `redis` only: how long one connection attempt may take, in milliseconds
    /// (default 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub connect_timeout_ms: Option<u64>,
    /// `redis` only: how long a command may wait for its reply, in milliseconds
    /// (default 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub response_timeout_ms: Option<u64>,
}

impl std::fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Configs get logged; a password must never reach a log line.
        let url = self.url.as_deref().map(redact_url_credentials);
        f.debug_struct("CacheConfig")
            .field("provider", &self.provider)
            .field("prefix", &self.prefix)
            .field("default_ttl_ms", &self.default_ttl_ms)
            .field("max_entries", &self.max_entries)
            .field("url", &url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .finish()
    }
}

/// `scheme://user:secret@host/…` → `scheme://<redacted>@host/…`.
fn redact_url_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<redacted>@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Which provider serves a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseProviderKind {
    /// An SQLite file (embedded default).
    Sqlite,
    /// PostgreSQL: self-hosted, RDS, Cloud SQL, Azure Database.
    Postgres,
}

/// A SQL database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The provider.
    pub provider: DatabaseProviderKind,
    /// `sqlite` only: the database file (default `.strata/<name>.db`), relative to
    /// the config file; `:memory:` keeps it in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `postgres` only: `postgres://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `postgres` only, instead of `url`: Strata runs a private PostgreSQL
    /// server for this database under `.strata/postgres/<name>/` (with the
    /// `initdb` / `pg_ctl` found on this machine) and stops it on close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
    /// Folder of `.sql` migrations applied at startup, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrations: Option<String>,
    /// Pool size (default 5 for SQLite, 10 for PostgreSQL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_connections: Option<u32>,
    /// `postgres` only: how long a call waits for a pooled connection before
    /// failing with `Unavailable`, in milliseconds (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub acquire_timeout_ms: Option<u64>,
    /// `postgres` only: how long startup waits for the first connection, in
    /// milliseconds (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub connect_timeout_ms: Option<u64>,
    /// `postgres` only: the server cancels a statement running longer, in
    /// milliseconds (default: the server's `statement_timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub statement_timeout_ms: Option<u64>,
    /// `postgres` only: TLS mode, as libpq's `sslmode` (default: the URL's
    /// `sslmode`, else `prefer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]))]
    pub ssl_mode: Option<String>,
    /// `postgres` only: PEM file of the CA certificates that sign the
    /// server's certificate (for `verify-ca` / `verify-full`), relative to the
    /// config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_root_cert: Option<String>,
    /// `postgres` only: how Strata proves who it is (default `password`: the
    /// one in the `url`, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<DatabaseAuth>,
    /// `postgres` with `"local": true` only: what to use where PostgreSQL's
    /// server binaries are missing (default: nothing, startup fails saying so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<DatabaseFallback>,
}

/// How a PostgreSQL database authenticates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseAuth {
    /// The password in the `url` (or none, for trust or certificate auth).
    #[default]
    Password,
    /// RDS / Aurora IAM database authentication: a token signed with the
    /// credentials of `providers.aws` (or the default AWS chain), valid 15
    /// minutes and refreshed before it expires. The `url` names the user, host
    /// and port, without a password. Needs the `aws` build feature.
    AwsIam,
    /// Cloud SQL IAM database authentication: an OAuth 2.0 access token
    /// (scope `sqlservice.login`) from the credentials of `providers.gcp`
    /// (a service-account key, or Application Default Credentials), valid an
    /// hour and refreshed before it expires. The `url` names the IAM user
    /// (for a service account, its email without `.gserviceaccount.com`),
    /// host and port, without a password. Needs the `gcp` build feature.
    GcpIam,
    /// Azure Database for PostgreSQL Entra ID authentication: an access token
    /// (scope `ossrdbms-aad`) for the service principal of `AZURE_TENANT_ID`,
    /// `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET`, or else the managed
    /// identity, valid an hour or more and refreshed before it expires. The
    /// `url` names the Entra principal's database user, host and port,
    /// without a password. Needs the `azure` build feature.
    AzureEntra,
}

/// What a local PostgreSQL database falls back to without PostgreSQL's binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseFallback {
    /// An SQLite file at `.strata/<name>.db` next to the config file (SQL that
    /// only PostgreSQL understands will then fail).
    Sqlite,
}
