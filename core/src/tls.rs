//! The one TLS crypto backend of the process (feature `tls`).
//!
//! rustls needs a process-wide crypto provider. When a build links two (ring and
//! aws-lc-rs, say, pulled in by different clients), rustls cannot pick one and
//! panics at the first TLS connection. Strata installs ring once, before any
//! provider connects, so every client (Redis, PostgreSQL, cloud SDKs) shares it.
//! It lives in core, behind a feature, because the assembly and every cloud
//! crate call it and those depend on core only; it needs nothing but `rustls`.

/// Installs ring as the process's rustls crypto provider, unless the
/// application already installed one (then that one is kept). Cheap to call
/// again: every opener that is about to make a TLS client calls it.
pub fn install_crypto_provider() {
    // `Err` means a provider is already installed: keeping it is correct.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
