//! Which providers a build has, so config errors can list them.

/// The provider names compiled into this build, per building block.
///
/// `strata-providers` builds this from its cargo features; core only knows the
/// names, never the clouds behind them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderCatalog {
    /// Pub/sub providers.
    pub pubsub: &'static [&'static str],
    /// Object store providers.
    pub objects: &'static [&'static str],
    /// Cache providers.
    pub caches: &'static [&'static str],
    /// Database providers.
    pub databases: &'static [&'static str],
}

impl ProviderCatalog {
    /// Every pub/sub provider Strata knows, compiled in or not.
    pub const ALL_PUBSUB: &'static [&'static str] = &["memory", "aws", "gcp", "azure"];
    /// Every object store provider Strata knows.
    pub const ALL_OBJECTS: &'static [&'static str] =
        &["memory", "filesystem", "aws", "gcp", "azure"];
    /// Every cache provider Strata knows.
    pub const ALL_CACHES: &'static [&'static str] = &["memory", "redis"];
    /// Every database provider Strata knows.
    pub const ALL_DATABASES: &'static [&'static str] = &["sqlite", "postgres"];

    /// A catalog that accepts every known provider (schema tooling, tests).
    pub const EVERYTHING: ProviderCatalog = ProviderCatalog {
        pubsub: Self::ALL_PUBSUB,
        objects: Self::ALL_OBJECTS,
        caches: Self::ALL_CACHES,
        databases: Self::ALL_DATABASES,
    };

    /// The cargo feature of `strata-providers` that compiles `provider` in, if it
    /// is behind one.
    pub fn feature_of(provider: &str) -> Option<&'static str> {
        match provider {
            "aws" => Some("aws"),
            "gcp" => Some("gcp"),
            "azure" => Some("azure"),
            _ => None,
        }
    }
}
