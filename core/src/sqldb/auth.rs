//! Short-lived database passwords: cloud IAM auth tokens.
//!
//! Managed PostgreSQL on every cloud can accept a token instead of a fixed
//! password: an RDS IAM auth token (a SigV4-presigned URL, valid 15 minutes), an
//! Entra ID access token on Azure, an OAuth2 access token for Cloud SQL IAM
//! database auth. A provider implements [`AuthTokenSource`] to mint one; the
//! database provider keeps a [`CachedToken`] and asks it for the current token
//! whenever it opens a connection. The token is only checked when a connection
//! is opened, so pooled connections outlive it.
//!
//! The cache fetches the next token [`AuthTokenSource::refresh_margin`] before
//! the current one expires (five minutes unless the source says otherwise),
//! and applies one rule to every source: a freshly fetched token with no more
//! than the margin left is refused with `Internal`, since it would be due for
//! refresh the moment it arrived.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::{Error, Result};

/// Who connects where: what a database auth token is signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTarget {
    /// The database user.
    pub user: String,
    /// The server's host name.
    pub host: String,
    /// The server's port.
    pub port: u16,
}

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

    /// How long before a token expires [`CachedToken`] fetches the next one.
    ///
    /// A token is checked only when a connection opens, and a connection
    /// opened with it must have time to spare: clocks drift, and the login
    /// itself takes a moment. The cache refuses a fresh token with no more
    /// than this left, so the margin must be well under the tokens' lifetime.
    /// [`CachedToken::DEFAULT_MARGIN`] (five minutes) unless a source whose
    /// tokens live only minutes overrides it.
    fn refresh_margin(&self) -> Duration {
        CachedToken::DEFAULT_MARGIN
    }
}

