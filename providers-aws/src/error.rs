//! Maps AWS SDK errors onto portable [`ErrorCode`]s, keeping the SDK error as
//! the source and saying what to fix.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use strata_core::{Error, ErrorCode};

/// Converts an SDK error. `what` names the call and its resource
/// (e.g. "SQS ReceiveMessage on queue `orders-email`"); `target` says where
/// the request went (e.g. "SQS at http://127.0.0.1:4566").
pub(crate) fn sdk_error<E>(err: SdkError<E, HttpResponse>, what: &str, target: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, message) = match &err {
        SdkError::DispatchFailure(failure) if failure.is_timeout() => (
            ErrorCode::Timeout,
            format!("{what}: connecting to {target} timed out; check the endpoint and the network"),
        ),
        SdkError::DispatchFailure(_) => (
            ErrorCode::Unavailable,
            format!(
                "{what}: could not reach {target} ({}); check providers.aws.endpoint / region \
                 and that the service is running",
                DisplayErrorContext(&err)
            ),
        ),
        SdkError::TimeoutError(_) => (
            ErrorCode::Timeout,
            format!("{what}: {target} did not answer in time"),
        ),
        SdkError::ResponseError(_) => (
            ErrorCode::Unavailable,
            format!(
                "{what}: unreadable response from {target}: {}",
                DisplayErrorContext(&err)
            ),
        ),
        SdkError::ConstructionFailure(_) => (
            ErrorCode::InvalidArgument,
            format!(
                "{what}: the request could not be built: {}",
                DisplayErrorContext(&err)
            ),
        ),
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let service = context.err();
            let code = classify(service.code(), status);
            let detail = match (service.code(), service.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                (None, Some(m)) => m.to_owned(),
                (None, None) => format!("HTTP {status}"),
            };
            (code, format!("{what}: {detail}{}", hint(code)))
        }
        _ => (
            ErrorCode::Internal,
            format!("{what}: {}", DisplayErrorContext(&err)),
        ),
    };
    Error::new(code, message).with_source(err)
}

/// The portable code of an AWS error code, falling back on the HTTP status.
pub(crate) fn classify(code: Option<&str>, status: u16) -> ErrorCode {
    let by_code = code.and_then(|code| {
        // SQS's query protocol prefixes some codes.
        let code = code.strip_prefix("AWS.SimpleQueueService.").unwrap_or(code);
        Some(match code {
            "NoSuchKey"
            | "NoSuchBucket"
            | "NoSuchUpload"
            | "NotFound"
            | "NotFoundException"
            | "NonExistentQueue"
            | "QueueDoesNotExist"
            | "ResourceNotFoundException" => ErrorCode::NotFound,
            "PreconditionFailed" | "ConditionalRequestConflict" => ErrorCode::PreconditionFailed,
            "AccessDenied"
            | "AccessDeniedException"
            | "AuthorizationError"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "UnrecognizedClientException"
            | "InvalidSecurity"
            | "MissingAuthenticationToken"
            | "AllAccessDisabled" => ErrorCode::PermissionDenied,
            "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "SlowDown"
            | "RequestThrottled"
            | "RequestLimitExceeded"
            | "ServiceUnavailable"
            | "InternalError"
            | "InternalFailure"
            | "InternalErrorException"
            | "KMSThrottlingException" => ErrorCode::Unavailable,
            "BucketAlreadyOwnedByYou"
            | "BucketAlreadyExists"
            | "QueueAlreadyExists"
            | "QueueNameExists" => ErrorCode::AlreadyExists,
            "MessageNotInflight" => ErrorCode::NotFound,
            "EntityTooLarge"
            | "MessageTooLong"
            | "BatchRequestTooLong"
            | "InvalidRange"
            | "InvalidParameterValue"
            | "InvalidParameter"
            | "InvalidParameterException"
            | "InvalidArgument"
            | "InvalidAttributeName"
            | "InvalidAttributeValue"
            | "InvalidMessageContents"
            | "ReceiptHandleIsInvalid"
            | "InvalidBatchEntryId"
            | "MalformedXML"
            | "InvalidRequest"
            | "ValidationError"
            | "KeyTooLongError"
            | "InvalidBucketName" => ErrorCode::InvalidArgument,
            "TooManyEntriesInBatchRequest" | "EmptyBatchRequest" | "BatchEntryIdsNotDistinct" => {
                ErrorCode::Internal
            }
            _ => return None,
        })
    });
    by_code.unwrap_or(match status {
        404 => ErrorCode::NotFound,
        401 | 403 => ErrorCode::PermissionDenied,
        409 => ErrorCode::Conflict,
        412 => ErrorCode::PreconditionFailed,
        416 | 400 | 413 => ErrorCode::InvalidArgument,
        429 | 500..=599 => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    })
}

/// What to do about an error of this class.
fn hint(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::PermissionDenied => {
            " (check providers.aws.credentials or the standard AWS credential chain, \
             the region, and the IAM policy)"
        }
        ErrorCode::Unavailable => " (AWS is throttling or failing; retry later)",
        _ => "",
    }
}

/// An error with the same code and message as `err`, for answering several
/// publishes that failed together (Error is not `Clone`).
pub(crate) fn copy_error(err: &Error) -> Error {
    Error::new(err.code(), err.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_win_over_status_and_status_fills_the_gaps() {
        assert_eq!(classify(Some("NoSuchKey"), 404), ErrorCode::NotFound);
        assert_eq!(
            classify(Some("AWS.SimpleQueueService.NonExistentQueue"), 400),
            ErrorCode::NotFound
        );
        assert_eq!(
            classify(Some("ConditionalRequestConflict"), 409),
            ErrorCode::PreconditionFailed
        );
        assert_eq!(classify(Some("SlowDown"), 503), ErrorCode::Unavailable);
        assert_eq!(
            classify(Some("InvalidClientTokenId"), 403),
            ErrorCode::PermissionDenied
        );
        assert_eq!(classify(None, 404), ErrorCode::NotFound);
        assert_eq!(classify(None, 412), ErrorCode::PreconditionFailed);
        assert_eq!(classify(Some("Whatever"), 503), ErrorCode::Unavailable);
        assert_eq!(classify(None, 418), ErrorCode::Internal);
    }
}
