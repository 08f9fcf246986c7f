//! SAS token authorization: a per-try policy adding the token's query
//! parameters to each request, so the token never sits in a client's URL
//! (nor in a message quoting one).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::Secret;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};

/// Adds a SAS token to every request.
pub(crate) struct SasTokenPolicy {
    token: Secret,
}

impl fmt::Debug for SasTokenPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SasTokenPolicy(<redacted>)")
    }
}

impl SasTokenPolicy {
    /// `token` without its leading `?`.
    pub(crate) fn new(token: Secret) -> Self {
        Self { token }
    }
}

#[async_trait]
impl Policy for SasTokenPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let url = request.url_mut();
        // A retry sends the same request again: add the token once.
        if !url.query_pairs().any(|(name, _)| name == "sig") {
            let query = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{}", self.token.secret()),
                _ => self.token.secret().to_owned(),
            };
            url.set_query(Some(&query));
        }
        match next.split_first() {
            Some((first, rest)) => first.send(ctx, request, rest).await,
            None => Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                "the SAS policy must not be the last of the pipeline",
            )),
        }
    }
}