/// The last token from a source, fetched again once it is within the margin
/// (the source's [`refresh_margin`](AuthTokenSource::refresh_margin)) of its
/// expiry. Concurrent callers share one fetch.
///
/// ```
/// # use std::sync::Arc;
/// # use std::time::{Duration, SystemTime};
/// # use strata_core::sqldb::{AuthToken, AuthTokenSource, CachedToken};
/// #[derive(Debug)]
/// struct Fixed;
///
/// #[async_trait::async_trait]
/// impl AuthTokenSource for Fixed {
///     async fn fetch(&self) -> strata_core::Result<AuthToken> {
///         Ok(AuthToken::new("s3cr3t", SystemTime::now() + Duration::from_secs(900)))
///     }
///     fn describe(&self) -> String {
///         "fixed token".to_owned()
///     }
/// }
///
/// # async fn demo() -> strata_core::Result<()> {
/// let token = CachedToken::new(Arc::new(Fixed));
/// let password = token.get().await?; // fetched again five minutes before expiry
/// # let _ = password; Ok(()) }
/// ```
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

    /// Caches tokens from `source`, refreshing them the source's
    /// [`refresh_margin`](AuthTokenSource::refresh_margin) before expiry.
    pub fn new(source: Arc<dyn AuthTokenSource>) -> Self {
        Self {
            margin: source.refresh_margin(),
            source,
            current: Arc::new(Mutex::new(None)),
        }
    }

    /// Refreshes tokens `margin` before expiry instead of the source's
    /// [`refresh_margin`](AuthTokenSource::refresh_margin) (tests whose tokens
    /// live seconds). The same rule applies: a fetched token with no more than
    /// `margin` left is refused.
    #[must_use]
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The source's description.
    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// A token with more than the margin left, fetched if the cached one has
    /// not.
    ///
    /// # Errors
    /// The source's error when a fetch was needed and failed; `Internal`,
    /// naming the source, the time left and the margin, when the fetched token
    /// has no more than the margin left (it would be due for refresh at once,
    /// and every connection would fetch again). Never shows the token.
    pub async fn get(&self) -> Result<AuthToken> {
        let mut current = self.current.lock().await;
        if let Some(token) = current
            .as_ref()
            .filter(|t| self.is_fresh(t, SystemTime::now()))
        {
            return Ok(token.clone());
        }
        let token = self.source.fetch().await?;
        let now = SystemTime::now();
        if !self.is_fresh(&token, now) {
            let left = token.expires_at.duration_since(now).unwrap_or_default();
            return Err(Error::internal(format!(
                "{}: a freshly fetched token has {left:.1?} left, no more than the refresh \
                 margin of {:?}; it would be due for refresh at once",
                self.source.describe(),
                self.margin
            )));
        }
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

    impl Counting {
        fn new(lifetime: Duration) -> Arc<Self> {
            Arc::new(Self {
                fetches: AtomicU32::new(0),
                lifetime,
            })
        }
    }

    /// [`Counting`] with its own refresh margin.
    #[derive(Debug)]
    struct OwnMargin {
        tokens: Arc<Counting>,
        margin: Duration,
    }

    #[async_trait]
    impl AuthTokenSource for OwnMargin {
        async fn fetch(&self) -> Result<AuthToken> {
            self.tokens.fetch().await
        }

        fn describe(&self) -> String {
            self.tokens.describe()
        }

        fn refresh_margin(&self) -> Duration {
            self.margin
        }
    }

    fn cached(lifetime: Duration, margin: Duration) -> (Arc<Counting>, CachedToken) {
        let source = Counting::new(lifetime);
        let cache = CachedToken::new(source.clone()).with_margin(margin);
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

    #[tokio::test]
    async fn the_margin_is_the_sources_refresh_margin_five_minutes_by_default() {
        let source = Counting::new(Duration::from_secs(900));
        assert_eq!(source.refresh_margin(), CachedToken::DEFAULT_MARGIN);
        let cache = CachedToken::new(source);
        let token = cache.get().await.unwrap();
        assert_eq!(
            cache.refresh_at(&token),
            token.expires_at() - CachedToken::DEFAULT_MARGIN
        );

        let own = Arc::new(OwnMargin {
            tokens: Counting::new(Duration::from_secs(120)),
            margin: Duration::from_secs(60),
        });
        let cache = CachedToken::new(own);
        let token = cache.get().await.unwrap();
        assert_eq!(
            cache.refresh_at(&token),
            token.expires_at() - Duration::from_secs(60)
        );
    }

    #[tokio::test]
    async fn a_fetched_token_with_no_more_than_the_margin_left_is_internal() {
        // It arrives with a hair under the margin left: due for refresh at once.
        let source = Counting::new(CachedToken::DEFAULT_MARGIN);
        let cache = CachedToken::new(source.clone());
        let err = cache.get().await.unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::Internal, "{err}");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("test token"), "{shown}");
        assert!(shown.contains("300s"), "the margin: {shown}");
        assert!(shown.contains("left"), "{shown}");
        assert!(!shown.contains("token-1"), "the secret leaked: {shown}");
        // Not cached: the next call asks the source again.
        let err = cache.get().await.unwrap_err();
        assert!(!err.message().contains("token-2"), "{err}");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_token_far_under_the_margin_is_refused_for_a_sources_own_margin_too() {
        let own = Arc::new(OwnMargin {
            tokens: Counting::new(Duration::from_secs(30)),
            margin: Duration::from_secs(60),
        });
        let err = CachedToken::new(own).get().await.unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::Internal, "{err}");
        assert!(err.message().contains("60s"), "{err}");
        assert!(!err.message().contains("token-1"), "{err}");
    }

    #[tokio::test]
    async fn a_token_just_over_the_margin_is_accepted() {
        let source = Counting::new(CachedToken::DEFAULT_MARGIN + Duration::from_secs(2));
        let cache = CachedToken::new(source.clone());
        assert_eq!(cache.get().await.unwrap().secret(), "token-1");
        assert_eq!(cache.get().await.unwrap().secret(), "token-1");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let token = AuthToken::new("s3cr3t", SystemTime::UNIX_EPOCH);
        assert!(!format!("{token:?}").contains("s3cr3t"));
    }
}
