//! The HTTP client a provider sends its own requests with (feature `http`):
//! token endpoints (Google OAuth, Entra ID), where no SDK client does it.
//!
//! One builder, so every such client has the same TLS (rustls over the
//! process-wide ring provider, [`crate::tls`]) and the same timeouts. Cloud
//! SDK clients (AWS's) build their own and are not this.

use std::time::Duration;

use crate::{Error, Result, error_chain};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client with [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`], after
/// installing the process's crypto provider (reqwest's TLS panics without
/// one).
///
/// # Errors
/// `Internal` when the client cannot be built (no TLS backend).
pub fn client() -> Result<reqwest::Client> {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| Error::internal(format!("cannot build an HTTP client: {}", error_chain(&e))))
}
