//! Maps Google client errors onto portable [`ErrorCode`]s, once: gRPC status
//! codes (Pub/Sub) and HTTP status codes (Cloud Storage's JSON API), keeping
//! the client's error as the source and saying what to fix.

use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::Code;
use google_cloud_pubsub::error::PublishError;
use strata_core::{Error, ErrorCode};

/// The portable code of a gRPC status code.
pub(crate) fn code_of_rpc(code: Code) -> ErrorCode {
    match code {
        Code::NotFound => ErrorCode::NotFound,
        Code::AlreadyExists => ErrorCode::AlreadyExists,
        Code::FailedPrecondition => ErrorCode::PreconditionFailed,
        Code::InvalidArgument | Code::OutOfRange => ErrorCode::InvalidArgument,
        Code::PermissionDenied | Code::Unauthenticated => ErrorCode::PermissionDenied,
        Code::ResourceExhausted => ErrorCode::ResourceExhausted,
        Code::Unavailable | Code::Aborted | Code::Cancelled => ErrorCode::Unavailable,
        Code::DeadlineExceeded => ErrorCode::Timeout,
        Code::Unimplemented => ErrorCode::Unsupported,
        _ => ErrorCode::Internal,
    }
}

/// The portable code of an HTTP status code.
pub(crate) fn code_of_http(status: u16) -> ErrorCode {
    match status {
        404 => ErrorCode::NotFound,
        401 | 403 => ErrorCode::PermissionDenied,
        409 => ErrorCode::Conflict,
        412 => ErrorCode::PreconditionFailed,
        400 | 411 | 413 | 416 => ErrorCode::InvalidArgument,
        408 | 504 => ErrorCode::Timeout,
        429 => ErrorCode::ResourceExhausted,
        500..=599 => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    }
}

/// What to do about an error of this class.
fn hint(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::PermissionDenied => {
            " (check providers.gcp.credentials or Application Default Credentials, the \
             project, and the IAM roles of the account)"
        }
        ErrorCode::Unavailable | ErrorCode::Timeout => {
            " (check providers.gcp.endpoint and that the service or emulator is running; \
             retrying later may help)"
        }
        _ => "",
    }
}

/// Converts an error of the official Google clients (Pub/Sub). `what` names
/// the call and its resource (e.g. "creating Pub/Sub topic `orders`");
/// `target` says where the request went.
pub(crate) fn gax_error(err: GaxError, what: &str, target: &str) -> Error {
    let (code, detail) = classify_gax(&err);
    Error::new(code, format!("{what} ({target}): {detail}{}", hint(code))).with_source(err)
}

/// Converts a publish failure of the crate's `Publisher`.
pub(crate) fn publish_error(err: PublishError, what: &str, target: &str) -> Error {
    let (code, detail) = match &err {
        PublishError::Rpc(rpc) => classify_gax(rpc),
        PublishError::OrderingKeyPaused => (
            ErrorCode::Unavailable,
            "an earlier publish with this ordering key failed; publishing on the key resumes \
             with the next batch"
                .to_owned(),
        ),
        PublishError::Shutdown => (ErrorCode::Closed, "the publisher has shut down".to_owned()),
        _ => (ErrorCode::Internal, err.to_string()),
    };
    Error::new(code, format!("{what} ({target}): {detail}{}", hint(code))).with_source(err)
}

/// The portable code of a client error, and the server's words for it.
fn classify_gax(err: &GaxError) -> (ErrorCode, String) {
    let code = if let Some(status) = err.status() {
        code_of_rpc(status.code)
    } else if let Some(status) = err.http_status_code() {
        code_of_http(status)
    } else if err.is_timeout() {
        ErrorCode::Timeout
    } else if err.is_authentication() {
        ErrorCode::PermissionDenied
    } else if err.is_connect() || err.is_io() || err.is_transport() || err.is_exhausted() {
        ErrorCode::Unavailable
    } else if err.is_binding() || err.is_serialization() {
        ErrorCode::InvalidArgument
    } else {
        ErrorCode::Internal
    };
    let detail = match err.status() {
        Some(status) if !status.message.is_empty() => status.message.clone(),
        _ => err.to_string(),
    };
    (code, detail)
}

/// Converts an error of the Cloud Storage JSON client.
pub(crate) fn storage_error(err: gcloud_storage::http::Error, what: &str, target: &str) -> Error {
    use gcloud_storage::http::Error as E;
    let (code, detail) = match &err {
        E::Response(response) => (code_of_http(response.code), response.message.clone()),
        E::HttpClient(http) | E::RawResponse(http, _) => {
            let code = match http.status() {
                Some(status) => code_of_http(status.as_u16()),
                None if http.is_timeout() => ErrorCode::Timeout,
                None if http.is_connect() || http.is_request() => ErrorCode::Unavailable,
                None => ErrorCode::Internal,
            };
            (code, err.to_string())
        }
        E::TokenSource(_) => (ErrorCode::PermissionDenied, err.to_string()),
        E::InvalidRangeHeader(_) => (ErrorCode::Internal, err.to_string()),
        E::HttpMiddleware(_) => (ErrorCode::Unavailable, err.to_string()),
    };
    Error::new(code, format!("{what} ({target}): {detail}{}", hint(code))).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_and_http_codes_map_to_portable_codes() {
        assert_eq!(code_of_rpc(Code::NotFound), ErrorCode::NotFound);
        assert_eq!(code_of_rpc(Code::AlreadyExists), ErrorCode::AlreadyExists);
        assert_eq!(
            code_of_rpc(Code::Unauthenticated),
            ErrorCode::PermissionDenied
        );
        assert_eq!(code_of_rpc(Code::Unavailable), ErrorCode::Unavailable);
        assert_eq!(
            code_of_rpc(Code::InvalidArgument),
            ErrorCode::InvalidArgument
        );
        assert_eq!(code_of_http(412), ErrorCode::PreconditionFailed);
        assert_eq!(code_of_http(404), ErrorCode::NotFound);
        assert_eq!(code_of_http(503), ErrorCode::Unavailable);
        assert_eq!(code_of_http(418), ErrorCode::Internal);
    }

    #[test]
    fn service_errors_keep_the_server_message_and_say_where() {
        let status = google_cloud_gax::error::rpc::Status::default()
            .set_code(Code::NotFound)
            .set_message("Resource not found");
        let err = gax_error(
            GaxError::service(status),
            "reading topic `t`",
            "Pub/Sub at x",
        );
        assert_eq!(err.code(), ErrorCode::NotFound);
        assert!(err.message().contains("Resource not found"), "{err}");
        assert!(err.message().contains("Pub/Sub at x"), "{err}");
    }
}
