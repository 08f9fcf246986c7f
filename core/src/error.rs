//! One portable error type for every building block and provider.
//!
//! Application code matches on [`ErrorCode`]; the provider's own error is kept as
//! the [`std::error::Error::source`] so nothing is lost for diagnosis.

use std::fmt;

/// The stable, portable classification of a failure.
///
/// The string form ([`ErrorCode::as_str`]) is part of the public API: the Node
/// binding exposes it as `StrataError.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The object, key, row, topic or subscription does not exist.
    NotFound,
    /// Creating something that already exists.
    AlreadyExists,
    /// A precondition (if-match, if-not-exists) did not hold.
    PreconditionFailed,
    /// The caller passed something invalid (bad key, oversized message, bad SQL).
    InvalidArgument,
    /// The service could not be reached or is temporarily failing; retrying may help.
    Unavailable,
    /// Credentials are missing, wrong or lack a permission.
    PermissionDenied,
    /// A quota, size limit or capacity bound was hit.
    ResourceExhausted,
    /// The operation is not supported by this provider (see its capabilities).
    Unsupported,
    /// The operation did not finish in time.
    Timeout,
    /// The resource or runtime has been closed.
    Closed,
    /// The infra config is malformed or names something this build cannot serve.
    InvalidConfig,
    /// A conflict such as a serialization failure or a constraint violation.
    Conflict,
    /// A bug or an unexpected response: report it.
    Internal,
}

impl ErrorCode {
    /// The stable string form, e.g. `"NotFound"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NotFound",
            ErrorCode::AlreadyExists => "AlreadyExists",
            ErrorCode::PreconditionFailed => "PreconditionFailed",
            ErrorCode::InvalidArgument => "InvalidArgument",
            ErrorCode::Unavailable => "Unavailable",
            ErrorCode::PermissionDenied => "PermissionDenied",
            ErrorCode::ResourceExhausted => "ResourceExhausted",
            ErrorCode::Unsupported => "Unsupported",
            ErrorCode::Timeout => "Timeout",
            ErrorCode::Closed => "Closed",
            ErrorCode::InvalidConfig => "InvalidConfig",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::Internal => "Internal",
        }
    }

    /// Whether retrying the same call later may succeed.
    pub const fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::Unavailable | ErrorCode::Timeout)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A Strata error: a portable [`ErrorCode`], a message for humans, and the
/// provider's original error when there is one.
///
/// ```
/// use strata_core::{Error, ErrorCode};
/// let err = Error::not_found("object `a.png` in bucket `uploads`");
/// assert_eq!(err.code(), ErrorCode::NotFound);
/// assert_eq!(err.to_string(), "NotFound: object `a.png` in bucket `uploads`");
/// ```
#[derive(Debug)]
pub struct Error {
    code: ErrorCode,
    message: String,
    source: Option<Source>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            source: None,
        }
    }

    /// Keeps `source` (the provider's own error) behind this one.
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The same error (code and source) with another message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The portable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message, without the code prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// See [`ErrorCode::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    /// See [`ErrorCode::AlreadyExists`].
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::AlreadyExists, message)
    }
    /// See [`ErrorCode::PreconditionFailed`].
    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PreconditionFailed, message)
    }
    /// See [`ErrorCode::InvalidArgument`].
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
    /// See [`ErrorCode::PermissionDenied`].
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }
    /// See [`ErrorCode::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
    /// See [`ErrorCode::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unsupported, message)
    }
    /// See [`ErrorCode::Closed`].
    pub fn closed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Closed, message)
    }
    /// See [`ErrorCode::ResourceExhausted`].
    pub fn resource_exhausted(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceExhausted, message)
    }
    /// See [`ErrorCode::InvalidConfig`].
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidConfig, message)
    }
    /// See [`ErrorCode::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// `err` and its causes on one line, `: `-separated, skipping a cause whose
/// text is already there. Client errors often say only what failed (a URL);
/// their cause says why ("connection refused").
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string().trim().to_owned();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        let cause_text = cause_text.trim();
        if !cause_text.is_empty() && !text.contains(cause_text) {
            text.push_str(": ");
            text.push_str(cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let code = match err.kind() {
            K::NotFound => ErrorCode::NotFound,
            K::AlreadyExists => ErrorCode::AlreadyExists,
            K::PermissionDenied => ErrorCode::PermissionDenied,
            K::InvalidInput | K::InvalidData => ErrorCode::InvalidArgument,
            K::TimedOut => ErrorCode::Timeout,
            K::ConnectionRefused | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
                ErrorCode::Unavailable
            }
            K::StorageFull | K::QuotaExceeded => ErrorCode::ResourceExhausted,
            _ => ErrorCode::Internal,
        };
        Error::new(code, err.to_string()).with_source(err)
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn error_chain_joins_causes_once_on_one_line() {
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused\nby peer");
        let outer = Error::unavailable("POST https://login.example/token").with_source(refused);
        assert_eq!(
            error_chain(&outer),
            "Unavailable: POST https://login.example/token: refused by peer"
        );
        let repeated =
            Error::internal("bad key: refused").with_source(std::io::Error::other("refused"));
        assert_eq!(error_chain(&repeated), "Internal: bad key: refused");
    }
}
