//! The one TLS crypto backend of the process.
//!
//! rustls needs a process-wide crypto provider. When a build links two (ring and
//! aws-lc-rs, say, pulled in by different clients), rustls cannot pick one and
//! panics at the first TLS connection. Strata installs ring once, before any
//! provider connects, so every client (Redis, PostgreSQL, cloud SDKs) shares it.

/// Installs ring as the process's rustls crypto provider, unless the
/// application already installed one (then that one is kept).
pub fn install_crypto_provider() {
    // `Err` means a provider is already installed: keeping it is correct.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
