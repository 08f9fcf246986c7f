//! Maps `azure_core` errors of Blob Storage onto portable [`ErrorCode`]s,
//! once: the HTTP status and Azure's error code when the service answered,
//! the transport's failure when it did not. Messages name the call, the
//! account and what to fix; never a credential.

use azure_core::error::ErrorKind;
use strata_core::{Error, ErrorCode};

/// The portable code of an answer from Blob Storage.
fn code_of_http(status: u16, service_code: Option<&str>) -> ErrorCode {
    match (status, service_code) {
        // `If-None-Match: *` on an existing blob.
        (409, Some("BlobAlreadyExists")) => ErrorCode::PreconditionFailed,
        (412, _) => ErrorCode::PreconditionFailed,
        (404, _) => ErrorCode::NotFound,
        (401 | 403, _) => ErrorCode::PermissionDenied,
        (409, _) => ErrorCode::Conflict,
        (400 | 411 | 413 | 414 | 416, _) => ErrorCode::InvalidArgument,
        (408 | 504, _) | (500, Some("OperationTimedOut")) => ErrorCode::Timeout,
        (429 | 500..=599, _) => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    }
}

/// Azure's error code of an answer (`BlobNotFound`, …), if the service answered.
pub(crate) fn service_code(err: &azure_core::Error) -> Option<&str> {
    match err.kind() {
        ErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

/// The portable code of `err`, and what the service said (its status and
/// error code) or the transport's failure.
pub(crate) fn classify(err: &azure_core::Error) -> (ErrorCode, String) {
    if let ErrorKind::HttpResponse {
        status, error_code, ..
    } = err.kind()
    {
        let status = u16::from(*status);
        let service = error_code.as_deref();
        let detail = match service {
            Some(code) => format!("HTTP {status} {code}"),
            None => format!("HTTP {status}"),
        };
        return (code_of_http(status, service), detail);
    }
    // No answer: look for the transport's reason down the chain.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(e) = e.downcast_ref::<reqwest::Error>() {
            let code = if e.is_timeout() {
                ErrorCode::Timeout
            } else {
                ErrorCode::Unavailable
            };
            return (code, strata_core::error_chain(e));
        }
        if let Some(e) = e.downcast_ref::<std::io::Error>()
            && e.kind() == std::io::ErrorKind::TimedOut
        {
            return (ErrorCode::Timeout, e.to_string());
        }
        source = e.source();
    }
    let code = match err.kind() {
        ErrorKind::Connection | ErrorKind::Io => ErrorCode::Unavailable,
        ErrorKind::Credential => ErrorCode::PermissionDenied,
        _ => ErrorCode::Internal,
    };
    (code, strata_core::error_chain(err))
}

/// What to do about an error of this class.
fn hint(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::PermissionDenied => {
            " (the account refused the credentials: check providers.azure.credentials (the \
             account key, SAS token or connection string of this account, and the SAS's expiry) \
             or the Entra ID principal's role on it)"
        }
        ErrorCode::Unavailable | ErrorCode::Timeout => {
            " (check providers.azure.endpoint and that the service or Azurite is running; \
             retrying later may help)"
        }
        _ => "",
    }
}

/// Converts an error of a Blob Storage call. `what` names the call and its
/// resource (e.g. "reading `a.txt` in container `uploads`"); `target` says
/// where the request went (the account and endpoint).
pub(crate) fn blob_error(err: azure_core::Error, what: &str, target: &str) -> Error {
    let (code, detail) = classify(&err);
    Error::new(code, format!("{what} ({target}): {detail}{}", hint(code))).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_service_codes_map_to_portable_codes() {
        assert_eq!(
            code_of_http(409, Some("BlobAlreadyExists")),
            ErrorCode::PreconditionFailed
        );
        assert_eq!(
            code_of_http(409, Some("ContainerAlreadyExists")),
            ErrorCode::Conflict
        );
        assert_eq!(
            code_of_http(403, Some("AuthenticationFailed")),
            ErrorCode::PermissionDenied
        );
        assert_eq!(code_of_http(416, None), ErrorCode::InvalidArgument);
        assert_eq!(code_of_http(503, None), ErrorCode::Unavailable);
        assert_eq!(
            code_of_http(500, Some("OperationTimedOut")),
            ErrorCode::Timeout
        );
    }
}
