//! The providers of this build: one registration call per provider crate,
//! the clouds behind their cargo features.

use std::sync::LazyLock;

use strata_core::registry::Registry;

/// The registry of this build, made on first use.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
        let mut registry = Registry::new();
        strata_providers::register(&mut registry);
        #[cfg(feature = "aws")]
        strata_aws::register(&mut registry);
        #[cfg(feature = "gcp")]
        strata_gcp::register(&mut registry);
        #[cfg(feature = "azure")]
        strata_azure::register(&mut registry);
        #[cfg(feature = "nats")]
        strata_nats::register(&mut registry);
        let missing = [
            ("aws", cfg!(feature = "aws")),
            ("gcp", cfg!(feature = "gcp")),
            ("azure", cfg!(feature = "azure")),
            ("nats", cfg!(feature = "nats")),
        ];
        let missing: Vec<&'static str> = missing
            .iter()
            .filter(|(_, on)| !on)
            .map(|(feature, _)| *feature)
            .collect();
        registry.note_missing_features(&missing);
        registry
    });
    &REGISTRY
}

/// The provider each block uses with no config file: everything runs in
/// this process and under `.strata/`, with no server.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedDefaults {
    /// Topics.
    pub pubsub: &'static str,
    /// Buckets.
    pub objects: &'static str,
    /// Cache keyspaces.
    pub caches: &'static str,
    /// Databases.
    pub databases: &'static str,
}

/// Memory pub/sub, filesystem buckets, a memory cache and SQLite.
pub const EMBEDDED_DEFAULTS: EmbeddedDefaults = EmbeddedDefaults {
    pubsub: "memory",
    objects: "filesystem",
    caches: "memory",
    databases: "sqlite",
};
