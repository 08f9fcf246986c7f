//! Short-lived database passwords: cloud IAM auth tokens.
//!
//! Managed PostgreSQL on every cloud can accept a token instead of a fixed
//! password: an RDS IAM auth token (a SigV4-presigned URL, valid 15 minutes), an
//! Entra ID access token on Azure, an OAuth2 access token for Cloud SQL IAM
//! database auth. A provider implements [`AuthTokenSource`] to mint one; the
//! database provider keeps a [`CachedToken`] and asks it for the current token
//! whenever it opens a connection. The token is only checked when a connection
//! is opened, so pooled connections outlive it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::Result;

/// A password that stops being accepted at `expires_at`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken {
    secret: String,
    expires_at: SystemTime,
}

impl AuthToken {
    /// A token `secret` valid until `expires_at`.
    pub fn new(secret: impl Into<String>, expires_at: SystemTime) -> Self {
        Self {
            secret: secret.into(),
            expires_at,
        }
    }

    /// The token itself, to send as the password. Never log it.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When the server stops accepting it.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// Shows the expiry, never the secret.
impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthToken")
            .field("secret", &"***")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Mints database auth tokens (RDS IAM, Entra ID, Cloud SQL IAM).
#[async_trait]
pub trait AuthTokenSource: Send + Sync + fmt::Debug {
    /// A fresh token.
    ///
    /// # Errors
    /// `PermissionDenied` when no credentials are available to sign with, or
    /// whatever the identity service answered.
    async fn fetch(&self) -> Result<AuthToken>;

    /// What kind of token this is, for messages (`RDS IAM auth token`).
    fn describe(&self) -> String;
}

/// The last token from a source, fetched again once it is within `margin` of
/// its expiry. Concurrent callers share one fetch.
#[derive(Debug, Clone)]
pub struct CachedToken {
    source: Arc<dyn AuthTokenSource>,
    margin: Duration,
    current: Arc<Mutex<Option<AuthToken>>>,
}

impl CachedToken {
    /// Tokens refreshed five minutes before they expire: a connection opened
    /// with a token always has minutes to spare, even if the clock drifts.
    pub const DEFAULT_MARGIN: Duration = Duration::from_secs(5 * 60);

    /// Caches tokens from `source`, refreshing them `margin` before expiry.
    pub fn new(source: Arc<dyn AuthTokenSource>, margin: Duration) -> Self {
        Self {
            source,
            margin,
            current: Arc::new(Mutex::new(None)),
        }
    }

    /// The source's description.
    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// A token with more than `margin` left, fetched if the cached one has not.
    ///
    /// # Errors
    /// The source's error when a fetch was needed and failed.
    pub async fn get(&self) -> Result<AuthToken> {
        let mut current = self.current.lock().await;
        if let Some(token) = current
            .as_ref()
            .filter(|t| self.is_fresh(t, SystemTime::now()))
        {
            return Ok(token.clone());
        }
        let token = self.source.fetch().await?;
        *current = Some(token.clone());
        Ok(token)
    }

    /// When the cached token (or `token`) should be replaced.
    pub fn refresh_at(&self, token: &AuthToken) -> SystemTime {
        token
            .expires_at
            .checked_sub(self.margin)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    fn is_fresh(&self, token: &AuthToken, now: SystemTime) -> bool {
        now < self.refresh_at(token)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Counts fetches; each token lives `lifetime`.
    #[derive(Debug)]
    struct Counting {
        fetches: AtomicU32,
        lifetime: Duration,
    }

    #[async_trait]
    impl AuthTokenSource for Counting {
        async fn fetch(&self) -> Result<AuthToken> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(AuthToken::new(
                format!("token-{n}"),
                SystemTime::now() + self.lifetime,
            ))
        }

        fn describe(&self) -> String {
            "test token".to_owned()
        }
    }

    fn cached(lifetime: Duration, margin: Duration) -> (Arc<Counting>, CachedToken) {
        let source = Arc::new(Counting {
            fetches: AtomicU32::new(0),
            lifetime,
        });
        let cache = CachedToken::new(source.clone(), margin);
        (source, cache)
    }

    #[tokio::test]
    async fn a_fresh_token_is_reused() {
        let (source, cache) = cached(Duration::from_secs(900), CachedToken::DEFAULT_MARGIN);
        for _ in 0..10 {
            assert_eq!(cache.get().await.unwrap().secret(), "token-1");
        }
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_token_within_the_margin_is_fetched_again() {
        let (source, cache) = cached(Duration::from_millis(300), Duration::from_millis(200));
        assert_eq!(cache.get().await.unwrap().secret(), "token-1");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(cache.get().await.unwrap().secret(), "token-2");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let (source, cache) = cached(Duration::from_secs(900), CachedToken::DEFAULT_MARGIN);
        let calls = (0..32).map(|_| cache.get());
        let tokens = futures::future::join_all(calls).await;
        assert!(
            tokens
                .iter()
                .all(|t| t.as_ref().unwrap().secret() == "token-1")
        );
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let token = AuthToken::new("s3cr3t", SystemTime::UNIX_EPOCH);
        assert!(!format!("{token:?}").contains("s3cr3t"));
    }
}
